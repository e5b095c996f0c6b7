#!/usr/bin/env bash
# Runs `swift test` N times in a row (default 10) and stops at the first failure: the check that the suite is not
# flaky. Around every run it also checks that the tests left the host as they found it: the host's sysctls (every
# `net.*` and `kernel.*` setting that is not a live counter) and its network namespaces must be the same after the run
# as before it.
#
#   bash Scripts/repeat-tests.sh [N=10]
#
# Prints one line per run (status, seconds, tests passed) and exits 1 at the first red run or changed setting, with
# the log kept in the temporary folder it names.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
runs=${1:-10}
case "$runs" in ''|*[!0-9]*|0) echo "N must be a whole number of at least 1" >&2; exit 1 ;; esac
work=$(mktemp -d /tmp/copyprof-repeat.XXXXXX)

# Settings, not counters: values that change by themselves (entropy, inode and dentry counts, conntrack counts, the
# kernel's random UUIDs, timer-driven statistics) are left out.
snapshot() {
  sysctl -a 2>/dev/null | grep -E '^(net|kernel)\.' |
    grep -vE '^kernel\.(random\.|ns_last_pid|pty\.nr|sched_domain|perf_event_max_sample_rate|tainted|hung_task)|^net\.netfilter\.nf_conntrack_count|^net\.ipv4\.tcp_fastopen_key|^net\.core\.netdev_rss_key' |
    sort
  echo "netns: $(ip netns list 2>/dev/null | awk '{print $1}' | sort | tr '\n' ' ')"
}

swift build --build-tests >/dev/null 2>&1 || { echo "repeat-tests: swift build --build-tests failed"; exit 1; }
for run in $(seq 1 "$runs"); do
  snapshot > "$work/before"
  start=$(date +%s)
  swift test > "$work/run-$run.log" 2>&1
  status=$?
  seconds=$(( $(date +%s) - start ))
  snapshot > "$work/after"
  passed=$(grep -oE 'Test run with [0-9]+ tests?( in [0-9]+ suites?)? passed' "$work/run-$run.log" | tail -1)
  if [ $status -ne 0 ]; then
    echo "run $run of $runs: FAILED after ${seconds} s (log: $work/run-$run.log)"
    grep -E '✘|error:' "$work/run-$run.log" | head -20
    exit 1
  fi
  if ! diff -u "$work/before" "$work/after" > "$work/diff-$run"; then
    echo "run $run of $runs: green, but the host changed (diff: $work/diff-$run):"
    head -20 "$work/diff-$run"
    exit 1
  fi
  echo "run $run of $runs: green in ${seconds} s (${passed:-passed}); sysctls and namespaces unchanged"
done
rm -rf "$work"
echo "repeat-tests: $runs runs in a row green"

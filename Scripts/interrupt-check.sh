#!/usr/bin/env bash
# Ctrl-C at many moments of a sweep: sends SIGINT to `copyprof run` at N random times (0.05–1.2 s after its start)
# and counts the runs that have not exited 5 s later (hung; then killed). Short trials make the control workload,
# which opens every round, a large share of the run, so the interrupt often lands in it.
#
#   bash Scripts/interrupt-check.sh [N=40]            (about 1 minute)
#   BINARY=path/to/copyprof bash Scripts/interrupt-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
runs=${1:-40}
case "$runs" in ''|*[!0-9]*|0) echo "N must be a whole number of at least 1" >&2; exit 1 ;; esac
if [ -n "${BINARY:-}" ]; then bin=$BINARY; else swift build -c release --product copyprof >&2 || exit 1; bin=.build/release/copyprof; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
hung=0
for i in $(seq 1 "$runs"); do
  delay=$(python3 -c "import random; print(round(random.uniform(0.05, 1.2), 3))")
  "$bin" run --transports two-copy --sizes 512 --connections 1 --workloads stream --trials 50 --warmup 0 --duration 0.02 \
    --output "$work/run-$i.json" --no-report >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -INT "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    hung=$((hung + 1))
    echo "run $i: still running 5 s after SIGINT at ${delay} s (killed)"
    kill -9 "$pid"
  fi
  wait "$pid" 2>/dev/null
done
echo "interrupt-check: $runs interrupts, $hung hung"
[ "$hung" -eq 0 ]

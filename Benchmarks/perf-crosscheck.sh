#!/usr/bin/env bash
# copyprof's per-thread counts against perf's, over the same timed loops (issue 21 item 8).
#
# perf record counts the events copyprof counts (`copyprof counters --perf-events`: the same groups, in perf's
# syntax) in every thread of the copyprof process — inherited by each worker thread, its own total written when the
# thread exits (`-s`: inherit_stat, PERF_RECORD_READ) — with a period so long that it takes no sample. It starts
# disabled (-D -1), and `copyprof run --perf-control` enables it just before every trial's workers are released and
# disables it once their loops ended. copyprof counts the same events in each worker of its counted trials and
# records the thread's id (WorkerRecord.tid), so both are compared thread by thread: every counted worker, every
# event both can count (here task-clock, context switches and page faults; on a PMU host also cycles and
# instructions), the difference in percent, and per event the largest and the median difference.
#
# perf counts a thread from the `enable` to the thread's end; copyprof from its counters' start to their read. With
# --perf-control the two nearly meet: the workers sleep at the start barrier (no spinning while perf counts), and each
# worker's thread ends right after its counters are read, its wrap-up (a receiver's drain, zero-copy's completions)
# handed to a thread of its own. What remains is the wake-up from the barrier, the counters' own start and read, the
# thread's exit, and kernel work that lands on the thread in between (softirqs). The issue's bound is 2%.
#
# Sampling is off by default here: with it on (--sample on), the sampler's ring is drained after the counters are
# read, and the arrays it fills are first touched then — page faults perf counts and copyprof does not.
#
#   bash Benchmarks/perf-crosscheck.sh                 # 2 transports × 2 sizes × 1, 2 connections × 2 workloads
#   bash Benchmarks/perf-crosscheck.sh --duration 0.5  # more options for copyprof run
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
if ! command -v perf >/dev/null; then
  echo "perf is not installed: apt-get install linux-perf" >&2
  exit 2
fi
swift build -c release --product copyprof >&2
copyprof="$PWD/.build/release/copyprof"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkfifo "$work/ctl" "$work/ack"

wanted=task-clock,context-switches,page-faults,cycles,instructions
groups=$("$copyprof" counters --events "$wanted" --perf-events 2>/dev/null | paste -sd, -)
events=$(echo "$groups" | tr -d '{}' | sed 's/:[uH]*//g; s#[a-z_]*/\([a-z-]*\)/[uH]*#\1#g' | tr , '\n' | awk '!seen[$0]++' | paste -sd, -)
echo "perf record -e '$groups' (copyprof counters --perf-events), copyprof run --events $events"

perf record -q -s -m 8M -c 1000000000000 -e "$groups" -D -1 --control "fifo:$work/ctl,$work/ack" -o "$work/perf.data" -- \
  "$copyprof" run --events "$events" --perf-control "$work/ctl,$work/ack" --transports two-copy,zero-copy \
  --sizes 4096,65536 --connections 1,2 --workloads stream,pingpong --trials 3 --warmup 0 --duration 0.2 \
  --sample off --no-report --output "$work/profile.json" "$@" > "$work/run.txt" 2> "$work/run.err" || {
  cat "$work/run.err" >&2
  exit 1
}
perf script -D -i "$work/perf.data" 2>/dev/null | grep 'PERF_RECORD_READ' > "$work/reads.txt" || true
# A thread whose counts perf lost cannot be compared: say how many records perf lost, if any.
perf report -i "$work/perf.data" --stats 2>/dev/null | awk '/LOST/ && $3 > 0 {print "perf lost records:", $0}'

python3 - "$work/profile.json" "$work/reads.txt" <<'EOF'
import collections, json, statistics, sys

profile = json.load(open(sys.argv[1]))
# "TIME 0xOFFSET [0xSIZE]: PERF_RECORD_READ: PID TID EVENT VALUE", one per event and CPU the inherited event ran on.
perf = collections.defaultdict(int)
for line in open(sys.argv[2]):
    fields = line.split("PERF_RECORD_READ:")[1].split()
    tid, event, value = int(fields[1]), fields[2], int(fields[3])
    name = event.split("/")[1] if "/" in event else event.split(":")[0]
    perf[(tid, name)] += value

def copyprof_value(counter):
    raw, enabled, running = counter["raw"], counter["timeEnabled"], counter["timeRunning"]
    return raw * enabled / running if 0 < running < enabled else raw

rows = []
missing = 0
differences = collections.defaultdict(list)
for cell in profile["cells"]:
    key = cell["key"]
    what = f'{key["transport"]} {key["mode"]} {key["messageSize"]} B x{key["threads"]}'
    for trial in cell["trials"]:
        if trial.get("kind") != "counted":
            continue
        for worker in trial["workers"]:
            tid = worker.get("tid")
            if tid is None:
                sys.exit("the profile records no thread ids (WorkerRecord.tid): this copyprof is too old")
            for event, counter in sorted(worker["counters"].items()):
                if (tid, event) not in perf:
                    missing += 1
                    continue
                ours, theirs = copyprof_value(counter), perf[(tid, event)]
                diff = 100.0 * (ours - theirs) / theirs if theirs else (0.0 if ours == 0 else float("inf"))
                differences[event].append((abs(diff), ours, theirs))
                rows.append((what, worker["role"], tid, event, ours, theirs, diff))

if not rows:
    sys.exit("no thread of the profile is in perf's recording: did perf follow copyprof's threads?")
if missing:
    print(f"{missing} counts of copyprof's threads are not in perf's recording (records lost)")
print()
print(f'{"cell":<28} {"role":<8} {"tid":>7} {"event":<17} {"copyprof":>14} {"perf":>14} {"diff %":>7}')
for what, role, tid, event, ours, theirs, diff in rows:
    print(f"{what:<28} {role:<8} {tid:>7} {event:<17} {ours:>14.0f} {theirs:>14.0f} {diff:>+7.2f}")
print()
print(f'{"event":<17} {"threads":>7} {"median |diff| %":>15} {"max |diff| %":>12} {"within 2%":>9}  (counts of both summed)')
for event, values in sorted(differences.items()):
    magnitudes = [v[0] for v in values]
    within = sum(1 for m in magnitudes if m <= 2)
    ours, theirs = sum(v[1] for v in values), sum(v[2] for v in values)
    print(f"{event:<17} {len(values):>7} {statistics.median(magnitudes):>15.2f} {max(magnitudes):>12.2f} "
          f"{within:>5}/{len(values):<3}  {ours:.0f} vs {theirs:.0f} ({100 * (ours - theirs) / theirs if theirs else 0:+.2f}%)")
EOF

#!/usr/bin/env bash
# What measuring costs, at 64 B over one loopback connection, interleaved with a rotating order:
#   - stream throughput and ping-pong RTT p50 of copyprof's two-copy transport with no counters (--events none),
#     task-clock alone, context-switches alone, the four software events, the tracepoint alone, and the defaults;
#   - the plain C loop with and without copyprof's 5 s SO_RCVTIMEO/SO_SNDTIMEO.
# Prints medians and ratios against "none" (copyprof) and against the C loop without timeouts.
#
#   bash Benchmarks/counter-cost.sh [ROUNDS=6]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
rounds=${1:-6}
swift build -c release --product copyprof >&2
bin=.build/release/copyprof
mkdir -p .build/bench
gcc -O2 -pthread -o .build/bench/reference Benchmarks/reference.c
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results="$work/results.tsv"
: > "$results"

variants=(none task-clock context-switches "task-clock,context-switches,cpu-migrations,page-faults" "skb:skb_copy_datagram_iovec" default)
cell() { # mode events -> the figure
  local events=()
  [ "$2" = default ] || events=(--events "$2")
  rm -f "$work/cell.json"  # copyprof never replaces a file --output names (without --force, which older builds lack)
  "$bin" run --transports two-copy --sizes 64 --connections 1 --workloads "$1" --trials 1 --warmup 0 --duration 1 \
    "${events[@]}" --output "$work/cell.json" --no-report >/dev/null 2>&1
  # The trial that had the event set open: the counted one (with --events none, the only one, a timing trial).
  "$bin" export "$work/cell.json" --csv | python3 -c "import csv,sys; rows=list(csv.DictReader(sys.stdin)); r=([x for x in rows if x.get('kind') == 'counted'] or rows)[0]; print(r['throughput_gbps'] if '$1' == 'stream' else r['rtt_p50_us'])"
}
for round in $(seq 1 "$rounds"); do
  echo "round $round of $rounds" >&2
  for mode in stream pingpong; do
    n=${#variants[@]}
    for k in $(seq 0 $((n - 1))); do
      v=${variants[$(( (round + k) % n ))]}
      printf 'copyprof %s\t%s\t%s\n' "$v" "$mode" "$(cell "$mode" "$v")" >> "$results"
    done
    key=$([ "$mode" = stream ] && echo throughput_gbps || echo rtt_p50_us)
    for k in 0 1; do
      if [ $(( (round + k) % 2 )) = 0 ]; then
        printf 'C loop\t%s\t%s\n' "$mode" "$(.build/bench/reference "$mode" 64 1 1 | awk -v k=$key '$1 == k {print $2}')" >> "$results"
      else
        printf 'C loop, 5 s timeouts\t%s\t%s\n' "$mode" "$(REFERENCE_IO_TIMEOUT=1 .build/bench/reference "$mode" 64 1 1 | awk -v k=$key '$1 == k {print $2}')" >> "$results"
      fi
    done
  done
done

python3 - "$results" "$rounds" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    what, mode, value = line.rstrip("\n").split("\t")
    if not value:
        sys.exit(f"no value from {what} ({mode})")
    rows[(what, mode)].append(float(value))
med = {k: statistics.median(v) for k, v in rows.items()}
print(f"Medians of {sys.argv[2]} interleaved rounds of 1 s at 64 B, one connection, loopback.\n")
print("| what | stream Gbit/s | vs none | ping-pong RTT p50 µs | vs none |")
print("|---|---:|---:|---:|---:|")
names = [w for (w, m) in rows if m == "stream"]
for what in names:
    base = "copyprof none" if what.startswith("copyprof") else "C loop"
    s, p = med[(what, "stream")], med[(what, "pingpong")]
    print(f"| {what} | {s:.3f} | {s / med[(base, 'stream')]:.3f}× | {p:.1f} | {p / med[(base, 'pingpong')]:.3f}× |")
PY

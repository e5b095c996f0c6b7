#!/usr/bin/env bash
# copyprof's transports against their peers, interleaved (A B C D, B C D A, ...) on this machine:
#   - stream throughput, one connection, at 64, 512, 4096 and 65536 B: copyprof two-copy (counters on),
#     the plain C loop (Benchmarks/reference.c), iperf3 -l SIZE, and copyprof with --events none (counters off);
#   - ping-pong RTT p50 and p99, one connection, at 64 and 4096 B: copyprof two-copy (counters on), the C loop,
#     sockperf ping-pong --tcp --full-rtt, and copyprof with --events none (counters off).
# copyprof runs with its default settings (events, verification, I/O timeout) as single cells of SECONDS.
# Prints medians, and ratios as the median of per-round ratios with a 95% interval, as Markdown. Ratios are reported, not asserted: the exit status is non-zero only
# when a tool is missing or a run fails.
#
#   bash Benchmarks/peers.sh [ROUNDS=5] [SECONDS=1]     (whole seconds: iperf3's -t takes no fractions)
#   WORKLOADS=pingpong bash Benchmarks/peers.sh 30 1    one workload only (stream or pingpong)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
rounds=${1:-5}
seconds=${2:-1}
case "$seconds" in ''|*[!0-9]*|0) echo "SECONDS must be a whole number of at least 1" >&2; exit 1 ;; esac
sizes=(64 512 4096 65536)
workloads=${WORKLOADS:-stream pingpong}
case " $workloads " in *" stream "*|*" pingpong "*) ;; *) echo "WORKLOADS: stream, pingpong or both" >&2; exit 1 ;; esac

need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v sockperf >/dev/null || need+=(sockperf)
command -v gcc >/dev/null || need+=(gcc)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

swift build -c release --product copyprof >&2
bin=.build/release/copyprof
mkdir -p .build/bench
gcc -O2 -pthread -o .build/bench/reference Benchmarks/reference.c
work=$(mktemp -d)
iperf_port=52991
sockperf_port=52992
iperf3 -s -p $iperf_port >/dev/null 2>&1 &
iperf_pid=$!
sockperf server --tcp -i 127.0.0.1 -p $sockperf_port >/dev/null 2>&1 &
sockperf_pid=$!
trap 'kill $iperf_pid $sockperf_pid 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1

results="$work/results.tsv"
: > "$results"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$round" >> "$results"; }

# copyprof single cell -> the CSV column asked for.
copyprof_cell() { # mode size events column
  local out="$work/cell.json" events=()
  [ "$3" = default ] || events=(--events "$3")
  rm -f "$out"  # copyprof never replaces a file --output names (without --force, which older builds lack)
  "$bin" run --transports two-copy --sizes "$2" --connections 1 --workloads "$1" --trials 1 --warmup 0 \
    --duration "$seconds" "${events[@]}" --output "$out" --no-report >/dev/null 2>"$work/err" || { cat "$work/err" >&2; return 1; }
  # Time from the timing trial (no counters), as copyprof reports it; a profile has one of each kind per round.
  "$bin" export "$out" --csv | python3 -c "import csv,sys; r=list(csv.DictReader(sys.stdin)); r=[x for x in r if x.get('kind') in ('timing', '', None)] or r; print(r[0]['$4'])"
}

stream_tool() { # tool size
  case "$1" in
    0) record "copyprof" "$2" "$(copyprof_cell stream "$2" default throughput_gbps)" ;;
    1) record "C loop" "$2" "$(.build/bench/reference stream "$2" 1 "$seconds" | awk '/throughput_gbps/ {print $2}')" ;;
    2) record "iperf3" "$2" "$(iperf3 -c 127.0.0.1 -p $iperf_port -l "$2" -t "$seconds" -J |
         python3 -c "import json,sys; print(json.load(sys.stdin)['end']['sum_received']['bits_per_second']/1e9)")" ;;
    3) record "copyprof, counters off" "$2" "$(copyprof_cell stream "$2" none throughput_gbps)" ;;
  esac
}
# copyprof ping-pong cell -> "p50 p99".
copyprof_rtt() { # size events
  local out="$work/cell.json" events=()
  [ "$2" = default ] || events=(--events "$2")
  rm -f "$out"
  "$bin" run --transports two-copy --sizes "$1" --connections 1 --workloads pingpong --trials 1 --warmup 0 \
    --duration "$seconds" "${events[@]}" --output "$out" --no-report >/dev/null 2>"$work/err" || { cat "$work/err" >&2; return 1; }
  "$bin" export "$out" --csv | python3 -c "import csv,sys; r=list(csv.DictReader(sys.stdin)); r=[x for x in r if x.get('kind') in ('timing', '', None)] or r; print(r[0]['rtt_p50_us'], r[0]['rtt_p99_us'])"
}
record_rtt() { # tool size "p50 p99"
  set -- "$1" "$2" $3
  record "$1 p50" "$2" "${3:-}"
  record "$1 p99" "$2" "${4:-}"
}
rtt_tool() { # tool size
  case "$1" in
    0) record_rtt "copyprof" "$2" "$(copyprof_rtt "$2" default)" ;;
    1) record_rtt "C loop" "$2" "$(.build/bench/reference pingpong "$2" 1 "$seconds" |
         awk '/rtt_p50_us/ {p50=$2} /rtt_p99_us/ {p99=$2} END {print p50, p99}')" ;;
    2) record_rtt "sockperf" "$2" "$(sockperf ping-pong --tcp -i 127.0.0.1 -p $sockperf_port -m "$2" -t "$seconds" --full-rtt 2>&1 |
         awk '/percentile 50.000/ {p50=$NF} /percentile 99.000/ {p99=$NF} END {print p50, p99}')" ;;
    3) record_rtt "copyprof, counters off" "$2" "$(copyprof_rtt "$2" none)" ;;
  esac
}

# Interleaved, and the order rotates from round to round so that no tool always runs first or after the same one.
for round in $(seq 1 "$rounds"); do
  echo "round $round of $rounds" >&2
  if [[ " $workloads " == *" stream "* ]]; then
    for size in "${sizes[@]}"; do
      for k in 0 1 2 3; do stream_tool $(( (round + k) % 4 )) "$size"; done
    done
  fi
  if [[ " $workloads " == *" pingpong "* ]]; then
    for size in 64 4096; do
      for k in 0 1 2 3; do rtt_tool $(( (round + k) % 4 )) "$size"; done
    done
  fi
done

python3 - "$results" "$rounds" "$seconds" <<'PY'
import statistics, sys, collections, math
rows = collections.defaultdict(list)
by_round = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    tool, size, value, rnd = line.rstrip("\n").split("\t")
    if not value:
        sys.exit(f"no value from {tool} at {size} B")
    rows[(tool, int(size))].append(float(value))
    by_round[(tool, int(size))][int(rnd)] = float(value)
med = {k: statistics.median(v) for k, v in rows.items()}

def paired(a, b, size):
    """The median of the per-round ratios a/b (the two ran side by side in each round, so drift they share cancels)
    and its 95% interval from order statistics (exact binomial; none below 6 rounds)."""
    ra, rb = by_round[(a, size)], by_round[(b, size)]
    ratios = sorted(ra[r] / rb[r] for r in ra if r in rb and rb[r] > 0)
    n = len(ratios)
    m = statistics.median(ratios)
    if n < 6:
        return f"{m:.2f}×"
    # Largest k with P(Binomial(n, 1/2) < k) <= 2.5%: the interval is [x(k), x(n+1-k)] (1-based).
    k, cdf = 0, 0.0
    while True:
        nxt = cdf + math.comb(n, k) / 2 ** n
        if nxt > 0.025:
            break
        cdf, k = nxt, k + 1
    lo, hi = ratios[max(k - 1, 0)], ratios[n - k] if k > 0 else ratios[-1]
    return f"{m:.2f}× [{lo:.2f}, {hi:.2f}]"

print(f"Medians of {sys.argv[2]} interleaved rounds of {sys.argv[3]} s, one connection, loopback. Ratios: the median "
      "of the per-round ratios with its 95% interval.\n")
if ("copyprof", 64) in med:
  print("| size | copyprof two-copy Gbit/s | C loop | iperf3 | copyprof/C | copyprof/iperf3 | counters on/off |")
  print("|---:|---:|---:|---:|---:|---:|---:|")
for size in (64, 512, 4096, 65536) if ("copyprof", 64) in med else ():
    c, ref, ip, off = (med[(t, size)] for t in ("copyprof", "C loop", "iperf3", "copyprof, counters off"))
    print(f"| {size} | {c:.3f} | {ref:.3f} | {ip:.3f} | {paired('copyprof', 'C loop', size)} | "
          f"{paired('copyprof', 'iperf3', size)} | {paired('copyprof', 'copyprof, counters off', size)} |")
if ("copyprof p50", 64) in med:
  print("\n| ping-pong | copyprof two-copy µs | C loop | sockperf --full-rtt | copyprof, counters off | copyprof/C | "
        "copyprof/sockperf | counters on/off |")
  print("|---|---:|---:|---:|---:|---:|---:|---:|")
for size in (64, 4096) if ("copyprof p50", 64) in med else ():
    for stat in ("p50", "p99"):
        c, ref, sp, off = (med[(f"{t} {stat}", size)] for t in ("copyprof", "C loop", "sockperf", "copyprof, counters off"))
        print(f"| RTT {stat}, {size} B | {c:.1f} | {ref:.1f} | {sp:.1f} | {off:.1f} | "
              f"{paired(f'copyprof {stat}', f'C loop {stat}', size)} | {paired(f'copyprof {stat}', f'sockperf {stat}', size)} | "
              f"{paired(f'copyprof {stat}', f'copyprof, counters off {stat}', size)} |")
PY

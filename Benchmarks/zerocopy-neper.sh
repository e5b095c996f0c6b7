#!/usr/bin/env bash
# copyprof's zero-copy against neper's tcp_stream -Z (MSG_ZEROCOPY, one flow, 64 KiB writes) on loopback,
# interleaved with a rotating order:
#   - copyprof zero-copy, 65536 B messages, one connection (its 8 fields gathered through 8 iovecs);
#   - the same loop over one contiguous field set (one iovec; the same bytes on the wire), selected for this
#     benchmark only by COPYPROF_BENCH_ZEROCOPY_LAYOUT=contiguous: what the 8-field layout costs;
#   - neper tcp_stream -Z -B 65536 -F 1 -T 1;
#   - Benchmarks/reference.c's C zero-copy loop: the same pool of 64 field sets of 8 fields and the same rule (a set
#     is rewritten only after its completions), without stamps, verification or statistics;
#   - copyprof two-copy and neper tcp_stream without -Z (copy mode), for reference.
# copyprof runs with its default settings (events, verification) as single cells of SECONDS. Prints medians and
# ratios as Markdown; nothing is asserted.
#
# neper is not part of this repository and is not downloaded here: build it by hand and pass its directory, e.g.
#   git clone https://github.com/google/neper /tmp/neper && make -C /tmp/neper tcp_stream
#   bash Benchmarks/zerocopy-neper.sh /tmp/neper [ROUNDS=5] [SECONDS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
neper_dir=${1:?usage: bash Benchmarks/zerocopy-neper.sh NEPER_DIR [ROUNDS] [SECONDS] (NEPER_DIR holds a built tcp_stream)}
rounds=${2:-5}
seconds=${3:-2}
case "$seconds" in ''|*[!0-9]*|0) echo "SECONDS must be a whole number of at least 1 (neper's -l)" >&2; exit 1 ;; esac
neper=$neper_dir/tcp_stream
[ -x "$neper" ] || { echo "$neper is not an executable: build neper's tcp_stream first (see the top of this script)" >&2; exit 1; }
command -v python3 >/dev/null && command -v gcc >/dev/null || { echo "python3 and gcc are needed" >&2; exit 1; }

swift build -c release --product copyprof >&2
bin=.build/release/copyprof
mkdir -p .build/bench
gcc -O2 -pthread -o .build/bench/reference Benchmarks/reference.c
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
control_port=52994
data_port=52995

results="$work/results.tsv"
: > "$results"
record() { printf '%s\t%s\n' "$1" "$2" >> "$results"; }

copyprof_gbps() { # transport [layout]
  local out="$work/cell.json"
  rm -f "$out"  # copyprof never replaces a file --output names (without --force, which older builds lack)
  COPYPROF_BENCH_ZEROCOPY_LAYOUT=${2:-separate} "$bin" run --transports "$1" --sizes 65536 --connections 1 --workloads stream \
    --trials 1 --warmup 0 --duration "$seconds" --output "$out" --no-report >/dev/null 2>"$work/err" \
    || { cat "$work/err" >&2; return 1; }
  # Time from the timing trial (no counters), as copyprof reports it.
  "$bin" export "$out" --csv | python3 -c "import csv,sys; r=list(csv.DictReader(sys.stdin)); r=[x for x in r if x.get('kind') in ('timing', '', None)] or r; print(r[0]['throughput_gbps'])"
}

neper_gbps() { # extra client flags
  "$neper" --nolog -l "$seconds" -B 65536 -C $control_port -P $data_port > "$work/neper-server" 2>&1 &
  server_pid=$!
  sleep 0.5
  "$neper" --nolog -c -H 127.0.0.1 -C $control_port -P $data_port -B 65536 -F 1 -T 1 -l "$seconds" "$@" > "$work/neper-client" 2>&1 \
    || { cat "$work/neper-client" >&2; return 1; }
  wait "$server_pid" || true
  server_pid=
  # The client prints what the server received: remote_throughput, in bit/s.
  awk -F= '/^remote_throughput=/ {printf "%.4f\n", $2 / 1e9}' "$work/neper-client"
}

tool() { # index
  case "$1" in
    0) record "copyprof zero-copy" "$(copyprof_gbps zero-copy)" ;;
    1) record "copyprof zero-copy, one contiguous field set" "$(copyprof_gbps zero-copy contiguous)" ;;
    2) record "neper -Z" "$(neper_gbps -Z)" ;;
    3) record "copyprof two-copy" "$(copyprof_gbps two-copy)" ;;
    4) record "neper" "$(neper_gbps)" ;;
    5) record "C loop zero-copy" "$(.build/bench/reference stream 65536 1 "$seconds" zero-copy | awk '/throughput_gbps/ {print $2}')" ;;
  esac
}

for round in $(seq 1 "$rounds"); do
  echo "round $round of $rounds" >&2
  for k in 0 1 2 3 4 5; do tool $(( (round + k) % 6 )); done
done

python3 - "$results" "$rounds" "$seconds" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    tool, value = line.rstrip("\n").split("\t")
    if not value:
        sys.exit(f"no value from {tool}")
    rows[tool].append(float(value))
med = {k: statistics.median(v) for k, v in rows.items()}
print(f"Medians (and ranges) of {sys.argv[2]} interleaved rounds of {sys.argv[3]} s, 65536 B writes, one connection, loopback.\n")
print("| sender | Gbit/s | range | vs neper -Z | vs neper (copy) |")
print("|---|---:|---:|---:|---:|")
for tool in ("copyprof zero-copy", "copyprof zero-copy, one contiguous field set", "C loop zero-copy", "neper -Z",
             "copyprof two-copy", "neper"):
    v = rows[tool]
    print(f"| {tool} | {med[tool]:.2f} | {min(v):.2f}–{max(v):.2f} | {med[tool] / med['neper -Z']:.2f}× | "
          f"{med[tool] / med['neper']:.2f}× |")
PY

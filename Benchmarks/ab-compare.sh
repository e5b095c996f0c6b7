#!/usr/bin/env bash
# A/B: runs made with the same options, alternated with runs in which one transport is made slower on purpose
# (`--test-slow-transport T:K`: K extra copies of each message before it is sent), compared run by run (A1 → B1,
# A2 → B2, ...), and all the A runs pooled against all the B runs (the run as the unit of the test): how often
# `copyprof compare` finds the slower transport — a regression of its cell or of its ratio to two-copy — and what else
# it flags (every other flag is a false alarm). The other half of aa-compare.sh: that one checks compare stays quiet
# when nothing changed, this one that it still speaks when something did.
#
#   bash Benchmarks/ab-compare.sh [--runs N] [--slow TRANSPORT:COPIES] [RUN OPTIONS...]
#   bash Benchmarks/ab-compare.sh      # 3 pairs; one-copy 8 copies slower; two-copy, marshal and one-copy, 4096 B stream
#   AB_REUSE=DIR bash Benchmarks/ab-compare.sh --runs N [--slow T:K]   # compare the runs already in DIR again
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3
slow=one-copy:8
options=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift ;;
    --slow) slow=$2; shift ;;
    *) options+=("$1") ;;
  esac
  shift
done
[ ${#options[@]} -gt 0 ] || options=(--transports two-copy,marshal,one-copy --sizes 4096 --connections 1 --workloads stream --trials 6)
swift build -c release --product copyprof >&2
bin=.build/release/copyprof
work=${AB_REUSE:-${AB_WORK:-$(mktemp -d)}}
mkdir -p "$work"
echo "profiles in $work; slower: $slow; options: ${options[*]}" >&2
if [ -z "${AB_REUSE:-}" ]; then
  for i in $(seq 1 "$runs"); do
    "$bin" run "${options[@]}" --output "$work/a$i.json" --no-report > /dev/null 2> "$work/a$i.log"
    "$bin" run "${options[@]}" --test-slow-transport "$slow" --output "$work/b$i.json" --no-report > /dev/null 2> "$work/b$i.log"
  done
fi
printf '| pair | slower transport found | its flags | other flags | of | λ between runs | exit | its change against two-copy |\n|---|---|---:|---:|---:|---:|---:|---|\n'
status=0
pooledA=$(seq -s, -f "$work/a%g.json" 1 "$runs"); pooledB=$(seq -s, -f "$work/b%g.json" 1 "$runs")
for i in $(seq 1 "$runs") pooled; do
  if [ "$i" = pooled ]; then a=$pooledA; b=$pooledB; name="A1..A$runs → B1..B$runs pooled"; else a=$work/a$i.json; b=$work/b$i.json; name="A$i → B$i"; fi
  set +e
  "$bin" compare "$a" "$b" --json > "$work/cmp$i.json"
  code=$?
  "$bin" compare "$a" "$b" > "$work/cmp$i.md"
  set -e
  python3 - "$work/cmp$i.json" "$name" "$code" "${slow%%:*}" <<'PY' || status=1
import json, sys
c = json.load(open(sys.argv[1]))
slow = sys.argv[4]
rows = c["rows"] + c["relativeRows"]
flagged = [r for r in rows if r["verdict"] in ("regression", "improvement")]
own = [r for r in flagged if r["cell"]["transport"] == slow and r["verdict"] == "regression"]
other = [r for r in flagged if r not in own]
b = c.get("betweenRuns")
between = "— (the run is the unit)" if c.get("runs") else "n/a" if b is None else f"{b['measured']:.2f}" + (f" ({c['withinBetweenRuns']} held back)" if c.get("withinBetweenRuns") else "")
# How much slower the transport came out: its ratio to two-copy's change, per cell (the primary metric, then CPU ns/B).
ratios = {}
for r in c["relativeRows"]:
    if r["cell"]["transport"] == slow:
        k = r["cell"]
        ratios.setdefault(f"{k.get('workload', k.get('mode'))} {k['messageSize']} B", []).append(f"{r['metric']} {r['change']:+.1f}%")
change = "; ".join(f"{cell}: {', '.join(v)}" for cell, v in ratios.items()) or "n/a (no ratio to two-copy)"
print(f"| {sys.argv[2]} | {'yes' if own else 'no'} | {len(own)} | {len(other)} | {len(rows)} | {between} | {sys.argv[3]} | {change} |")
PY
done
echo
echo "profiles and comparisons in $work"
exit $status

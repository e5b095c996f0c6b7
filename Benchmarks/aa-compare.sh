#!/usr/bin/env bash
# A/A: the same run made three times and compared pairwise with `copyprof compare`: nothing changed, so at most 5% of
# the comparisons of every pair may be flagged (a regression or an improvement). Issue 23's cases: the two-transport
# 64 KiB stream run (zero-copy's throughput is bimodal on loopback: some trials stall), and `--quick`; `--default`
# adds the default sweep (about 1.5 minutes a run). Prints, per case, drift.sh's table (flagged share per pair, the
# machine's drift, λ: how much more the runs differ than their trials) and one line per pair; with 4 runs or more,
# also the odd-numbered runs pooled against the even-numbered ones (the run as the unit of the test). Exits 1 when a
# pair flags more than 5%.
#
#   bash Benchmarks/aa-compare.sh [--default] [--runs N]
#   AA_REUSE=DIR bash Benchmarks/aa-compare.sh     # compare the profiles already in DIR/<case>/run*.json again
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3
cases=(issue quick)
while [ $# -gt 0 ]; do
  case "$1" in
    --default) cases+=(default) ;;
    --runs) runs=$2; shift ;;
    *) echo "usage: bash Benchmarks/aa-compare.sh [--default] [--runs N]" >&2; exit 1 ;;
  esac
  shift
done
options() {
  case "$1" in
    issue) echo "--transports two-copy,zero-copy --sizes 65536 --connections 1 --workloads stream" ;;
    quick) echo "--quick" ;;
    default) echo "" ;;
  esac
}
work=${AA_REUSE:-$(mktemp -d)}
status=0
for c in "${cases[@]}"; do
  echo
  echo "## $c: copyprof run $(options "$c")"
  if [ -z "${AA_REUSE:-}" ]; then
    # drift.sh makes the runs and prints the table; its profiles and comparisons stay in $work/$c.
    # shellcheck disable=SC2046
    DRIFT_WORK="$work/$c" bash Benchmarks/drift.sh "$runs" $(options "$c") --warmup 1
  else
    swift build -c release --product copyprof >&2
    for i in $(seq 1 "$runs"); do
      for j in $(seq $((i + 1)) "$runs"); do
        set +e
        .build/release/copyprof compare "$work/$c/run$i.json" "$work/$c/run$j.json" --json > "$work/$c/cmp$i-$j.json"
        set -e
      done
    done
  fi
  pairs=()
  for i in $(seq 1 "$runs"); do
    for j in $(seq $((i + 1)) "$runs"); do pairs+=("$i-$j"); done
  done
  if [ "$runs" -ge 4 ]; then
    odd=$(seq -s, -f "$work/$c/run%g.json" 1 2 "$runs"); even=$(seq -s, -f "$work/$c/run%g.json" 2 2 "$runs")
    set +e
    .build/release/copyprof compare "$odd" "$even" --json > "$work/$c/cmp-pooled.json"
    .build/release/copyprof compare "$odd" "$even" > "$work/$c/cmp-pooled.md"
    set -e
    pairs+=("-pooled")
  fi
  for pair in "${pairs[@]}"; do
      name=$([ "$pair" = -pooled ] && echo "odd runs pooled vs even runs pooled" || echo "$pair")
      python3 - "$work/$c/cmp$pair.json" "$c" "$name" <<'PY' || status=1
import json, sys
c = json.load(open(sys.argv[1]))
rows = c["rows"] + c["relativeRows"]
flagged = sum(1 for r in rows if r["verdict"] in ("regression", "improvement"))
count = lambda v: sum(1 for r in rows if r["verdict"] == v)
share = flagged / len(rows) * 100 if rows else 0
print(f"{sys.argv[2]} pair {sys.argv[3]}: {flagged} of {len(rows)} comparisons flagged ({share:.1f}%); "
      f"{count('unstable')} unstable, {count('untestable')} untestable, {count('unchanged')} unchanged; exit {c['exitCode']}"
      + (f"; λ {c['betweenRuns']['measured']:.2f}" if c.get("betweenRuns") else "")
      + (f"; {c['withinBetweenRuns']} held back as within the spread between runs" if c.get("withinBetweenRuns") else "")
      + ("" if share <= 5 else "  <-- over 5%"))
sys.exit(0 if share <= 5 else 1)
PY
  done
done
echo
echo "profiles and comparisons in $work"
exit $status

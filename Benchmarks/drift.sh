#!/usr/bin/env bash
# Identical runs compared pairwise: how many comparisons `copyprof compare` flags when nothing changed (an A/A test),
# and what it says about the machine's drift. Extra arguments go to every run (after the defaults below), e.g. an
# environment variable or option that changes one run is NOT applied here: run the variant by hand and compare it.
#
#   bash Benchmarks/drift.sh [RUNS=3] [RUN OPTIONS...]
#   bash Benchmarks/drift.sh 3 --quick --trials 6 --sizes 64,4096 --connections 1     # the issue's command (the default)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
runs=${1:-3}
shift || true
options=("$@")
[ ${#options[@]} -gt 0 ] || options=(--quick --trials 6 --sizes 64,4096 --connections 1)
swift build -c release --product copyprof >&2
bin=.build/release/copyprof
work=${DRIFT_WORK:-$(mktemp -d)}
mkdir -p "$work"
echo "profiles in $work" >&2
for i in $(seq 1 "$runs"); do
  "$bin" run "${options[@]}" --output "$work/run$i.json" --no-report > /dev/null 2> "$work/run$i.log"
  echo "run $i: $(python3 -c "import json; p=json.load(open('$work/run$i.json')); print(p['environment']['startTime'], 'to', p['environment']['endTime'])")" >&2
done
printf '| pair | flagged | of | cells flagged | ratios flagged | λ between runs | exit | machine |\n|---|---:|---:|---:|---:|---:|---:|---|\n'
for i in $(seq 1 "$runs"); do
  for j in $(seq $((i + 1)) "$runs"); do
    set +e
    "$bin" compare "$work/run$i.json" "$work/run$j.json" --json > "$work/cmp$i-$j.json"
    status=$?
    "$bin" compare "$work/run$i.json" "$work/run$j.json" > "$work/cmp$i-$j.md"
    set -e
    python3 - "$work/cmp$i-$j.json" "$i-$j" "$status" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
changed = lambda rows: sum(1 for r in rows if r["verdict"] in ("regression", "improvement"))
cells, ratios = changed(c["rows"]), changed(c["relativeRows"])
total = len(c["rows"]) + len(c["relativeRows"])
d = c.get("drift")
def shift(name, x):
    if not x:
        return None
    # No interval where the control ran too few times for one: never a made-up [+0.0, +0.0].
    interval = (f" [{(x['low'] - 1) * 100:+.1f}, {(x['high'] - 1) * 100:+.1f}]"
                if x.get("low") is not None and x.get("high") is not None else " (too few rounds for an interval)")
    p = f"p = {x['p']:.3f}" if x.get("p") is not None else "no p"
    return f"{name} {(x['ratio'] - 1) * 100:+.1f}%{interval}, {p}{' (moved)' if x['significant'] else ''}"
if d is None:
    machine = "no control"
else:
    machine = "; ".join(s for s in [shift("copies and calls", d["wall"]), shift("wake-ups", d.get("wakeWall"))] if s)
    uncorrected = sum(1 for r in c["rows"] if r["uncorrectedVerdict"] in ("regression", "improvement"))
    shared = sum(1 for r in c["rows"] if r.get("explainedByGroup"))
    if uncorrected != cells:
        machine += f"; {uncorrected - cells} changes within the drift ({shared} shared by the transports)"
b = c.get("betweenRuns")
# λ as measured (below 1: the runs agreed as well as their trials; not applied), and how many changes it held back.
between = "n/a (too few comparisons)" if b is None else f"{b['measured']:.2f}"
held = c.get("withinBetweenRuns", 0)
if held:
    between += f" ({held} held back)"
print(f"| {sys.argv[2]} | {cells + ratios} ({(cells + ratios) / total * 100:.1f}%) | {total} | {cells} of {len(c['rows'])} | {ratios} of {len(c['relativeRows'])} | {between} | {sys.argv[3]} | {machine} |")
PY
  done
done

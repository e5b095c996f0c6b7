#!/usr/bin/env bash
# What sampling costs the default sweep (issue 20, "How we will know"): `copyprof run` against `copyprof run
# --sample off`, release build, interleaved (off, on, off, on ...), RUNS of each (3 by default):
#   (a) the counted trials' overhead per cell — counted against timing trials of the same round, the report's
#       "counters' overhead" — with sampling (counters + sampling) and without (counters only): per run the median
#       over cells, and the median per cell of the difference;
#   (b) the sweep's wall time with and without sampling, and their ratio (the issue's bound: 1.25);
#   (c) the timing trials, which are never sampled, unchanged: per cell, their throughput with sampling on against
#       off (ratio of medians over every run's trials, and a Mann-Whitney test): the ratios' median and spread, and
#       how many cells differ at p < 0.05 (about 5% by chance alone). Ratios are taken within each pair of runs
#       (off k, on k: minutes apart) and their median over the pairs, so that the shared machine's drift cancels;
#   (d) what sampling does to what the counted trials count: per cell, context switches per MB and task-clock per
#       byte of the counted trials with sampling against without (median per workload of the per-cell ratios).
# With SAMPLING_FREQUENCIES (whole numbers of Hz, e.g. "250 1000 4000") the sampled runs are made at each of these
# frequencies, `--sample-frequency F` given to them only, interleaved with the runs without sampling (off, 250, 1000,
# 4000, off, 250 ...); (a) to (d) then compare the last frequency with off, and
#   (e) gives per cell the counted trials' overhead at each setting (median over runs of each run's median over
#       cells' rounds) and the samples per worker thread and counted trial; and per workload the samples one role
#       gathers in a cell's counted trials of one run, with the 95% Wilson interval of a 20% share of that many.
#
#   bash Benchmarks/sampling-cost.sh [RUNS] [more copyprof run options, e.g. --quick]
#   SAMPLING_FREQUENCIES="250 1000 4000" bash Benchmarks/sampling-cost.sh 3 --workloads stream,pingpong \
#     --sizes 64,65536 --connections 1,4 --transports two-copy,zero-copy    # docs/performance.md's frequency table
#   SAMPLING_COST_KEEP=folder bash Benchmarks/sampling-cost.sh    # keeps the profiles there
# --sample and --sample-frequency are refused among the options: they would apply to the runs without sampling too.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
runs=${1:-3}
shift || true
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "sampling-cost.sh: RUNS must be a whole number from 1 up, not '$runs'" >&2; exit 2; }
for option in "$@"; do
  case "$option" in
    --sample|--sample=*|--sample-frequency|--sample-frequency=*)
      echo "sampling-cost.sh: $option would apply to the runs without sampling too: give frequencies in SAMPLING_FREQUENCIES (e.g. SAMPLING_FREQUENCIES=\"250 1000 4000\")" >&2
      exit 2 ;;
  esac
done
settings=(off)
if [ -n "${SAMPLING_FREQUENCIES:-}" ]; then
  for frequency in $SAMPLING_FREQUENCIES; do
    [[ "$frequency" =~ ^[1-9][0-9]*$ ]] || {
      echo "sampling-cost.sh: SAMPLING_FREQUENCIES takes whole numbers of Hz separated by spaces (e.g. \"250 1000 4000\"), not '$frequency'" >&2
      exit 2
    }
    settings+=("$frequency")
  done
else
  settings+=(on)
fi
swift build -c release --product copyprof >&2
copyprof="$PWD/.build/release/copyprof"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
for run in $(seq 1 "$runs"); do
  for setting in "${settings[@]}"; do
    case "$setting" in
      off|on) sampling=(--sample "$setting") ;;
      *) sampling=(--sample on --sample-frequency "$setting") ;;
    esac
    start=$(date +%s.%N)
    "$copyprof" run "${sampling[@]}" --no-report --output "$work/$setting-$run.json" "$@" > /dev/null 2> "$work/$setting-$run.err" || {
      cat "$work/$setting-$run.err" >&2
      exit 1
    }
    end=$(date +%s.%N)
    echo "$setting $run $(echo "$end - $start" | bc)" | tee -a "$work/times.txt"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${SAMPLING_COST_KEEP:-}" ]; then mkdir -p "$SAMPLING_COST_KEEP" && cp "$work"/*.json "$work/times.txt" "$SAMPLING_COST_KEEP"/; fi
grep -h "copyprof: sampling" "$work/${settings[-1]}-1.err" || true

python3 - "$work" "$runs" "${settings[@]}" <<'EOF'
import collections, json, math, statistics, sys

work, runs, settings = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
# (a) to (d) compare the last sampled setting (on, or the last of SAMPLING_FREQUENCIES) with off.
on = settings[-1]
on_label = "on" if on == "on" else f"{on} Hz"
times = collections.defaultdict(list)
for line in open(f"{work}/times.txt"):
    kind, _, seconds = line.split()
    times[kind].append(float(seconds))

def key(cell):
    k = cell["key"]
    return (k["mode"], k["messageSize"], k["threads"], k["transport"], k.get("receiver", "copy"))

def rate(trial):
    # Bytes per ns: throughput for stream, round trips (both directions' bytes) for ping-pong.
    # None for a trial that took no time: no rate, never a 0 that would read as a stalled trial.
    return trial["bytes"] / trial["elapsedNs"] if trial["elapsedNs"] else None

profiles = {kind: [json.load(open(f"{work}/{kind}-{run}.json")) for run in range(1, runs + 1)] for kind in settings}

# (a) counted against timing trials of the same round, per cell: the median slowdown (timing rate / counted rate).
def overheads(profile):
    result = {}
    for cell in profile["cells"]:
        rounds = collections.defaultdict(dict)
        for trial in cell["trials"]:
            rounds[trial.get("round")][trial.get("kind")] = trial
        ratios = [rate(r["timing"]) / rate(r["counted"]) for r in rounds.values()
                  if "timing" in r and "counted" in r and rate(r["timing"]) is not None and rate(r["counted"])]
        if ratios:
            result[key(cell)] = 100 * (statistics.median(ratios) - 1)
    return result

print()
print("(a) counted trials' overhead: % slower than the timing trials of the same round, median over cells")
per_cell = {kind: collections.defaultdict(list) for kind in profiles}
for kind in settings:
    label = "counters only      " if kind == "off" else "counters + sampling" + ("" if kind == "on" else f" at {kind} Hz")
    medians = []
    for profile in profiles[kind]:
        o = overheads(profile)
        medians.append(statistics.median(o.values()))
        for cell, value in o.items():
            per_cell[kind][cell].append(value)
    print(f"    {label}: " + ", ".join(f"{m:+.1f}%" for m in medians) + f" (runs); pooled per cell, median "
          f"{statistics.median(statistics.median(v) for v in per_cell[kind].values()):+.1f}%")
differences = sorted(statistics.median(per_cell[on][c]) - statistics.median(per_cell["off"][c])
                     for c in per_cell[on] if c in per_cell["off"])
print(f"    sampling's part per cell ({on_label} minus off): median {statistics.median(differences):+.1f} points, "
      f"quartiles {differences[len(differences) // 4]:+.1f} / {differences[3 * len(differences) // 4]:+.1f}")
by_mode = collections.defaultdict(list)
for cell in per_cell[on]:
    if cell in per_cell["off"]:
        by_mode[(cell[0], cell[1])].append(statistics.median(per_cell[on][cell]) - statistics.median(per_cell["off"][cell]))
for (mode, size), values in sorted(by_mode.items()):
    print(f"      {mode:<8} {size:>6} B: {statistics.median(values):+5.1f} points (median of {len(values)} cells)")

print()
print("(b) wall time of the sweep")
for kind in settings:
    name = kind if kind in ("off", "on") else f"{kind} Hz"
    print(f"    sampling {name:<7}: " + ", ".join(f"{t:.1f} s" for t in times[kind]) + f" (median {statistics.median(times[kind]):.1f} s)")
for kind in settings[1:]:
    name = kind if kind == "on" else f"{kind} Hz"
    print(f"    ratio {name}/off of the medians: {statistics.median(times[kind]) / statistics.median(times['off']):.3f} (bound 1.25)")

def mann_whitney_p(a, b):
    # Two-sided, normal approximation with the tie correction (enough for 18 against 18).
    values = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks, i = [0.0] * len(values), 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1][0] == values[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    n1, n2 = len(a), len(b)
    u = sum(r for r, (_, group) in zip(ranks, values) if group == 0) - n1 * (n1 + 1) / 2
    mean, sd = n1 * n2 / 2, math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    if sd == 0:
        return 1.0
    z = (abs(u - mean) - 0.5) / sd
    return math.erfc(max(z, 0) / math.sqrt(2))

print()
print(f"(c) timing trials (never sampled): throughput with sampling {on_label} against off, per cell, within each pair of runs")
ratios, significant, cells = [], 0, 0
timing = {kind: [collections.defaultdict(list) for _ in range(runs)] for kind in profiles}
for kind in profiles:
    for run, profile in enumerate(profiles[kind]):
        for cell in profile["cells"]:
            timing[kind][run][key(cell)] = [rate(t) for t in cell["trials"] if t.get("kind") == "timing" and rate(t) is not None]
for cell in timing[on][0]:
    per_pair, pooled_on, pooled_off = [], [], []
    for run in range(runs):
        sampled, off = timing[on][run].get(cell, []), timing["off"][run].get(cell, [])
        pooled_on += sampled
        pooled_off += off
        if sampled and off and statistics.median(off) > 0:
            per_pair.append(statistics.median(sampled) / statistics.median(off))
    if not per_pair or len(pooled_on) < 2 or len(pooled_off) < 2:
        continue
    cells += 1
    ratios.append(statistics.median(per_pair))
    if mann_whitney_p(pooled_on, pooled_off) < 0.05:
        significant += 1
ratios.sort()
print(f"    ratio {on_label}/off of the median throughput: median {statistics.median(ratios):.3f}, quartiles "
      f"{ratios[len(ratios) // 4]:.3f} / {ratios[3 * len(ratios) // 4]:.3f}, over {cells} cells")
print(f"    cells whose timing trials differ at p < 0.05 (Mann-Whitney, all runs pooled): {significant} of {cells} "
      f"(about {0.05 * cells:.0f} by chance alone)")

print()
print(f"(d) what the counted trials count, with sampling ({on_label}) against without: per workload, the median over cells of")
print("    the ratio of the cell's medians (all runs pooled)")
def counted_costs(profile):
    result = collections.defaultdict(lambda: ([], []))
    for cell in profile["cells"]:
        for trial in cell["trials"]:
            if trial.get("kind") != "counted" or not trial["bytes"]:
                continue
            counters = [w["counters"] for w in trial["workers"]]
            if all("context-switches" in c for c in counters):
                result[key(cell)][0].append(sum(c["context-switches"]["raw"] for c in counters) / (trial["bytes"] / 1e6))
            if all("task-clock" in c for c in counters):
                result[key(cell)][1].append(sum(c["task-clock"]["raw"] for c in counters) / trial["bytes"])
    return result
costs = {}
for kind in profiles:
    merged = collections.defaultdict(lambda: ([], []))
    for profile in profiles[kind]:
        for cell, (switches, cpu) in counted_costs(profile).items():
            merged[cell][0].extend(switches)
            merged[cell][1].extend(cpu)
    costs[kind] = merged
for workload in ("stream", "pingpong"):
    for index, name in ((0, "context switches/MB"), (1, "task-clock ns/B   ")):
        values = sorted(statistics.median(costs[on][c][index]) / statistics.median(costs["off"][c][index])
                        for c in costs[on] if c[0] == workload and costs[on][c][index] and costs["off"].get(c, ([], []))[index]
                        and statistics.median(costs["off"][c][index]) > 0)
        if values:
            print(f"    {workload:<8} {name}: median {statistics.median(values):.2f}, quartiles "
                  f"{values[len(values) // 4]:.2f} / {values[3 * len(values) // 4]:.2f} ({len(values)} cells)")

if on != "on":
    print()
    print("(e) per cell: the counted trials' overhead (% slower than the timing trials of the same round; median over")
    print("    runs of each run's median over rounds) without sampling and at each frequency; then samples per worker")
    print("    thread and counted trial (median over the runs' counted trials and threads) at each frequency")
    sampled = settings[1:]
    def samples_per_worker(profile):
        per_worker, per_role = collections.defaultdict(list), collections.defaultdict(int)
        for cell in profile["cells"]:
            for trial in cell["trials"]:
                if trial.get("kind") != "counted":
                    continue
                for worker in trial["workers"]:
                    attribution = worker.get("attribution")
                    if attribution is not None:
                        count = sum(attribution["samples"].values())
                        per_worker[key(cell)].append(count)
                        per_role[(key(cell), worker["role"])] += count
        return per_worker, per_role
    samples = {kind: collections.defaultdict(list) for kind in sampled}
    role_totals = {kind: collections.defaultdict(list) for kind in sampled}
    for kind in sampled:
        for profile in profiles[kind]:
            per_worker, per_role = samples_per_worker(profile)
            for cell, counts in per_worker.items():
                samples[kind][cell].extend(counts)
            for (cell, role), total in per_role.items():
                role_totals[kind][cell[0]].append(total)
    def label(cell):
        mode, size, threads, transport, receiver = cell
        return f"{mode} {size} B × {threads}, {transport}" + ("" if receiver == "copy" else f" → {receiver}")
    width = max(len(label(c)) for c in per_cell["off"])
    header = f"    {'cell':<{width}} " + " ".join(f"{k if k == 'off' else k + ' Hz':>8}" for k in settings)
    print(header + "   samples/thread/trial at " + ", ".join(f"{k} Hz" for k in sampled))
    for cell in sorted(per_cell["off"]):
        overhead = " ".join(f"{statistics.median(per_cell[k][cell]):>+7.0f}%" if per_cell[k].get(cell) else f"{'n/a':>8}"
                            for k in settings)
        counts = ", ".join(f"{statistics.median(samples[k][cell]):g}" if samples[k].get(cell) else "n/a" for k in sampled)
        print(f"    {label(cell):<{width}} {overhead}   {counts}")
    print(f"    {'median over cells':<{width}} " + " ".join(
        f"{statistics.median(statistics.median(v) for v in per_cell[k].values()):>+7.0f}%" for k in settings))
    def wilson_half_width(share, n, z=1.96):
        return z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    for workload in ("stream", "pingpong"):
        parts = []
        for kind in sampled:
            per_thread = [v for cell, values in samples[kind].items() if cell[0] == workload for v in values]
            totals = role_totals[kind].get(workload, [])
            if not per_thread or not totals:
                continue
            n = statistics.median(totals)
            half = f"±{100 * wilson_half_width(0.2, n):.1f} points" if n > 0 else "n/a: no samples"
            parts.append(f"{kind} Hz: {statistics.median(per_thread):g} per thread and trial, {n:g} per role and cell "
                         f"(a 20% share to {half})")
        if parts:
            print(f"    {workload:<8} " + "; ".join(parts))
EOF

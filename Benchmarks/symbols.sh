#!/usr/bin/env bash
# What symbolization costs, and whether its kernel names agree with perf's (issue 20):
#   (a) Packages/PerfCounters' `symbolize` example, in release mode: /proc/kallsyms load time, table size and RSS;
#       the symbol tables of every file a Swift process maps (libc with its debug file, libswiftCore…) and of
#       copyprof's debug and release binaries, each loaded on its own; ns per address resolved (random addresses
#       inside kernel functions, 500 hot ones repeated, random addresses in the user mappings);
#   (b) as root, with linux-perf: `perf record -a -g -e cpu-clock` during a copyprof run, then every kernel address
#       `perf script` printed, named by KernelSymbols and compared with perf's name: same, an alias at the same
#       address, unresolved by both, different (should be 0).
#
#   bash Benchmarks/symbols.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
swift build --product copyprof >&2
swift build -c release --product copyprof >&2
(cd Packages/PerfCounters && swift build -c release --product symbolize >&2)
symbolize=Packages/PerfCounters/.build/release/symbolize
echo "## Load and lookup costs"
"$symbolize" "$PWD/.build/debug/copyprof" "$PWD/.build/release/copyprof"

if [ "$(id -u)" != 0 ] || ! command -v perf >/dev/null; then
  echo "(the cross-check with perf needs root and linux-perf: skipped)"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.build/release/copyprof run --transports two-copy,zero-copy --sizes 65536 --threads 1 --modes stream --trials 1 \
  --warmup 0 --duration 2 --no-report --output "$work/run.json" > /dev/null 2>&1 &
run=$!
sleep 1
perf record -q -a -g -e cpu-clock -F 1999 -o "$work/perf.data" -- sleep 2 2>/dev/null
wait "$run" || true
perf script -i "$work/perf.data" -F ip,sym 2>/dev/null | awk 'NF >= 2 && $1 ~ /^ffff/ {print $1, $2}' > "$work/perf.txt"
awk '{print $1}' "$work/perf.txt" | "$symbolize" --kernel > "$work/ours.txt"
echo
echo "## Kernel names against perf script's ($(wc -l < "$work/perf.txt") kernel addresses of a system-wide recording)"
python3 - "$work/perf.txt" "$work/ours.txt" <<'EOF'
import collections, sys
perf = [line.split(None, 1) for line in open(sys.argv[1])]
ours = [line.rstrip("\n").split(" ", 1) for line in open(sys.argv[2])]
aliases = collections.defaultdict(set)
for line in open("/proc/kallsyms"):
    address, kind, name = line.split()[:3]
    if kind in "TtWw":
        aliases[address].add(name)
names_at = collections.defaultdict(set)
for names in aliases.values():
    for name in names:
        names_at[name] |= names
counts = collections.Counter()
different = collections.Counter()
for (address, theirs), (_, mine) in zip(perf, ours):
    theirs = theirs.strip()
    if theirs == mine:
        counts["same"] += 1
    elif mine in names_at.get(theirs, ()):
        counts["an alias at the same address"] += 1
    elif theirs == "[unknown]" and mine.startswith("[kernel, unresolved]"):
        counts["unresolved by both"] += 1
    else:
        counts["different"] += 1
        different[(theirs, mine[:80])] += 1
print("| outcome | addresses |\n|---|---:|")
for outcome in ["same", "an alias at the same address", "unresolved by both", "different"]:
    print(f"| {outcome} | {counts[outcome]} |")
for (theirs, mine), n in different.most_common(10):
    print(f"  {n}x perf: {theirs}, ours: {mine}")
EOF

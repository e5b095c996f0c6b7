#!/usr/bin/env bash
# How long `copyprof report` and `copyprof export --csv` take on a profile of more than 5,000 trials, and their peak
# memory (/usr/bin/time -v), with the release build.
#
#   bash Benchmarks/report-speed.sh              # makes the profile first: the default sweep's 128 cells with 20 rounds
#                                                # of 0.01 s trials (20 timing + 20 counted = 40 trials a cell, 5,120 in
#                                                # all; about 3 minutes here), then times report and export three times
#   bash Benchmarks/report-speed.sh PROFILE      # times an existing profile
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/opt/swift/usr/bin:$PATH"
cd "$top"
swift build -c release --product copyprof >/dev/null
bin="$top/.build/release/copyprof"
work=$(mktemp -d /tmp/copyprof-report-speed.XXXXXX)
trap 'rm -rf "$work"' EXIT
profile="${1:-}"
if [ -z "$profile" ]; then
  profile="$work/big.json"
  echo "report-speed: making $profile (copyprof run --trials 20 --warmup 0 --duration 0.01)"
  (cd "$work" && "$bin" run --trials 20 --warmup 0 --duration 0.01 --label big --output "$profile" --no-report >/dev/null 2>&1)
fi
trials=$(python3 -c "import json,sys; p=json.load(open(sys.argv[1])); print(sum(len(c['trials']) for c in p['cells']))" "$profile")
size=$(stat -c %s "$profile")
echo "profile: $trials trials, $((size / 1024 / 1024)) MiB"
for what in report export; do
  for round in 1 2 3; do
    if [ "$what" = report ]; then
      args=(report "$profile" --output "$work/report/r.md")
    else
      args=(export "$profile" --csv --output "$work/out.csv")
    fi
    rm -f "$work/report/r.md" "$work/out.csv"  # never replaced without --force (which older builds lack)
    /usr/bin/time -v "$bin" "${args[@]}" >/dev/null 2>"$work/time.txt"
    wall=$(grep 'Elapsed (wall clock)' "$work/time.txt" | awk '{print $NF}')
    rss=$(grep 'Maximum resident set size' "$work/time.txt" | awk '{print $NF}')
    echo "$what round $round: $wall wall, $((rss / 1024)) MiB peak resident"
  done
done

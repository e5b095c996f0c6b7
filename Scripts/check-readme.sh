#!/usr/bin/env bash
# Runs the examples of the README and of every page it links to (docs/, the PerfCounters package's README, the
# changelog) as written, in one folder and in the pages' order, in a fresh copy of the committed tree, with `copyprof` on PATH as the
# README's set-up puts it there (swift build -c release; .build/release on PATH).
#
#   bash Scripts/check-readme.sh          # every example but those marked `# long`, `# two hosts` or `# by hand`
#   bash Scripts/check-readme.sh --all    # the long ones too (the full sweep, the benchmarks): about 20 minutes
#
# What counts as an example: every line of a ```sh block (a line ending in \ continues on the next), and every
# `$ copyprof ...` line of a transcript block. A line whose comment says `# long` runs only with --all; one that says
# `# two hosts` needs a second machine and one that says `# by hand` needs what a check cannot assume (the network,
# a tool built outside the repository): both are listed, not run, and so is any line with an address outside 127/8. `copyprof compare` may exit 2 or 4 (a change found) or 3 (it cannot tell, and says why);
# every other example must exit 0.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
all=0
[ "${1:-}" = "--all" ] && all=1
export PATH="/opt/swift/usr/bin:$PATH"

work=$(mktemp -d /tmp/copyprof-readme.XXXXXX)
trap 'rm -rf "$work"' EXIT
git -C "$top" archive HEAD | tar -x -C "$work"
cd "$work" || exit 1
echo "check-readme: building in a fresh copy of HEAD ($work)"
swift build -c release >/dev/null 2>&1 || { echo "check-readme: swift build -c release failed"; exit 1; }
export PATH="$work/.build/release:$PATH"

pages=(README.md docs/commands.md docs/where-the-time-goes.md docs/two-hosts.md docs/transports.md docs/counting.md
  Packages/PerfCounters/README.md docs/testing.md docs/architecture.md docs/known-limits.md docs/performance.md CHANGELOG.md)
for page in "$top"/docs/*.md; do
  [[ " ${pages[*]} " == *" docs/$(basename "$page") "* ]] || { echo "check-readme: docs/$(basename "$page") is not in the list of pages"; exit 1; }
done
examples=$(cd "$top" && python3 - "${pages[@]}" <<'PY'
import re, sys
out = []
for page in sys.argv[1:]:
    block, pending = None, ""
    for line in open(page).read().split("\n"):
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence:
            block = None if block is not None else (fence.group(1) or "text")
            continue
        if block is None:
            continue
        if block == "sh":
            text = pending + line
            if text.rstrip().endswith("\\"):
                pending = text.rstrip()[:-1] + " "
                continue
            pending = ""
            if text.strip() and not text.lstrip().startswith("#"):
                out.append(text.strip())
        elif line.startswith("$ copyprof ") or line.startswith("$ setpriv "):
            out.append(line[2:].strip())
print("\n".join(out))
PY
)

passed=0 failed=0 skipped=0
while IFS= read -r example; do
  [ -z "$example" ] && continue
  if [[ "$example" == *"# two hosts"* ]] || [[ "$example" == *"# by hand"* ]] ||
    { [ $all = 0 ] && [[ "$example" == *"# long"* ]]; }; then
    echo "skip: $example"; skipped=$((skipped + 1)); continue
  fi
  # Never an address off this machine, tagged or not: only loopback examples run here.
  if grep -Eq '(^|[^0-9.])(1[0-9][0-9]|12[0-68-9]|[2-9][0-9]|[1-9]|2[0-5][0-9])\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}' <<< "$example" \
     && ! grep -Eq '(^|[^0-9.])127\.' <<< "$example"; then
    echo "skip (not loopback): $example"; skipped=$((skipped + 1)); continue
  fi
  out=$(timeout 1800 bash -c "$example" 2>&1 < /dev/null); status=$?
  allowed=0
  [[ "$example" == *"copyprof compare"* ]] && { [ $status = 2 ] || [ $status = 3 ] || [ $status = 4 ]; } && allowed=1
  if [ $status = 0 ] || [ $allowed = 1 ]; then
    echo "ok:   $example"; passed=$((passed + 1))
  else
    echo "FAIL: $example (exit $status)"; echo "$out" | tail -5 | sed 's/^/      /'; failed=$((failed + 1))
  fi
done <<< "$examples"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]

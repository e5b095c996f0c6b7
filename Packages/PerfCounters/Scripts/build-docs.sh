#!/usr/bin/env bash
# Builds the DocC archive of the PerfCounters library without adding a dependency to the package:
# symbol graphs from the compiler, then `docc convert` of Sources/PerfCounters/PerfCounters.docc.
# Fails when a public symbol has no doc comment or when DocC warns (a broken link, an unknown symbol).
#
#   Scripts/build-docs.sh [OUTPUT.doccarchive]   # default: .build/docs/PerfCounters.doccarchive
#
# Preview it: docc preview Sources/PerfCounters/PerfCounters.docc --additional-symbol-graph-dir
# .build/docs-build/symbol-graphs, or serve the archive's folder with any static web server.
set -euo pipefail
package="$(cd "$(dirname "$0")/.." && pwd)"
cd "$package"
export PATH="/opt/swift/usr/bin:$PATH"
command -v docc >/dev/null || { echo "build-docs: docc not found; it comes with the Swift toolchain (usr/bin/docc)" >&2; exit 1; }

output="${1:-.build/docs/PerfCounters.doccarchive}"
if [ -e "$output" ] && [[ "$output" != *.doccarchive ]]; then
  echo "build-docs: $output exists and is not a .doccarchive; name an archive path (…/PerfCounters.doccarchive)" >&2
  exit 1
fi

# A build of its own (the symbol-graph flags would otherwise rebuild the package's normal build each time).
# The compiler writes the graph when it compiles the module, so a missing graph means a clean build.
scratch=.build/docs-build
graphs="$scratch/symbol-graphs"
if [ ! -f "$graphs/PerfCounters.symbols.json" ]; then rm -rf "$scratch"; fi
mkdir -p "$graphs"
swift build --scratch-path "$scratch" --target PerfCounters \
  -Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir -Xswiftc "$PWD/$graphs"

swift Scripts/check-doc-comments.swift "$graphs/PerfCounters.symbols.json"

mkdir -p "$(dirname "$output")"
docc convert Sources/PerfCounters/PerfCounters.docc \
  --additional-symbol-graph-dir "$graphs" \
  --output-path "$output" \
  --fallback-display-name PerfCounters \
  --fallback-bundle-identifier org.copyprof.PerfCounters \
  --transform-for-static-hosting \
  --warnings-as-errors
echo "build-docs: $(find "$output/data/documentation" -name '*.json' | wc -l) pages in $package/$output"

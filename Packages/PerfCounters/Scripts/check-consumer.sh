#!/usr/bin/env bash
# Checks that PerfCounters is a library a package can import without pulling in anything else: creates a
# package in a temporary folder that depends on this package alone (by path), resolves it and checks that no
# other package was resolved, builds it with no network (a private network namespace where the system allows
# one), and runs it. The temporary folder is removed at exit.
#
#   Scripts/check-consumer.sh
set -euo pipefail
package="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="/opt/swift/usr/bin:$PATH"
work="$(mktemp -d "${TMPDIR:-/tmp}/perfcounters-consumer.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# SwiftPM leaves a lock file per build folder in TMPDIR: keep them in the folder that is removed.
export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"
consumer="$work/Consumer"
mkdir -p "$consumer/Sources/Consumer"

cat >"$consumer/Package.swift" <<SWIFT
// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Consumer",
    dependencies: [.package(path: "$package")],
    targets: [
        .executableTarget(name: "Consumer", dependencies: [.product(name: "PerfCounters", package: "PerfCounters")]),
    ],
    swiftLanguageModes: [.v6]
)
SWIFT

# The README's example, with the typed values a consumer uses.
cat >"$consumer/Sources/Consumer/main.swift" <<'SWIFT'
import PerfCounters

func work() -> UInt64 {
    var x: UInt64 = 1
    for i in 0..<5_000_000 { x = x &* 6364136223846793005 &+ UInt64(i) }
    return x
}

let counters = try ThreadCounters(events: [.cycles, .instructions, .taskClock, .contextSwitches])
try counters.start()
let result = work()
let readings = try counters.stop()
for reading in readings { print(reading) }
let taskClock = readings.first { $0.event == .taskClock }
let ns: UInt64? = taskClock?.exactValue
let unit: EventUnit? = taskClock?.unit
print("consumer: task-clock \(ns.map(String.init) ?? "n/a") \(unit?.description ?? "") (checksum \(result % 10))")
SWIFT

# Resolve and build with no network: a new network namespace has only a loopback device, and it is down.
offline=()
if unshare -n true 2>/dev/null; then
  offline=(unshare -n)
elif unshare -rn true 2>/dev/null; then
  offline=(unshare -rn)
else
  echo "consumer: no network namespace allowed here; resolving and building without network isolation"
fi
# The docs plugin is PerfCounters' opt-in dependency for its own documentation builds, never a consumer's.
unset PERFCOUNTERS_DOCC_PLUGIN

cd "$consumer"
# Resolution: nothing but PerfCounters, nothing fetched.
"${offline[@]}" swift package resolve
dependencies="$("${offline[@]}" swift package show-dependencies --format flatlist)"
echo "consumer: dependencies: ${dependencies//$'\n'/, }"
if [ "$dependencies" != "perfcounters" ]; then
  echo "check-consumer: the consumer resolved more than PerfCounters: ${dependencies//$'\n'/, }" >&2
  exit 1
fi
if [ -d .build/checkouts ] && [ -n "$(ls -A .build/checkouts)" ]; then
  echo "check-consumer: packages were cloned: $(ls .build/checkouts | tr '\n' ' ')" >&2
  exit 1
fi
if [ -f Package.resolved ] && grep -q '"identity"' Package.resolved; then
  echo "check-consumer: Package.resolved pins packages:" >&2
  cat Package.resolved >&2
  exit 1
fi

"${offline[@]}" swift build
./.build/debug/Consumer | tee "$work/output.txt"
grep -q '^consumer: task-clock [0-9]* ns' "$work/output.txt" || {
  echo "check-consumer: the consumer did not print an exact task-clock in ns" >&2
  exit 1
}
echo "check-consumer: a package depending only on PerfCounters resolved nothing else, built${offline:+ with no network} and ran (${SECONDS} s)"

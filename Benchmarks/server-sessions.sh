#!/usr/bin/env bash
# What sessions leave behind in `copyprof serve` (docs/two-hosts.md, "After a session"): starts a server on loopback
# on a port the kernel chooses, runs WARMUP sessions (what the first sessions set up once), then N sessions in a row,
# each a whole `copyprof run --connect` of one small cell (a timing and a counted trial, the default counters on both
# sides; the client samples its own threads, the server none), and prints the server's threads (/proc/PID/task),
# open descriptors (/proc/PID/fd), VmRSS and VmSize (/proc/PID/status) at its start, after the warm-up and after the
# N sessions (each read 0.5 s after the last session, as ServerHardeningTests does). Then stops the server with
# SIGTERM, as Ctrl-C would, and checks that it exited 0; it leaves no process and no file behind.
#
#   bash Benchmarks/server-sessions.sh [N=1000] [WARMUP=50] [copyprof run options for each session]
#   (default session: --transports two-copy --sizes 4096 --connections 2 --workloads stream --trials 1 --warmup 0
#    --duration 0.01; about 0.1-0.2 s a session on the 2-vCPU VM)
#
# ServerHardeningTests.aThousandSessionsLeaveThreadsDescriptorsAndMemoryFlat checks the same thing in `swift test`
# with 1,000 bare sessions (hello, bye) and 13 trials; this script gives the figures with the real client.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
sessions=${1:-1000}
warmup=${2:-50}
shift 2 || shift $# || true
[[ "$sessions" =~ ^[1-9][0-9]*$ ]] || { echo "server-sessions.sh: N must be a whole number from 1 up, not '$sessions'" >&2; exit 2; }
[[ "$warmup" =~ ^[0-9]+$ ]] || { echo "server-sessions.sh: WARMUP must be a whole number from 0 up, not '$warmup'" >&2; exit 2; }
cell=("$@")
[ ${#cell[@]} -gt 0 ] || cell=(--transports two-copy --sizes 4096 --connections 2 --workloads stream --trials 1 --warmup 0 --duration 0.01)
swift build -c release --product copyprof >&2
copyprof="$PWD/.build/release/copyprof"
work=$(mktemp -d)
server=""
stop_server() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

"$copyprof" serve --listen 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.err" &
server=$!
# Its first line says where it listens: "copyprof serve: listening on 127.0.0.1:PORT".
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/^copyprof serve: listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/serve.out")
  [ -n "$port" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.err" >&2; echo "server-sessions.sh: copyprof serve exited before listening" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "server-sessions.sh: copyprof serve did not say where it listens within 10 s" >&2; exit 1; }

footprint() { # label -> one line: threads, descriptors, VmRSS, VmSize of the server
  local threads fds rss size
  threads=$(ls "/proc/$server/task" | wc -l)
  fds=$(ls "/proc/$server/fd" | wc -l)
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$server/status")
  size=$(awk '/^VmSize:/ { print $2 }' "/proc/$server/status")
  printf '%-22s threads %3d   descriptors %3d   VmRSS %7d kB   VmSize %9d kB\n' "$1" "$threads" "$fds" "$rss" "$size"
}
session() {
  "$copyprof" run --connect "127.0.0.1:$port" "${cell[@]}" --no-report --output - > /dev/null 2> "$work/run.err" || {
    cat "$work/run.err" >&2
    echo "server-sessions.sh: session $1 failed (above); the server's last lines:" >&2
    tail -5 "$work/serve.err" >&2
    exit 1
  }
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
echo "server: copyprof serve --listen 127.0.0.1:$port (pid $server); each session: copyprof run --connect 127.0.0.1:$port ${cell[*]}"
sleep 0.5
footprint "at start"
for i in $(seq 1 "$warmup"); do session "warm-up $i"; done
sleep 0.5
footprint "after $warmup warm-up"
start=$(date +%s.%N)
for i in $(seq 1 "$sessions"); do session "$i"; done
end=$(date +%s.%N)
sleep 0.5
footprint "after $sessions sessions"
echo "$sessions sessions in $(printf '%.1f' "$(echo "$end - $start" | bc)") s"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM "$server"
status=0
wait "$server" || status=$?
server=""
echo "server stopped by SIGTERM: exit status $status"
[ "$status" -eq 0 ]

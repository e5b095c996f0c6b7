#!/usr/bin/env bash
# Proves that every transport's timed loops are equal in what they pay around the system call:
#
#   (a) disassembly: builds copyprof in release mode and finds the specialized timed loops by name — for every type
#       conforming to MessageSender (MessageReceiver), the specializations of streamSend, pingPongClient and echo
#       (streamReceive) — and walks every function they call in the binary. It fails when a loop, or a function
#       it reaches, calls swift_beginAccess, swift_retain/release or any other Swift runtime function, malloc and
#       kin, string building or any other Swift library function than `errno`, or calls through a register
#       (a witness table, a closure, a function merged by LLVM); when a loop is missing or its generic, unspecialized
#       form is called. Not walked: the out-of-line error constructors (FailurePath) and the TransportError helpers
#       the throw paths use, which run only once a run has failed; swift_willThrowTypedImpl (the throw itself).
#   (b) callgrind: user-space instructions per message of each sender's and receiver's stream loops (sender +
#       receiver, 512 B, one connection, 2 s, --events none) against Benchmarks/reference.c's C loops (gcc -O2): every
#       sender with the copy receiver, and two-copy with the discard and mmap receivers. reference.c has a C loop
#       per transport that needs more than one send() — marshal, one-copy, zero-copy — doing that transport's work
#       and nothing else; each of those senders, and two-copy, is held against the C loop of its own transport.
#
#   bash Benchmarks/hot-loops.sh                    both; fails if (a) fails or (b) is above a limit: two-copy and
#                                                   marshal (their C loop's work plus stamps and verification) 1.3×
#                                                   the C loop of their transport, one-copy and zero-copy their
#                                                   figures against it plus about 10% (`own_limit`); all four 1.3×
#                                                   the C loop of their transport with copyprof's stamps; sendfile
#                                                   and the other receivers, which have no C loop of their own, their
#                                                   figures against the C two-copy loop when they were written plus
#                                                   about 10% (the `fixed` table below)
#   bash Benchmarks/hot-loops.sh --disassembly-only (a) only: about a minute after a build; for CI
#   bash Benchmarks/hot-loops.sh --max-ratio 1.5    another limit for the senders with a C loop of their own
#   SIZE=4096 DURATION=1 bash Benchmarks/hot-loops.sh
#   BINARY=path/to/copyprof bash Benchmarks/hot-loops.sh   a copyprof built elsewhere (without DWARF, for callgrind)
#
# valgrind 3.19 cannot read the DWARF of Swift binaries, so copyprof is built without it, into .build-nodebug
# (symbols stay: the loops are found by their names).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

mode=all
max_ratio=1.3
while [ $# -gt 0 ]; do
  case "$1" in
    --disassembly-only) mode=disassembly ;;
    --max-ratio) max_ratio=${2:?--max-ratio needs a number}; shift ;;
    *) echo "unknown option $1 (use --disassembly-only or --max-ratio R)" >&2; exit 1 ;;
  esac
  shift
done
size=${SIZE:-512}
duration=${DURATION:-2}
# sender, or sender+receiver (the copy receiver when none is named)
paths=(two-copy marshal one-copy zero-copy sendfile two-copy+discard two-copy+mmap)

need=()
command -v objdump >/dev/null || need+=(binutils)
command -v python3 >/dev/null || need+=(python3)
if [ "$mode" = all ]; then
  command -v valgrind >/dev/null || need+=(valgrind)
  command -v gcc >/dev/null || need+=(gcc)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -n "${BINARY:-}" ]; then
  bin=$BINARY   # an already built copyprof (e.g. of another commit, to compare)
else
  # COPYPROF_SWIFT_FLAGS: extra flags, e.g. CI's -Xswiftc -warnings-as-errors (.ci/run).
  # shellcheck disable=SC2086
  swift build -c release --product copyprof --scratch-path .build-nodebug -Xswiftc -gnone -Xlinker --strip-debug \
    ${COPYPROF_SWIFT_FLAGS:-} >&2
  bin=.build-nodebug/release/copyprof
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- (a) the disassembly ----
objdump -d --no-show-raw-insn "$bin" | swift-demangle > "$work/asm"
nm "$bin" | swift-demangle > "$work/symbols"
status=0
python3 - "$work/asm" "$work/symbols" <<'PY' || status=1
import re, sys

asm_path, symbols_path = sys.argv[1], sys.argv[2]
functions = {}   # name -> list of (kind, target) for calls and tail calls
order = []
current = None
header = re.compile(r'^[0-9a-f]+ <(.*)>:$')
call = re.compile(r'^\s*[0-9a-f]+:\s+(call|jmp)\s+(.*)$')
for line in open(asm_path, errors="replace"):
    line = line.rstrip("\n")
    m = header.match(line)
    if m:
        current = m.group(1)
        functions.setdefault(current, [])
        order.append(current)
        continue
    if current is None:
        continue
    m = call.match(line)
    if not m:
        continue
    op, operand = m.groups()
    if operand.startswith("*") or operand.startswith("notrack"):
        if op == "call":
            functions[current].append(("indirect", operand))
        continue  # an indirect jmp is a jump table inside the function
    t = re.match(r'^[0-9a-f]+ <(.*)>$', operand)
    if not t:
        continue
    target = t.group(1)
    if op == "jmp":
        # A jump inside the function shows as <name+0x..>; a tail call names another function.
        if re.search(r'\+0x[0-9a-f]+$', target) or target == current:
            continue
    functions[current].append((op, target))

symbols = open(symbols_path, errors="replace").read()
def conformers(protocol):
    return sorted(set(re.findall(r'protocol conformance descriptor for Transports\.(\w+) : Transports\.' + protocol + ' in Transports', symbols)))
senders, receivers = conformers("MessageSender"), conformers("MessageReceiver")

loop_names = ("streamSend", "streamReceive", "pingPongClient", "echo")
names = "|".join(loop_names)
# "Transports.streamSend<", or "Transports.(streamSend in _HASH)<" for a private function.
loop_ref = r'Transports\.(?:\((' + names + r') in _[0-9A-F]+\)|(' + names + r'))'
spec = re.compile(r'^generic specialization <([^>]*)> of ' + loop_ref + '<')
def unwrap(name):
    """The name without LLVM's "merged " and the optimizer's signature-specialization prefixes."""
    name = name.removeprefix("merged ")
    while True:
        shorter = re.sub(r'^function signature specialization <[^>]*> of ', '', name, count=1)
        if shorter == name:
            return name
        name = shorter
loops = {}
for name in order:
    m = spec.match(unwrap(name))
    if m:
        types = [t.strip().removeprefix("Transports.") for t in m.group(1).split(",")]
        loops.setdefault((m.group(2) or m.group(3), tuple(types)), name)

problems = []
if not senders or not receivers:
    problems.append("no MessageSender or MessageReceiver conformances found in the binary")
for s in senders:
    if ("streamSend", (s,)) not in loops:
        problems.append(f"no specialized streamSend<{s}>")
    for loop in ("pingPongClient", "echo"):
        if not any(k[0] == loop and k[1][0] == s for k in loops):
            problems.append(f"no specialized {loop}<{s}, ...>")
for r in receivers:
    if ("streamReceive", (r,)) not in loops:
        problems.append(f"no specialized streamReceive<{r}>")
for name in order:
    if name.startswith("merged ") and re.search(loop_ref + '<', name):
        problems.append(f"LLVM merged a loop with another (it then calls through a function pointer): {name[:160]}")
generic = re.compile(r'^' + loop_ref + '<')
for name in order:
    for kind, target in functions[name]:
        if generic.match(target):
            problems.append(f"{name[:100]} calls the unspecialized {target[:100]}")

# What a timed loop may reach.
cold = re.compile(r'(^|specialization <[^>]*> of |of )static Transports\.FailurePath\.'
                  r'|^lazy protocol witness table accessor for type Transports\.TransportError and conformance'
                  r'|^outlined (init with copy|init with take|copy|consume|destroy|assign with copy|assign with take|retain|release) of Transports\.TransportError')
allowed_plt = {"Glibc.errno.getter : Swift.Int32", "swift_willThrowTypedImpl"}
forbidden_plt = re.compile(r'^(swift_|_swift_|malloc$|calloc$|realloc$|free$|posix_memalign$|aligned_alloc$|memalign$|valloc$|operator new|\$s)|Swift\.|Foundation\.')

def walk(root):
    seen, stack, external, internal, bad = {root}, [root], set(), set(), []
    while stack:
        fn = stack.pop()
        for kind, target in functions.get(fn, []):
            if kind == "indirect":
                bad.append(f"indirect call {target} in {fn[:100]}")
                continue
            if target.endswith("@plt"):
                callee = target[:-4]
                if callee not in allowed_plt and forbidden_plt.search(callee):
                    bad.append(f"call to {callee[:100]} in {fn[:100]}")
                else:
                    external.add(callee)
                continue
            if cold.search(target):
                continue
            internal.add(target)
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return external, internal, bad

print("Disassembly of the timed loops (objdump -d of the release build):\n")
for (loop, types), name in sorted(loops.items()):
    external, internal, bad = walk(name)
    label = f"{loop}<{', '.join(types)}>"
    print(f"  {label}: {'ok' if not bad else 'FAILED'}")
    print(f"    calls: {', '.join(sorted(external)) or '-'}")
    def short(t):
        t = re.sub(r'^.* of ', '', t)                     # "generic specialization <...> of X" -> X
        t = re.sub(r'\((\w+) in _[0-9A-F]+\)', r'\1', t)  # private names: "(drain in _HASH)" -> drain
        return re.sub(r'\(.*', '', t).replace('Transports.', '')
    helpers = sorted(short(t) for t in internal)
    print(f"    reaches: {', '.join(helpers) or '-'}")
    counted = {}
    for b in bad:
        counted[b] = counted.get(b, 0) + 1
    bad = [b if n == 1 else f"{b} ({n}×)" for b, n in counted.items()]
    for b in bad:
        print(f"    ! {b}")
    problems += [f"{label}: {b}" for b in bad]
print()
if problems:
    print("FAILED:")
    for p in problems:
        print(f"  - {p}")
    sys.exit(1)
print(f"ok: {len(loops)} specialized loops for {len(senders)} senders ({', '.join(senders)}) and "
      f"{len(receivers)} receiver{'s' if len(receivers) != 1 else ''} ({', '.join(receivers)}): no witness-table or "
      "other indirect call, no exclusivity check, retain/release or allocation.")
PY
[ "$mode" = disassembly ] && exit $status

# ---- (b) callgrind: instructions per message ----
echo >&2
command -v valgrind >/dev/null
mkdir -p .build/bench
gcc -O2 -g -pthread -o .build/bench/reference-debuginfo Benchmarks/reference.c
: > "$work/results.tsv"
for path in "${paths[@]}"; do
  transport=${path%%+*}
  receiver=copy
  [ "$path" != "$transport" ] && receiver=${path#*+}
  echo "callgrind: copyprof $path, $size B, ${duration} s" >&2
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.$path" "$bin" run --transports "$transport" \
    --receivers "$receiver" --sizes "$size" --connections 1 --workloads stream --trials 1 --warmup 0 --duration "$duration" \
    --events none --output "$work/$path.json" --no-report >/dev/null 2>"$work/valgrind.$path" \
    || { cat "$work/valgrind.$path" >&2; exit 1; }
  callgrind_annotate --threshold=100 --inclusive=yes --tree=calling "$work/cg.$path" 2>/dev/null | swift-demangle > "$work/annotate.$path"
  python3 - "$path" "$work/annotate.$path" "$work/$path.json" >> "$work/results.tsv" <<'PY'
import json, re, sys
path, annotate, profile = sys.argv[1:]
transport = path.split("+")[0]
# callgrind_annotate --tree=calling: each function's line is marked "*", the functions it calls follow marked ">".
line_re = re.compile(r'^\s*([\d,]+) \(\s*[\d.]+%\)\s+([*>])\s+.*?:(.*)$')
entries = []
for line in open(annotate, errors="replace"):
    m = line_re.match(line)
    if m:
        entries.append((m.group(2), int(m.group(1).replace(",", "")), m.group(3)))
def loop_cost(pattern):
    """Inclusive instructions of the functions matching `pattern`."""
    total = sum(cost for mark, cost, name in entries if mark == "*" and re.search(pattern, name))
    if total == 0:
        sys.exit(f"{path}: no callgrind line matches {pattern}")
    return total
# The specialized loops (only the transport under test runs); "(name in _HASH)" when the function is private.
prefix = r'^(merged )?(function signature specialization <[^>]*> of )?(generic specialization <[^>]*> of )?'
sender = loop_cost(prefix + r'Transports\.(\(streamSend in _\w+\)|streamSend)<')
receiver = loop_cost(prefix + r'Transports\.(\(streamReceive in _\w+\)|streamReceive)[<(]')
# The profile keeps what each worker did; the sender's loop counted the messages it sent, the receiver's those
# it verified (what the sender queued before it saw the stop is drained after the loop, outside it).
trial = json.load(open(profile))["cells"][0]["trials"][0]
sent = sum(w["sent"]["messages"] for w in trial["workers"] if w.get("sent"))
received = sum(w["received"]["messages"] for w in trial["workers"] if w.get("received"))
print(f"copyprof {path}\t{sender / sent:.1f}\t{receiver / received:.1f}\t{sent}")
PY
done
# The C loops: two-copy's, and one per sender whose transport requires more than one send() (reference.c's SENDER);
# each plain, and with copyprof's 8 stamps per message and the receiver's check of the first (REFERENCE_STAMPS=1).
for variant in plain stamped; do
for sender in two-copy marshal one-copy zero-copy; do
  echo "callgrind: C loop $sender, $variant (Benchmarks/reference.c, gcc -O2), $size B, ${duration} s" >&2
  REFERENCE_STAMPS=$([ $variant = stamped ] && echo 1 || echo 0) \
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.c.$sender" .build/bench/reference-debuginfo stream "$size" 1 \
    "$duration" "$sender" > "$work/c.out.$sender" 2>"$work/valgrind.c.$sender"
  callgrind_annotate --threshold=100 --inclusive=yes "$work/cg.c.$sender" 2>/dev/null > "$work/annotate.c.$sender"
  python3 - "$sender" "$work/annotate.c.$sender" "$work/c.out.$sender" "$variant" >> "$work/results.tsv" <<'PY'
import re, sys
sender, annotate, out, variant = sys.argv[1:]
suffix = "_stamped" if variant == "stamped" else ""
values = dict(line.split() for line in open(out))
def inclusive(name):
    for line in open(annotate, errors="replace"):
        m = re.match(r'^\s*([\d,]+) .*:' + name + r'\b', line)
        if m:
            return int(m.group(1).replace(",", ""))
    sys.exit(f"C loop {sender}: no callgrind line for {name}")
loop = {"two-copy": "stream_send_loop", "marshal": "marshal_send_loop", "one-copy": "one_copy_send_loop",
        "zero-copy": "zero_copy_send_loop"}[sender] + suffix
sent, received = int(values["messages_sent"]), int(values["messages_received"])
if int(values.get("stamp_errors", 0)):
    sys.exit(f"C loop {sender}, stamped: the receiver found wrong stamps")
name = f"C loop {sender}" + (", stamped" if suffix else "")
print(f"{name}\t{inclusive(loop) / sent:.1f}\t{inclusive('stream_receive_loop' + suffix) / received:.1f}\t{sent}")
PY
done
done

python3 - "$work/results.tsv" "$size" "$duration" "$max_ratio" <<'PY' || status=1
import sys
path, size, duration, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
rows = [line.rstrip("\n").split("\t") for line in open(path)]
total = {r[0]: float(r[1]) + float(r[2]) for r in rows}
c_total = total["C loop two-copy"]
print(f"\nUser-space instructions per message (valgrind --tool=callgrind, inclusive, stream, {size} B, one connection, "
      f"{duration} s, copyprof --events none):\n")
print("| loop | sender | receiver | sender + receiver | vs C two-copy loop | vs C loop of its transport | "
      "vs it with stamps | limit | messages sent |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
# Every copyprof sender with a C loop of its own transport (two-copy, marshal, one-copy, zero-copy: the same work
# without stamps and verification) is held to `limit` times that loop. sendfile, and two-copy into the discard and
# mmap receivers, have no C loop of their own: they are held against the C two-copy loop to their figures of
# 2026-11-27 plus about 10% (0.98×, 1.20×, 1.34–1.63×): sendfile's sender makes no user-space copy, discard's receiver
# reads nothing, and mmap's receiver adds getsockopt and the bookkeeping of mapped and copied pieces.
# mmap's figure moves most with valgrind's scheduling (how many bytes arrive mappable: 1.34–1.63× in six runs on
# 2026-11-27), so its limit is the top of that range plus about 10%.
fixed = {"copyprof sendfile": 1.1, "copyprof two-copy+discard": limit, "copyprof two-copy+mmap": 1.8}
# one-copy and zero-copy are above the target against their own C loops, which send 8 iovecs with no stamps and
# verify nothing: copyprof's 8 stamps (4 instructions each) and the receiver's check of them are a larger share of
# their cheaper loops. They are held to their figures of 2026-11-27 (1.37× and 1.32×) plus about 10% until that
# changes, so that a regression still shows.
own_limit = {"copyprof one-copy": 1.5, "copyprof zero-copy": 1.45}
failed = []
for row in rows:
    name, sender, receiver, messages = row[0], float(row[1]), float(row[2]), int(row[-1])
    own = stamped = None
    if name.startswith("copyprof ") and "+" not in name and f"C loop {name[9:]}" in total:
        own = total[f"C loop {name[9:]}"]
        stamped = total.get(f"C loop {name[9:]}, stamped")
    ratio = (sender + receiver) / own if own else None
    stamped_ratio = (sender + receiver) / stamped if stamped else None
    bound = own_limit.get(name, limit) if own else fixed.get(name)
    print(f"| {name} | {sender:.0f} | {receiver:.0f} | {sender + receiver:.0f} | {(sender + receiver) / c_total:.2f}× | "
          f"{f'{ratio:.2f}×' if ratio else '—'} | {f'{stamped_ratio:.2f}×' if stamped_ratio else '—'} | "
          f"{f'{bound}×' if bound else ''} | {messages} |")
    measured = ratio if own else (sender + receiver) / c_total
    if bound and measured > bound:
        failed.append(f"{name}: {measured:.2f}× the instructions per message of "
                      f"{'the C loop of its transport' if own else 'the C two-copy loop'} (limit {bound}×)")
    if stamped_ratio and stamped_ratio > limit:
        failed.append(f"{name}: {stamped_ratio:.2f}× the instructions per message of the C loop of its transport "
                      f"with copyprof's stamps (limit {limit}×)")
print("\nThe C loops (Benchmarks/reference.c) do each transport's work and nothing else: no stamps, no verification, "
      "no statistics; \"with stamps\" they also write copyprof's 8 stamps per message and check the first on receipt, "
      "as copyprof's message format asks of every transport (REFERENCE_STAMPS=1). Under valgrind the threads take "
      "turns, so a zero-copy sender waits for completions more often than it does natively.")
if failed:
    print("\nFAILED:\n" + "\n".join(f"  - {f}" for f in failed))
    sys.exit(1)
print("\nok: every transport within its limit.")
PY
exit $status

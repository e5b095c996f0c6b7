// What symbolization costs in this process: loading /proc/kallsyms and the mapped files' symbol tables, and
// resolving an address. Benchmarks/symbols.sh runs it in release mode; its figures go into the docs.
//
//     swift run -c release symbolize [ELF FILE...]   # also loads each file's symbols as if it were mapped
//     ... | swift run -c release symbolize --kernel   # names each hex kernel address read from stdin
import PerfSymbols
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// VmRSS or VmHWM of this process in KiB, from /proc/self/status.
func statusKiB(_ field: String) -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix(field + ":") { return Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0 }
    }
    return 0
}

func milliseconds(_ nanoseconds: UInt64) -> String {
    let value = Double(nanoseconds) / 1e6
    return value < 10 ? String(Int(value * 10) / 10) + "." + String(Int(value * 10) % 10) : String(Int(value))
}

func mebibytes(_ bytes: Int) -> String { String(Int(Double(bytes) / 1_048_576 * 10) / 10) + "." + String(Int(Double(bytes) / 1_048_576 * 10) % 10) }

/// A deterministic spread of addresses: xorshift64.
struct Addresses: IteratorProtocol {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    mutating func next() -> UInt64? {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}

/// Nanoseconds per lookup over `addresses`, best of three passes (the first pass also fills the demangling cache).
func nanosecondsPerLookup(_ addresses: [UInt64], _ lookup: (UInt64) -> SymbolizedFrame) -> (first: Double, best: Double, resolved: Int) {
    var best = Double.infinity
    var first = 0.0
    var resolved = 0
    for pass in 0..<3 {
        var count = 0
        let start = monotonicNanoseconds()
        for address in addresses where lookup(address).isResolved { count += 1 }
        let perLookup = Double(monotonicNanoseconds() - start) / Double(addresses.count)
        if pass == 0 { first = perLookup }
        best = min(best, perLookup)
        resolved = count
    }
    return (first, best, resolved)
}

/// Reads a /proc file whole.
func readAll(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw SystemCallError("open(\(path))") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<n])
    }
}

if CommandLine.arguments.dropFirst().first == "--kernel" {
    // One hex address per line in, `address name` out (`[kernel, unresolved]` and the reason when unnamed): to
    // cross-check against `perf script -F ip,sym`.
    let kernel = KernelSymbols.load()
    while let line = readLine() {
        let text = line.trimmingPrefix("0x")
        guard let address = UInt64(text, radix: 16) else { continue }
        let frame = kernel.lookup(address)
        print(String(address, radix: 16), frame.isResolved ? frame.name : "\(frame.name) \(frame.unresolvedReason ?? "")")
    }
    exit(0)
}

let rssBefore = statusKiB("VmRSS")
var start = monotonicNanoseconds()
let kernel = KernelSymbols.load()
let kernelLoad = monotonicNanoseconds() - start
let rssAfterKernel = statusKiB("VmRSS")
print("kernel: /proc/kallsyms")
switch kernel.status {
case .resolvable:
    print("  \(kernel.count) functions (one per address) in \(milliseconds(kernelLoad)) ms; table \(mebibytes(kernel.retainedBytes)) MiB; RSS +\(mebibytes((rssAfterKernel - rssBefore) * 1024)) MiB, peak RSS \(mebibytes(statusKiB("VmHWM") * 1024)) MiB")
case .hidden(let reason), .unreadable(let reason):
    print("  not resolvable (\(milliseconds(kernelLoad)) ms): \(reason)")
}

start = monotonicNanoseconds()
let user = UserSymbols.loadSelf()
let userLoad = monotonicNanoseconds() - start
print("user: this process's executable mappings, all objects in \(milliseconds(userLoad)) ms")
let maps = MemoryMapping.parse(String(decoding: (try? readAll("/proc/self/maps")) ?? [], as: UTF8.self))
for object in user.objects {
    let mapping = maps.filter(\.isExecutable).filter { $0.path == object.path }
    let begin = monotonicNanoseconds()
    _ = UserSymbols(mappings: mapping)
    let time = monotonicNanoseconds() - begin
    print("  \(object.path): \(object.functionCount) functions from \(object.symbolSource ?? "nothing") in \(milliseconds(time)) ms, \(mebibytes(object.retainedBytes)) MiB")
}
for path in CommandLine.arguments.dropFirst() {
    var status = stat()
    guard stat(path, &status) == 0 else {
        print("  \(path): cannot stat: \(Errno.current)")
        continue
    }
    let mapping = MemoryMapping(addresses: 0x1000..<0x2000, permissions: "r-xp", fileOffset: 0, inode: UInt64(status.st_ino), path: path)
    let begin = monotonicNanoseconds()
    let loaded = UserSymbols(mappings: [mapping])
    let time = monotonicNanoseconds() - begin
    if let object = loaded.objects.first {
        print("  \(path) (not mapped, loaded as if it were): \(object.functionCount) functions from \(object.symbolSource ?? "nothing") in \(milliseconds(time)) ms, \(mebibytes(object.retainedBytes)) MiB")
    }
}

// Lookups: addresses spread over the kernel's text and over this process's executable mappings.
let count = 200_000
var random = Addresses()
// The kernel image's text (modules live above 0xffffffffc0000000 on x86-64).
let moduleArea: UInt64 = 0xffff_ffff_c000_0000
let kernelText = kernel.functions.map(\.address).filter { $0 < moduleArea }.sorted()
if kernel.status == .resolvable, kernelText.count > 1 {
    // Inside functions (a sample's case): a random function, a random offset short of the next one.
    let inside = (0..<count).map { _ -> UInt64 in
        let index = Int(random.next()! % UInt64(kernelText.count - 1))
        let size = max(1, kernelText[index + 1] - kernelText[index])
        return kernelText[index] + random.next()! % size
    }
    let cost = nanosecondsPerLookup(inside) { kernel.lookup($0) }
    print("kernel lookups inside functions: \(Int(cost.best)) ns per address, \(cost.resolved) of \(count) resolved")
    // A profile's case: a few hundred hot addresses, over and over.
    let hot = (0..<count).map { inside[$0 % 500] }
    let hotCost = nanosecondsPerLookup(hot) { kernel.lookup($0) }
    print("kernel lookups of 500 hot addresses repeated: \(Int(hotCost.best)) ns per address")
    // Anywhere from the first to the last text symbol: half of it is the gap between _etext and the init text.
    let anywhere = (0..<count).map { _ in kernelText[0] + random.next()! % (kernelText.last! - kernelText[0]) }
    let anyCost = nanosecondsPerLookup(anywhere) { kernel.lookup($0) }
    print("kernel lookups anywhere in the text's span: \(Int(anyCost.best)) ns per address (the unresolved ones format their reason), \(anyCost.resolved) of \(count) resolved")
}
let executable = user.mappings
let weights = executable.map { UInt64($0.addresses.count) }
let total = weights.reduce(0, +)
let userAddresses = (0..<count).map { _ -> UInt64 in
    var offset = random.next()! % total
    for mapping in executable {
        if offset < UInt64(mapping.addresses.count) { return mapping.addresses.lowerBound + offset }
        offset -= UInt64(mapping.addresses.count)
    }
    return 0
}
let userCost = nanosecondsPerLookup(userAddresses) { user.lookup($0) }
print("user lookups anywhere in the executable mappings: \(Int(userCost.best)) ns per address with names cached (first pass, demangling each new symbol: \(Int(userCost.first)) ns), \(userCost.resolved) of \(count) resolved")
let resolvedUser = userAddresses.filter { user.lookup($0).isResolved }
let resolvedCost = nanosecondsPerLookup(resolvedUser) { user.lookup($0) }
print("user lookups of those that resolve: \(Int(resolvedCost.best)) ns per address with names cached")
let hotUser = (0..<count).map { resolvedUser[$0 % 500] }
let hotUserCost = nanosecondsPerLookup(hotUser) { user.lookup($0) }
print("user lookups of 500 hot addresses repeated: \(Int(hotUserCost.best)) ns per address")

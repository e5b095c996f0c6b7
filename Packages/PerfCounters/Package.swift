// swift-tools-version: 6.1
import PackageDescription

// The counters library on its own: no package dependencies, so a package that imports PerfCounters resolves
// and builds nothing else. copyprof (the package at the repository's root) depends on it by path.
let package = Package(
    name: "PerfCounters",
    products: [
        /// Per-thread hardware and software counters read inside the process (perf_event_open).
        .library(name: "PerfCounters", targets: ["PerfCounters"]),
        /// The system-call layer shared with copyprof's modules: one errno type, one EINTR-retrying helper, the clocks,
        /// one joinable (named) thread type, close-on-exec descriptors and a pipe ping-pong between two threads.
        .library(name: "SystemCalls", targets: ["SystemCalls"]),
        /// Names for sampled addresses: kernel functions from /proc/kallsyms, this process's from its ELF files.
        .library(name: "PerfSymbols", targets: ["PerfSymbols"]),
    ],
    targets: [
        /// C shim: perf_event_open (a variadic syscall), the PERF_EVENT_IOC_* ioctls, RUSAGE_THREAD, gettid, and the
        /// acquire/release access to a sampling ring's data_head and data_tail.
        .target(
            name: "CPerfEvent",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        /// C shim: what Glibc's module leaves out (declared only under _GNU_SOURCE): accept4, pipe2, gettid,
        /// pthread_setname_np.
        .target(
            name: "CSystemCalls",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        /// What a failed system call left behind, as one error type; EINTR retried; the monotonic and thread CPU
        /// clocks; named joinable threads; close-on-exec descriptors; the pipe ping-pong.
        .target(name: "SystemCalls", dependencies: ["CSystemCalls"]),
        .target(
            name: "PerfCounters",
            dependencies: ["CPerfEvent", "SystemCalls"]
        ),
        /// Symbols for sampled addresses: /proc/kallsyms for the kernel; /proc/self/maps and each mapped file's ELF
        /// symbol tables (or its debug file by build-id) for user space; Swift names demangled by the runtime.
        .target(name: "PerfSymbols", dependencies: ["SystemCalls"]),
        /// Counts a region of code as the README shows: `swift run count-region`.
        .executableTarget(
            name: "count-region",
            dependencies: ["PerfCounters"],
            path: "Examples/count-region"
        ),
        /// What symbolization costs in this process: `swift run -c release symbolize` (Benchmarks/symbols.sh).
        .executableTarget(
            name: "symbolize",
            dependencies: ["PerfSymbols", "SystemCalls"],
            path: "Examples/symbolize"
        ),
        /// Samples a busy region and says what the sampler took: `swift run sample-region`. The tests run it as an
        /// unprivileged user.
        .executableTarget(
            name: "sample-region",
            dependencies: ["PerfCounters"],
            path: "Examples/sample-region"
        ),
        /// What sampling costs around a region and per sample drained: `swift run -c release sampler-cost`.
        .executableTarget(
            name: "sampler-cost",
            dependencies: ["PerfCounters", "SystemCalls"],
            path: "Benchmarks/sampler-cost"
        ),
        /// For tests only: a seccomp filter on one thread that refuses perf_event_open, as a container's does.
        .target(name: "CSeccompTestSupport", path: "Tests/CSeccompTestSupport"),
        .testTarget(
            name: "PerfCountersTests",
            dependencies: ["PerfCounters", "CPerfEvent", "CSeccompTestSupport", "SystemCalls", "sample-region"]
        ),
        .testTarget(name: "PerfSymbolsTests", dependencies: ["PerfSymbols"]),
        .testTarget(name: "SystemCallsTests", dependencies: ["SystemCalls"]),
    ],
    swiftLanguageModes: [.v6]
)

// `swift package generate-documentation` (swift-docc-plugin) only when asked for, so that a package depending on
// PerfCounters never resolves the plugin: PERFCOUNTERS_DOCC_PLUGIN=1 swift package generate-documentation
if Context.environment["PERFCOUNTERS_DOCC_PLUGIN"] != nil {
    package.dependencies.append(.package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"))
}

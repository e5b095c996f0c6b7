// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "copyprof",
    products: [
        /// The two-copy, marshal, one-copy and zero-copy TCP transports and their workloads.
        .library(name: "Transports", targets: ["Transports"]),
        .executable(name: "copyprof", targets: ["copyprof"]),
    ],
    dependencies: [
        // The counters library, its own package so that importing it pulls in nothing else.
        .package(path: "Packages/PerfCounters"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        .target(
            name: "CLinuxNet",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        /// The run vocabulary every layer shares, and the folded-stack format (written by the sweep's attribution,
        /// read and written by the report's exports: one writer and parser for both).
        .target(name: "CopyprofModel"),
        /// copyprof's files on disk: outputs written without losing a byte or destroying what was there (a regular
        /// file atomically, a device or FIFO in place, standard output), a profile's bytes read with errors a user can
        /// act on. The system calls of the profile and the report go through it.
        .target(
            name: "CopyprofFiles",
            dependencies: ["CopyprofModel", .product(name: "SystemCalls", package: "PerfCounters")]
        ),
        /// Where a sample's time goes: the attribution table (function → category), the call-graph walk that charges
        /// a sample and per-category totals. Names in, data out.
        .target(name: "CopyprofAttribution", dependencies: ["CopyprofModel"]),
        .target(
            name: "Transports",
            dependencies: [
                "CLinuxNet",
                "CopyprofModel",
                .product(name: "SystemCalls", package: "PerfCounters"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .target(
            name: "CopyprofProfile",
            dependencies: ["CopyprofModel", "CopyprofFiles"]
        ),
        .target(
            name: "CopyprofSweep",
            dependencies: [
                "CopyprofProfile",
                "CopyprofModel",
                "CopyprofAttribution",
                .product(name: "PerfCounters", package: "PerfCounters"),
                .product(name: "PerfSymbols", package: "PerfCounters"),
                .product(name: "SystemCalls", package: "PerfCounters"),
                "Transports",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        /// The control plane of two-host runs (as neper keeps control_plane.c apart from the flows): the versioned
        /// control protocol, `copyprof serve`'s server, the client a sweep runs its remote trials through, the
        /// route each side's data takes. It builds on the sweep (trials, record conversion, environment capture);
        /// the sweep knows the client only through its `RemoteTrialRunner` protocol.
        .target(
            name: "CopyprofRemote",
            dependencies: [
                "CLinuxNet",
                "CopyprofModel",
                "CopyprofProfile",
                "CopyprofSweep",
                .product(name: "PerfCounters", package: "PerfCounters"),
                .product(name: "SystemCalls", package: "PerfCounters"),
                "Transports",
            ]
        ),
        .target(
            name: "CopyprofReport",
            dependencies: ["CopyprofModel", "CopyprofProfile", "CopyprofFiles"]
        ),
        .executableTarget(
            name: "copyprof",
            dependencies: [
                "CopyprofFiles",
                "CopyprofProfile",
                "CopyprofSweep",
                "CopyprofRemote",
                "CopyprofReport",
                "CopyprofModel",
                .product(name: "PerfCounters", package: "PerfCounters"),
                "Transports",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        /// Charges the samples of `perf script` output to copyprof's categories: Benchmarks/attribution-crosscheck.sh.
        .executableTarget(
            name: "perf-script-attribution",
            dependencies: ["CopyprofAttribution", "CopyprofModel", .product(name: "PerfSymbols", package: "PerfCounters")],
            path: "Benchmarks/perf-script-attribution"
        ),
        .testTarget(
            name: "TransportsTests",
            dependencies: ["CopyprofModel", "Transports", .product(name: "SystemCalls", package: "PerfCounters")]
        ),
        .target(
            name: "TestSupport",
            dependencies: ["CopyprofModel", "CopyprofProfile"],
            path: "Tests/TestSupport",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "CopyprofAttributionTests",
            dependencies: [
                "CopyprofAttribution", "CopyprofModel", .product(name: "PerfSymbols", package: "PerfCounters"),
            ]
        ),
        .testTarget(name: "CopyprofProfileTests", dependencies: ["CopyprofModel", "CopyprofProfile", "TestSupport"]),
        .testTarget(
            name: "CopyprofReportTests", dependencies: ["CopyprofModel", "CopyprofReport", "CopyprofProfile", "TestSupport"]),
        .testTarget(
            name: "CopyprofCLITests",
            dependencies: [
                "CopyprofFiles",
                "CopyprofModel",
                "CopyprofProfile",
                "CopyprofSweep",
                "CopyprofRemote",
                "CopyprofReport",
                .product(name: "PerfCounters", package: "PerfCounters"),
                "Transports",
                "TestSupport",
                "copyprof",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

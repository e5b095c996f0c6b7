import Foundation
import Testing
import TestSupport

@testable import CopyprofProfile

/// The profile format is a contract: saved profiles of every schema version read, and the current one is written
/// byte for byte as it was. A renamed, added or removed field fails here until the schema version and a reader for
/// the old version say otherwise.
@Suite struct GoldenProfileTests {
    /// Schema 3 only adds optional fields (sampling), so a schema 2 profile re-encodes to its own bytes.
    @Test func schema2ProfileRoundTripsByteForByte() throws {
        let saved = try Fixtures.data(Fixtures.schema2Sweep)
        let profile = try Profile.decode(saved, path: Fixtures.schema2Sweep)
        #expect(profile.schemaVersion == 2 && Profile.currentSchemaVersion == 3)
        #expect(profile.sampling == nil && profile.frameNames == nil)
        #expect(profile.cells.allSatisfy { $0.stacks == nil && $0.trials.allSatisfy { $0.workers.allSatisfy { $0.attribution == nil } } })
        let written = try profile.jsonData()
        #expect(written == saved, "re-encoding the saved profile changed its bytes: the format changed")
    }

    @Test func schema2FixtureHoldsWhatTheTestsRelyOn() throws {
        let profile = try Profile.decode(try Fixtures.data(Fixtures.schema2Sweep), path: "")
        #expect(profile.cells.count == 32)
        #expect(profile.cells.allSatisfy { $0.error == nil })
        for cell in profile.cells {
            #expect(cell.trials.filter { $0.kind == .timing }.map(\.round) == Array(1...6).map { $0 }, "\(cell.key)")
            #expect(cell.trials.filter { $0.kind == .counted }.map(\.round) == Array(1...6).map { $0 }, "\(cell.key)")
            #expect(cell.trials.filter { $0.kind == .timing }.allSatisfy { $0.workers.allSatisfy(\.counters.isEmpty) })
            #expect(cell.trials.filter { $0.kind == .counted }.allSatisfy { $0.workers.allSatisfy { $0.counters["task-clock"] != nil } })
        }
        #expect(profile.cells.allSatisfy { $0.trials.allSatisfy { $0.workers.allSatisfy { $0.tid == nil } } },
                "written before thread ids were recorded")
        let control = try #require(profile.control)
        #expect(control.samples.map(\.round) == Array(1...6))
        #expect(control.samples.allSatisfy { $0.cpuNs > 0 && $0.copyNs > 0 && $0.syscallNs > 0 && $0.wakeNs > 0 && $0.wakeCPUNs > 0 })
        let pingpong = try #require(profile.cells.first { $0.key.workload == .pingpong }?.trials.first?.rtt)
        #expect(pingpong.histogram.totalCount == pingpong.count, "the buckets hold every recorded round trip")
        let zeroCopy = try #require(profile.cells.first { $0.key.transport == .zeroCopy }?.trials.first?.zeroCopy)
        #expect(zeroCopy.sends > 0 && zeroCopy.completions <= zeroCopy.sends)
    }

    /// Every field of every record, with a value, against its JSON name: pins the names a profile may hold.
    @Test func everyFieldHasItsPinnedName() throws {
        var profile = try Profile.decode(try Fixtures.data(Fixtures.schema2Sweep), path: "")
        profile.statusReason = "interrupted (Ctrl-C)"
        profile.environment.cpuVendor = "AuthenticAMD"
        profile.environment.cpuFamily = 25
        profile.remote = RemoteInfo(
            server: "192.0.2.1:7115", serverEnvironment: profile.environment,
            clientPath: NetworkPath(peer: "192.0.2.1", interface: "veth0", mtu: 1500, kind: .veth),
            serverPath: NetworkPath(peer: "192.0.2.2", interface: "veth1", mtu: 1500, kind: .veth))
        var trial = profile.cells[0].trials[0]
        trial.firstMismatch = MismatchRecord(sequence: 7, offset: 9)
        trial.workers[0].host = "vm@192.0.2.2"
        trial.workers[0].tid = 4242
        trial.workers[0].unavailable = ["cycles": "not-supported: ENOENT"]
        trial.workers[0].sent = SenderRecord(messages: 1, bytes: 2, sendCalls: 3, partialWrites: 4, zeroCopy: ZeroCopyRecord(sends: 1))
        trial.workers[1].received = ReceiverRecord(
            messages: 1, bytes: 2, recvCalls: 3, integrityErrors: 1, firstMismatch: MismatchRecord(sequence: 7, offset: 9),
            drainedMessages: 5, verified: false,
            zeroCopyReceive: ZeroCopyReceiveRecord(
                mappedBytes: 0, copiedBytes: 2, mapCalls: 1, copyCalls: 1, unmappedReason: "send() copies into page fragments"))
        profile.cells[0].error = "trial 2: failed"
        profile.cells[0].notSupported = "io_uring_setup failed: EPERM"
        profile.cells[0].trials = [trial]
        let pingpong = try #require(profile.cells.first { $0.key.workload == .pingpong && $0.key.transport == .zeroCopy })
        profile.cells = [profile.cells[0], pingpong]

        // Schema 3's sampling, every optional field given, from the sampled fixture.
        let sampled = try Profile.decode(try Fixtures.data(Fixtures.schema3Sampled), path: "")
        var sampling: SamplingRecord = try #require(sampled.sampling)
        sampling.modeReason = "user space only: kernel samples are not permitted"
        sampling.grantedFrequency = 3000
        sampling.kernelSymbolsUnresolved = "kptr_restrict"
        sampling.notes = ["a note"]
        sampling.cacheMissEvents = ["L1-dcache-load-misses"]
        profile.sampling = sampling
        profile.notSampledReason = "a two-host run is not sampled"
        profile.frameNames = sampled.frameNames
        let sampledCell = try #require(sampled.cells.first { $0.stacks != nil })
        profile.cells[0].stacks = sampledCell.stacks
        let sampledWorker = try #require(sampledCell.trials.flatMap(\.workers).first { $0.attribution != nil })
        profile.cells[0].trials[0].workers[0].attribution = sampledWorker.attribution
        profile.cells[0].trials[0].workers[0].attribution!.throttled = 1
        profile.cells[0].trials[0].workers[0].cacheMissAttribution = ["L1-dcache-load-misses": sampledWorker.attribution!]

        let paths = try Self.paths(of: profile.jsonData())
        let expected: Set<String> = Set(Self.pinnedPaths.split(separator: "\n").map(String.init))
        #expect(paths.subtracting(expected).sorted() == [], "fields the pinned list does not know")
        #expect(expected.subtracting(paths).sorted() == [], "pinned fields the profile no longer has")
    }

    @Test func schema1ProfilesStillRead() throws {
        let profile = try Profile.decode(try Fixtures.data(Fixtures.schema1Sweep), path: Fixtures.schema1Sweep)
        #expect(profile.schemaVersion == 1)
        #expect(profile.cells.count == 8)
        let rtt = try #require(profile.cells.first { $0.key.workload == .pingpong }?.trials.first?.rtt)
        // The schema 1 array of [value, count] pairs, as the file has it.
        let object = try #require(try JSONSerialization.jsonObject(with: Fixtures.data(Fixtures.schema1Sweep)) as? [String: Any])
        let cells = try #require(object["cells"] as? [[String: Any]])
        let raw = try #require(cells.first { ($0["key"] as? [String: Any])?["mode"] as? String == "pingpong" })
        let firstTrial = try #require((raw["trials"] as? [[String: Any]])?.first)
        let pairs = try #require((firstTrial["rtt"] as? [String: Any])?["histogram"] as? [[UInt64]])
        #expect(rtt.histogram.pairs.map { [$0.value, $0.count] } == pairs)
        #expect(rtt.histogram.totalCount == rtt.count)
    }

    @Test func aSchema1ProfileIsWrittenInTheCurrentSchema() throws {
        let old = try Profile.decode(try Fixtures.data(Fixtures.schema1Sweep), path: "")
        let path = try temporaryDirectory() + "/rewritten.json"
        try old.write(to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("\"schemaVersion\":\(Profile.currentSchemaVersion)"))
        let again = try Profile.read(from: path)
        #expect(again.cells.count == old.cells.count)
        #expect(again.cells[0].trials[0].bytes == old.cells[0].trials[0].bytes)
    }

    @Test func histogramBucketsRoundTripAndRejectNonsense() throws {
        let buckets = HistogramBuckets([(100, 2), (150, 1), (1_000_000, 3)])
        #expect(buckets.text == "100:2 50:1 999850:3")
        #expect(buckets.pairs.map(\.value) == [100, 150, 1_000_000] && buckets.totalCount == 6)
        #expect(HistogramBuckets([]).pairs.isEmpty)
        for bad in ["x", "1:", ":1", "1:1 0:1", "1:1  2:1", "18446744073709551615:1 1:1", "1:1,2:1"] {
            #expect(HistogramBuckets.parse(bad) == nil, "\(bad)")
        }
    }

    /// A real sampled sweep, written with schema 3: it re-encodes to its own bytes, its paths are all pinned, and it
    /// holds what the sampling tests rely on.
    @Test func schema3SampledProfileRoundTripsByteForByte() throws {
        let saved = try Fixtures.data(Fixtures.schema3Sampled)
        let profile = try Profile.decode(saved, path: Fixtures.schema3Sampled)
        #expect(profile.schemaVersion == 3 && profile.validate() == nil)
        #expect(try profile.jsonData() == saved, "re-encoding the saved profile changed its bytes: the format changed")
        let pinned = Set(Self.pinnedPaths.split(separator: "\n").map(String.init))
        #expect(try Self.paths(of: saved).subtracting(pinned).sorted() == [], "fields the pinned list does not know")

        let sampling = try #require(profile.sampling)
        #expect(sampling.event == "cpu-clock" && sampling.timerBased && sampling.mode == .userAndKernel)
        #expect(sampling.frequency == 4000 && sampling.callchainDepth == 64)
        let names = try #require(profile.frameNames)
        for cell in profile.cells {
            let counted = cell.trials.filter { $0.kind == .counted }
            #expect(!counted.isEmpty && counted.allSatisfy { $0.workers.allSatisfy { $0.attribution != nil } }, "\(cell.key)")
            #expect(cell.trials.filter { $0.kind == .timing }.allSatisfy { $0.workers.allSatisfy { $0.attribution == nil } })
            let stacks = try #require(cell.stacks, "\(cell.key)")
            #expect(Set(stacks.map(\.role)) == [.sender, .receiver])
            #expect(stacks.allSatisfy { $0.stacks.allSatisfy { $0.frames.allSatisfy(names.indices.contains) } })
        }
        let twoCopy = try #require(profile.cells.first { $0.key.transport == .twoCopy && $0.key.workload == .stream })
        let sender = twoCopy.trials.flatMap(\.workers).filter { $0.role == .sender }.compactMap(\.attribution)
        #expect(sender.reduce(0) { $0 + ($1.samples[.copyFromUser] ?? 0) } > 0, "two-copy's sender copies from user memory")
    }

    /// The paths of a profile's JSON (`[]`: array elements; `*`: names that are data: counter and event names,
    /// attribution categories).
    static func paths(of json: Data) throws -> Set<String> {
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        var paths: Set<String> = []
        func walk(_ value: Any, _ path: String) {
            if let dictionary = value as? [String: Any] {
                for (key, child) in dictionary {
                    let isData = [".counters", ".unavailable", ".cacheMissAttribution", "attribution.samples", "attribution.weights",
                                  "*.samples", "*.weights"].contains { path.hasSuffix($0) }
                    let name = isData ? "*" : key
                    walk(child, path.isEmpty ? name : "\(path).\(name)")
                }
                paths.insert(path)
            } else if let array = value as? [Any] {
                for child in array { walk(child, path + "[]") }
                paths.insert(path)
            } else {
                paths.insert(path)
            }
        }
        walk(object, "")
        paths.remove("")
        return paths
    }

    /// Every JSON path a profile can hold (`[]`: array elements; `*`: names that are data).
    static let pinnedPaths = """

        cells
        cells[]
        cells[].error
        cells[].key
        cells[].key.messageSize
        cells[].key.mode
        cells[].key.threads
        cells[].key.receiver
        cells[].key.transport
        cells[].notSupported
        cells[].stacks
        cells[].stacks[]
        cells[].stacks[].omittedSamples
        cells[].stacks[].omittedWeight
        cells[].stacks[].role
        cells[].stacks[].stacks
        cells[].stacks[].stacks[]
        cells[].stacks[].stacks[].category
        cells[].stacks[].stacks[].frames
        cells[].stacks[].stacks[].frames[]
        cells[].stacks[].stacks[].samples
        cells[].stacks[].stacks[].weight
        cells[].trials
        cells[].trials[]
        cells[].trials[].bytes
        cells[].trials[].elapsedNs
        cells[].trials[].firstMismatch
        cells[].trials[].firstMismatch.offset
        cells[].trials[].firstMismatch.sequence
        cells[].trials[].integrityErrors
        cells[].trials[].kind
        cells[].trials[].messages
        cells[].trials[].partialWrites
        cells[].trials[].round
        cells[].trials[].rtt
        cells[].trials[].rtt.count
        cells[].trials[].rtt.histogram
        cells[].trials[].rtt.maxNs
        cells[].trials[].rtt.meanNs
        cells[].trials[].rtt.minNs
        cells[].trials[].rtt.p50Ns
        cells[].trials[].rtt.p90Ns
        cells[].trials[].rtt.p999Ns
        cells[].trials[].rtt.p99Ns
        cells[].trials[].trial
        cells[].trials[].workers
        cells[].trials[].workers[]
        cells[].trials[].workers[].connection
        cells[].trials[].workers[].counters
        cells[].trials[].workers[].counters.*
        cells[].trials[].workers[].counters.*.raw
        cells[].trials[].workers[].counters.*.timeEnabled
        cells[].trials[].workers[].counters.*.timeRunning
        cells[].trials[].workers[].host
        cells[].trials[].workers[].received
        cells[].trials[].workers[].received.bytes
        cells[].trials[].workers[].received.drainedMessages
        cells[].trials[].workers[].received.firstMismatch
        cells[].trials[].workers[].received.firstMismatch.offset
        cells[].trials[].workers[].received.firstMismatch.sequence
        cells[].trials[].workers[].received.integrityErrors
        cells[].trials[].workers[].received.messages
        cells[].trials[].workers[].received.recvCalls
        cells[].trials[].workers[].received.verified
        cells[].trials[].workers[].received.zeroCopyReceive
        cells[].trials[].workers[].received.zeroCopyReceive.copiedBytes
        cells[].trials[].workers[].received.zeroCopyReceive.copyCalls
        cells[].trials[].workers[].received.zeroCopyReceive.mapCalls
        cells[].trials[].workers[].received.zeroCopyReceive.mappedBytes
        cells[].trials[].workers[].received.zeroCopyReceive.unmappedReason
        cells[].trials[].workers[].role
        cells[].trials[].workers[].tid
        cells[].trials[].workers[].sent
        cells[].trials[].workers[].sent.bytes
        cells[].trials[].workers[].sent.messages
        cells[].trials[].workers[].sent.partialWrites
        cells[].trials[].workers[].sent.sendCalls
        cells[].trials[].workers[].sent.zeroCopy
        cells[].trials[].workers[].sent.zeroCopy.completions
        cells[].trials[].workers[].sent.zeroCopy.copiedCompletions
        cells[].trials[].workers[].sent.zeroCopy.enobufs
        cells[].trials[].workers[].sent.zeroCopy.notifications
        cells[].trials[].workers[].sent.zeroCopy.reuseWaits
        cells[].trials[].workers[].sent.zeroCopy.sends
        cells[].trials[].workers[].unavailable
        cells[].trials[].workers[].unavailable.*
        cells[].trials[].workers[].attribution
        cells[].trials[].workers[].attribution.lost
        cells[].trials[].workers[].attribution.samples
        cells[].trials[].workers[].attribution.samples.*
        cells[].trials[].workers[].attribution.throttled
        cells[].trials[].workers[].attribution.weights
        cells[].trials[].workers[].attribution.weights.*
        cells[].trials[].workers[].cacheMissAttribution
        cells[].trials[].workers[].cacheMissAttribution.*
        cells[].trials[].workers[].cacheMissAttribution.*.lost
        cells[].trials[].workers[].cacheMissAttribution.*.samples
        cells[].trials[].workers[].cacheMissAttribution.*.samples.*
        cells[].trials[].workers[].cacheMissAttribution.*.throttled
        cells[].trials[].workers[].cacheMissAttribution.*.weights
        cells[].trials[].workers[].cacheMissAttribution.*.weights.*
        cells[].trials[].workers[].usage
        cells[].trials[].workers[].usage.cpuClockNs
        cells[].trials[].workers[].usage.involuntarySwitches
        cells[].trials[].workers[].usage.minorFaults
        cells[].trials[].workers[].usage.systemNs
        cells[].trials[].workers[].usage.userNs
        cells[].trials[].workers[].usage.voluntarySwitches
        cells[].trials[].workers[].wallNs
        cells[].trials[].zeroCopy
        cells[].trials[].zeroCopy.completions
        cells[].trials[].zeroCopy.copiedCompletions
        cells[].trials[].zeroCopy.enobufs
        cells[].trials[].zeroCopy.notifications
        cells[].trials[].zeroCopy.reuseWaits
        cells[].trials[].zeroCopy.sends
        control
        control.copyBufferBytes
        control.copyRepetitions
        control.samples
        control.samples[]
        control.samples[].copyNs
        control.samples[].cpuNs
        control.samples[].round
        control.samples[].syscallNs
        control.samples[].wakeCPUNs
        control.samples[].wakeNs
        control.syscalls
        control.wakeRoundTrips
        environment
        environment.commandLine
        environment.commandLine[]
        environment.copyprofVersion
        environment.cpuCount
        environment.cpuFamily
        environment.cpuModel
        environment.cpuVendor
        environment.distribution
        environment.endTime
        environment.events
        environment.events[]
        environment.events[].availability
        environment.events[].availability.errno
        environment.events[].availability.reason
        environment.events[].availability.state
        environment.events[].kind
        environment.events[].mode
        environment.events[].name
        environment.events[].summary
        environment.hostname
        environment.kernelRelease
        environment.label
        environment.loopbackMTU
        environment.memoryBytes
        environment.optmemMax
        environment.perfEventParanoid
        environment.pmus
        environment.pmus[]
        environment.startTime
        environment.swiftVersion
        environment.tcpRmem
        environment.tcpWmem
        environment.tracefs
        environment.virtualized
        frameNames
        frameNames[]
        notSampledReason
        plan
        plan.address
        plan.duration
        plan.events
        plan.events[]
        plan.label
        plan.modes
        plan.modes[]
        plan.receivers
        plan.receivers[]
        plan.sizes
        plan.sizes[]
        plan.threads
        plan.threads[]
        plan.transports
        plan.transports[]
        plan.trials
        plan.verification
        plan.warmup
        remote
        remote.clientPath
        remote.clientPath.interface
        remote.clientPath.kind
        remote.clientPath.mtu
        remote.clientPath.peer
        remote.server
        remote.serverEnvironment
        remote.serverEnvironment.commandLine
        remote.serverEnvironment.commandLine[]
        remote.serverEnvironment.copyprofVersion
        remote.serverEnvironment.cpuCount
        remote.serverEnvironment.cpuFamily
        remote.serverEnvironment.cpuModel
        remote.serverEnvironment.cpuVendor
        remote.serverEnvironment.distribution
        remote.serverEnvironment.endTime
        remote.serverEnvironment.events
        remote.serverEnvironment.events[]
        remote.serverEnvironment.events[].availability
        remote.serverEnvironment.events[].availability.errno
        remote.serverEnvironment.events[].availability.reason
        remote.serverEnvironment.events[].availability.state
        remote.serverEnvironment.events[].kind
        remote.serverEnvironment.events[].mode
        remote.serverEnvironment.events[].name
        remote.serverEnvironment.events[].summary
        remote.serverEnvironment.hostname
        remote.serverEnvironment.kernelRelease
        remote.serverEnvironment.label
        remote.serverEnvironment.loopbackMTU
        remote.serverEnvironment.memoryBytes
        remote.serverEnvironment.optmemMax
        remote.serverEnvironment.perfEventParanoid
        remote.serverEnvironment.pmus
        remote.serverEnvironment.pmus[]
        remote.serverEnvironment.startTime
        remote.serverEnvironment.swiftVersion
        remote.serverEnvironment.tcpRmem
        remote.serverEnvironment.tcpWmem
        remote.serverEnvironment.tracefs
        remote.serverEnvironment.virtualized
        remote.serverPath
        remote.serverPath.interface
        remote.serverPath.kind
        remote.serverPath.mtu
        remote.serverPath.peer
        sampling
        sampling.cacheMissEvents
        sampling.cacheMissEvents[]
        sampling.callchainDepth
        sampling.event
        sampling.frequency
        sampling.grantedFrequency
        sampling.kernelSymbolsUnresolved
        sampling.mode
        sampling.modeReason
        sampling.notes
        sampling.notes[]
        sampling.timerBased
        schemaVersion
        status
        statusReason
        tool
        """
}

import Foundation
import Testing
import Transports

@testable import CopyprofCore

/// The copyprof binary SwiftPM built beside this test bundle.
let copyprofBinary: String = {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [bundle, bundle.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("copyprof").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return ".build/debug/copyprof"
}()

struct ProcessOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to its end and returns its exit status and output.
func runProcess(_ path: String, _ arguments: [String], interruptAfter: Double? = nil, in directory: String? = nil) throws -> ProcessOutput {
    let process = Process()
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    if let interruptAfter {
        Thread.sleep(forTimeInterval: interruptAfter)
        process.interrupt()
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessOutput(
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self))
}

/// The folder every temporary folder of this test process is made in, removed when the process exits.
private let temporaryRoot: String = {
    let path = NSTemporaryDirectory() + "copyprof-tests-\(getpid())-\(UUID().uuidString.prefix(8))"
    atexit { try? FileManager.default.removeItem(atPath: temporaryRoot) }
    return path
}()

/// A fresh temporary folder, removed with the others when the test process exits.
func temporaryDirectory() throws -> String {
    let path = temporaryRoot + "/\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func which(_ program: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(dir)/\(program)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

extension TrialRecord {
    /// Workers whose timed loop ran no iteration: a sender (ping-pong client) that sent nothing, or a stream receiver
    /// that verified nothing before the stop and drained everything after it. Each loop checks the stop flag before
    /// every message and never stops within one, so such a worker first looked at the flag after it was set: the
    /// scheduler did not run it within the trial's window (on this shared 2-vCPU machine a released thread has waited
    /// up to 60 ms, against windows of 20 to 100 ms here). `TransportRunTests` shows from the workers' start times that
    /// an empty connection always had a worker that began after the window closed (947 of 947 in 0.5 ms windows).
    var idleWorkers: [WorkerRecord] {
        workers.filter { worker in
            if let sent = worker.sent, worker.role == .sender { return sent.messages == 0 }
            guard worker.role == .receiver, let received = worker.received else { return false }
            return received.messages == 0 && received.drainedMessages > 0
        }
    }

    /// Per connection, what the receiving ends verified (measured and drained) against what the sending end sent:
    /// equal in every trial, whatever the timing. Ping-pong: the echoer's requests and the client's echoes both equal
    /// the client's requests.
    func deliveryMismatches(mode: Workload) -> [String] {
        var problems: [String] = []
        for connection in Set(workers.map(\.connection)).sorted() {
            let ends = workers.filter { $0.connection == connection }
            guard let client = ends.first(where: { $0.role == .sender }), let server = ends.first(where: { $0.role == .receiver }),
                let sent = client.sent?.messages
            else {
                problems.append("connection \(connection): a sender and a receiver expected")
                continue
            }
            let atServer = (server.received?.messages ?? 0) + (server.received?.drainedMessages ?? 0)
            if atServer != sent { problems.append("connection \(connection): \(sent) sent, \(atServer) received") }
            if mode == .pingpong, let echoes = client.received?.messages, echoes != sent {
                problems.append("connection \(connection): \(sent) requests, \(echoes) echoes")
            }
        }
        return problems
    }
}

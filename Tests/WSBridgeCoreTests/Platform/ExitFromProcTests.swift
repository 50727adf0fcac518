import Foundation
import Testing
@testable import WSPlatform

/// `Syscalls.exitStatusFromProc`: the status of a real unreaped zombie, read by a process that
/// may or may not be its parent, and nothing while it runs or once the pidfd no longer names it.
@Suite("Exit status of a zombie from /proc")
struct ExitFromProcTests {
    /// Runs `script` in sh; its background sleep keeps Foundation from reaping the shell (Foundation
    /// reaps once every holder of its internal socket is gone), so the shell stays a zombie.
    static func zombie(_ script: String, body: (Int32, Int32) throws -> Void) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "sleep 30 </dev/null >/dev/null 2>&1 & " + script]
        try process.run()
        let pid = process.processIdentifier
        let pidFD = Syscalls.openProcessFD(pid)
        defer {
            Syscalls.signalGroup(pid, Syscalls.forceKill)
            if pidFD >= 0 { Syscalls.close(pidFD) }
            process.waitUntilExit()
        }
        try #require(pidFD >= 0, "no pidfd on this kernel")
        try body(pid, pidFD)
    }

    /// Polls until the reader returns a status (the shell is exiting), at most 5 s.
    static func awaitStatus(_ pid: Int32, _ pidFD: Int32) -> WSPlatform.ExitStatus? {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if let status = Syscalls.exitStatusFromProc(pid, pidFD: pidFD) { return status }
            usleep(5_000)
        }
        return nil
    }

    @Test("exit 7 and a SIGKILL are read from the zombie")
    func zombies() throws {
        try Self.zombie("exit 7") { pid, pidFD in
            #expect(Self.awaitStatus(pid, pidFD) == .exited(7))
        }
        // SIGKILL: the test runner's thread may block SIGTERM, and the shell would inherit that.
        try Self.zombie("kill -KILL $$") { pid, pidFD in
            #expect(Self.awaitStatus(pid, pidFD) == .signalled(SIGKILL))
        }
    }

    @Test("nothing while the process runs")
    func running() throws {
        try Self.zombie("exec sleep 30") { pid, pidFD in
            usleep(50_000)
            #expect(Syscalls.exitStatusFromProc(pid, pidFD: pidFD) == nil)
        }
    }

    @Test("nothing once reaped: the pidfd check refuses whatever now holds the pid")
    func reaped() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "read line; exit 3"]
        let input = Pipe()
        process.standardInput = input
        try process.run()
        let pid = process.processIdentifier
        let pidFD = Syscalls.openProcessFD(pid)
        try #require(pidFD >= 0, "no pidfd on this kernel")
        defer { Syscalls.close(pidFD) }
        try input.fileHandleForWriting.close()
        process.waitUntilExit()  // Foundation reaps it
        #expect(process.terminationStatus == 3)
        #expect(Syscalls.exitStatusFromProc(pid, pidFD: pidFD) == nil)
    }

    @Test("once reaped, the pidfd keeps the status (Linux 6.15+); nothing from it before the reap")
    func fromProcessFD() throws {
        for (script, expected) in [("read line; exit 3", ExitStatus.exited(3)), ("read line; kill -KILL $$", .signalled(SIGKILL))] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", script]
            let input = Pipe()
            process.standardInput = input
            try process.run()
            let pidFD = Syscalls.openProcessFD(process.processIdentifier)
            try #require(pidFD >= 0, "no pidfd on this kernel")
            defer { Syscalls.close(pidFD) }
            #expect(Syscalls.exitStatusFromProcessFD(pidFD) == nil, "the shell still runs")
            try input.fileHandleForWriting.close()
            process.waitUntilExit()  // Foundation reaps it
            // This project's machines run Linux 6.18; an older kernel has no such report at all.
            if Self.kernelReportsExitThroughPidfd {
                #expect(Syscalls.exitStatusFromProcessFD(pidFD) == expected, "\(script)")
            } else {
                #expect(Syscalls.exitStatusFromProcessFD(pidFD) == nil)
            }
        }
    }

    /// Linux 6.15 or later, from uname.
    static var kernelReportsExitThroughPidfd: Bool {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        return numbers.count == 2 && (numbers[0], numbers[1]) >= (6, 15)
    }
}

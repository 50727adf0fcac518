import Foundation
import Testing
@testable import WSPlatform

/// `ProcStat`: a zombie's exit status from its /proc/PID/stat line, trusted only when the kernel
/// vouches for it (proc(5): state field 3, num_threads 20, wchan 35, exit_code 52).
@Suite("Exit status from /proc/PID/stat")
struct ProcStatTests {
    /// A stat line as Linux 6.x prints it, with the fields under test replaced.
    static func line(name: String = "child.sh", state: String = "Z", threads: String = "1", wchan: String = "1",
                     exitCode: String = "0") -> [UInt8] {
        var fields = (3...52).map { _ in "0" }
        fields[0] = state
        fields[1] = "4242"  // ppid
        fields[17] = threads
        fields[32] = wchan
        fields[49] = exitCode
        return Array("4243 (\(name)) \(fields.joined(separator: " "))\n".utf8)
    }

    @Test("a zombie's exit code and terminating signal, in waitpid's encoding")
    func trustedZombie() {
        #expect(ProcStat.exitStatus(ofStatLine: Self.line(exitCode: "0")) == .exited(0))
        #expect(ProcStat.exitStatus(ofStatLine: Self.line(exitCode: "1792")) == .exited(7))
        #expect(ProcStat.exitStatus(ofStatLine: Self.line(exitCode: "65280")) == .exited(255))
        #expect(ProcStat.exitStatus(ofStatLine: Self.line(exitCode: "9")) == .signalled(9))
        #expect(ProcStat.exitStatus(ofStatLine: Self.line(exitCode: "139")) == .signalled(11))  // SIGSEGV, core dumped
    }

    @Test("nothing from a process that is not a zombie, nor from a line the kernel did not vouch for")
    func untrusted() {
        #expect(ProcStat.exitStatus(ofStatLine: Self.line(state: "R")) == nil)
        #expect(ProcStat.exitStatus(ofStatLine: Self.line(state: "S")) == nil)
        // A leader that exited while other threads run shows Z, but its group has not ended.
        #expect(ProcStat.exitStatus(ofStatLine: Self.line(threads: "3")) == nil)
        // wchan 0: the reader may not ptrace-read it (exit_code printed as 0), or a kernel before 5.16.
        #expect(ProcStat.exitStatus(ofStatLine: Self.line(wchan: "0", exitCode: "0")) == nil)
        #expect(ProcStat.exitStatus(ofStatLine: Self.line(exitCode: "x")) == nil)
        let full = Self.line(exitCode: "1792")
        #expect(ProcStat.exitStatus(ofStatLine: full.prefix(full.count - 8)) == nil)  // cut short
        #expect(ProcStat.exitStatus(ofStatLine: [UInt8]()) == nil)
        #expect(ProcStat.exitStatus(ofStatLine: Array("garbage".utf8)) == nil)
    }

    @Test("a command name holding spaces, parentheses and a fake state is skipped")
    func trickyName() {
        #expect(ProcStat.exitStatus(ofStatLine: Self.line(name: "a) Z 1 (b", state: "S")) == nil)
        #expect(ProcStat.exitStatus(ofStatLine: Self.line(name: "x) S (y", exitCode: "512")) == .exited(2))
    }

    @Test("the line this kernel prints for a running process parses and is refused")
    func ownLine() throws {
        let line = [UInt8](try #require(FileHandle(forReadingAtPath: "/proc/self/stat")).readDataToEndOfFile())
        #expect(line.count > 100)
        #expect(ProcStat.exitStatus(ofStatLine: line) == nil)
    }
}

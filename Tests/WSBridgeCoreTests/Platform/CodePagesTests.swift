import Foundation
import Testing
@testable import WSPlatform

/// `Syscalls.releaseExecutableCodePages`, on this test process itself: the resident pages of its
/// own code mappings drop, nothing else is touched, and the code goes on running.
@Suite("Giving back code pages")
struct CodePagesTests {
    /// Resident KiB of `pid`'s mappings of its own executable, by permissions (`r-xp`, `rw-p`, ...).
    static func residentExecutableKiB(_ pid: Int32 = getpid()) -> [String: Int] {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? "?"
        let text = (try? String(contentsOfFile: "/proc/\(pid)/smaps", encoding: .utf8)) ?? ""
        var totals: [String: Int] = [:]
        var current: String?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), fields.count >= 5, !first.hasSuffix(":") {
                current = fields.count >= 6 && fields[5...].joined(separator: " ") == executable ? String(fields[1]) : nil
            } else if let permissions = current, fields.first == "Rss:", fields.count >= 2, let kib = Int(fields[1]) {
                totals[permissions, default: 0] += kib
            }
        }
        return totals
    }

    @Test("Only the executable's r-xp code is released: its resident size drops, writable and read-only data keep theirs, and code still runs")
    func releasesCodeOnly() throws {
        let before = Self.residentExecutableKiB()
        let code = try #require(before["r-xp"], "no r-xp mapping of /proc/self/exe: \(before)")
        let released = Syscalls.releaseExecutableCodePages()
        let after = Self.residentExecutableKiB()
        #expect(released >= code * 1024, "advised \(released) bytes over \(code) KiB resident")
        // Some pages fault straight back in: this test's own code, and the other tests running now.
        #expect(after["r-xp", default: 0] < code, "before \(before), after \(after)")
        // Data pages hold what the program wrote: they must never be dropped.
        if let data = before["rw-p"] { #expect(after["rw-p", default: 0] >= data * 9 / 10, "before \(before), after \(after)") }
        // Code that ran before runs again, from the page cache.
        #expect(Self.residentExecutableKiB()["r-xp"] != nil)
        #expect(String(decoding: Array("still here".utf8), as: UTF8.self) == "still here")
    }
}

import Foundation
import Testing

/// SPEC §3: startup raises the open-files soft limit to the hard limit.
@Suite("Open-files limit")
struct OpenFileLimitTests {
    static func openFileLimits(_ pid: pid_t) -> (soft: Int, hard: Int)? {
        guard let limits = try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8),
              let line = limits.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") }) else { return nil }
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        return numbers.count == 2 ? (numbers[0], numbers[1]) : nil
    }

    @Test("SPEC §3: started with a soft limit of 256, the server raises it to the hard limit")
    func softLimitRaised() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The shell lowers its soft limit, then becomes wsbridge (same pid) with it.
        process.arguments = ["-c", "ulimit -Sn 256 && exec \"$0\" --port=0 --address=127.0.0.1 --loglevel=error cat",
                             TestPaths.binary]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        var limits: (soft: Int, hard: Int)?
        let deadline = ContinuousClock.now + .seconds(5)
        repeat {
            limits = Self.openFileLimits(process.processIdentifier)
            if let limits, limits.soft == limits.hard { break }
            usleep(20_000)
        } while ContinuousClock.now < deadline
        let final = try #require(limits)
        #expect(final.soft == final.hard)
        #expect(final.soft > 256)
    }
}

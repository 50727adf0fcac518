import Foundation
import Testing
@testable import WSPlatform

@Suite("Process groups")
struct ProcessGroupTests {
    @Test("a group with a running member has live members; once killed it has none (zombies not counted)")
    func liveMembers() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The shell exits at once and stays a zombie while its background sleep holds Foundation's socket.
        process.arguments = ["-c", "sleep 30 & exit 0"]
        try process.run()
        let group = process.processIdentifier
        #expect(Syscalls.groupExists(group))
        // Under load the shell may still be starting: allow it a moment to show up in /proc.
        let startDeadline = ContinuousClock.now + .seconds(2)
        var isLive = Syscalls.groupHasLiveMembers(group)
        while !isLive && ContinuousClock.now < startDeadline {
            usleep(10_000)
            isLive = Syscalls.groupHasLiveMembers(group)
        }
        #expect(isLive)
        Syscalls.signalGroup(group, Syscalls.forceKill)
        let deadline = ContinuousClock.now + .seconds(5)
        while Syscalls.groupHasLiveMembers(group) && ContinuousClock.now < deadline { usleep(10_000) }
        #expect(!Syscalls.groupHasLiveMembers(group))
        process.waitUntilExit()
    }
}

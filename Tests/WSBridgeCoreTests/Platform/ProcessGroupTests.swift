import Foundation
import Testing
@testable import WSBridgeCore

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
        #expect(Syscalls.groupHasLiveMembers(group))
        Syscalls.signalGroup(group, Syscalls.forceKill)
        let deadline = ContinuousClock.now + .seconds(5)
        while Syscalls.groupHasLiveMembers(group) && ContinuousClock.now < deadline { usleep(10_000) }
        #expect(!Syscalls.groupHasLiveMembers(group))
        process.waitUntilExit()
    }
}

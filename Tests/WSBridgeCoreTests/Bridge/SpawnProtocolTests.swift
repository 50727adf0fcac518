import Testing
@testable import WSBridging
import TestSupport

/// The server ↔ spawner datagrams: every message survives a round trip, and anything malformed
/// decodes to nil rather than trapping or allocating without bound.
@Suite("Spawn protocol")
struct SpawnProtocolTests {
    static let request = SpawnRequest(
        executable: "/usr/local/bin/app",
        arguments: ["--flag=1", "", "two words", "ünïcödé ✓"],
        environment: ["PATH": "/bin", "QUERY_STRING": "a=1&b=2", "EMPTY": "", "HTTP_X": "one, two"],
        workingDirectory: "/usr/local/bin")

    static let messages: [SpawnMessage] = [
        .spawn(id: 1, request: request),
        .spawn(id: .max, request: SpawnRequest(executable: "/bin/true", arguments: [], environment: [:], workingDirectory: "/")),
        .spawn(id: 2, request: SpawnRequest(executable: "/bin/cat", arguments: [], environment: ["TERM": "xterm-256color"], workingDirectory: "/",
                                            terminal: TerminalSetup(mode: .program, size: .standard))),
        .spawn(id: 3, request: SpawnRequest(executable: "/bin/sh", arguments: ["-i"], environment: [:], workingDirectory: "/tmp",
                                            terminal: TerminalSetup(mode: .tty, size: TerminalSize(columns: 1000, rows: 1)!))),
        .spawned(id: 7, pid: 12345),
        .spawned(id: 0, pid: Int32.max),
        .failed(id: 9, message: "The file “app” couldn’t be opened because you don’t have permission"),
        .failed(id: 10, message: ""),
        .exited(id: 3, pid: 4242, status: .exited(0)),
        .exited(id: .max, pid: 4242, status: .exited(255)),
        .exited(id: 0, pid: 1, status: .signalled(9)),
        .exited(id: 12, pid: Int32.max, status: .signalled(64)),
        .queryExit(pid: 77),
        .ready,
        .release(pids: [4242]),
        .release(pids: [Int32.max, 1, 77]),
        .release(pids: []),
    ]

    @Test("Every message decodes to itself", arguments: messages)
    func roundTrip(_ message: SpawnMessage) {
        let bytes = message.encoded()
        #expect(SpawnMessage.decode(bytes[...]) == message)
        // A slice that does not start at index 0, as a receive buffer would hand it over.
        let padded = [0xEE, 0xEE, 0xEE] + bytes
        #expect(SpawnMessage.decode(padded[3...]) == message)
    }

    @Test("Integers are little-endian behind a one-byte tag")
    func wireLayout() {
        #expect(SpawnMessage.spawned(id: 0x0102, pid: 0x0304).encoded() == [2, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0x04, 0x03, 0, 0])
        #expect(SpawnMessage.failed(id: 1, message: "no").encoded() == [3, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0x6E, 0x6F])
        #expect(SpawnMessage.exited(id: 1, pid: 5, status: .exited(3)).encoded() == [4, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0])
        #expect(SpawnMessage.exited(id: 1, pid: 5, status: .signalled(9)).encoded() == [5, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 9, 0, 0, 0])
        #expect(SpawnMessage.ready.encoded() == [7])
        #expect(SpawnMessage.release(pids: [0x0102, 5]).encoded() == [8, 2, 0, 0, 0, 0x02, 0x01, 0, 0, 5, 0, 0, 0])
    }

    @Test("SPEC §12: a spawn request ends with its terminal: 0, or the mode (1 --pty, 2 --pty=tty) and cols, rows as UInt16s")
    func terminalLayout() throws {
        let plain = SpawnRequest(executable: "/x", arguments: [], environment: [:], workingDirectory: "/")
        var terminal = plain
        terminal.terminal = TerminalSetup(mode: .tty, size: try #require(TerminalSize(columns: 0x0102, rows: 24)))
        #expect(SpawnMessage.spawn(id: 1, request: plain).encoded().last == 0)
        #expect(Array(SpawnMessage.spawn(id: 1, request: terminal).encoded().suffix(5)) == [2, 0x02, 0x01, 24, 0])
        // A size outside 1...1000, an unknown mode or a byte too many is malformed.
        var bytes = SpawnMessage.spawn(id: 1, request: terminal).encoded()
        bytes[bytes.count - 2] = 0
        #expect(SpawnMessage.decode(bytes[...]) == nil)
        bytes = SpawnMessage.spawn(id: 1, request: plain).encoded()
        bytes[bytes.count - 1] = 3
        #expect(SpawnMessage.decode(bytes[...]) == nil)
        #expect(SpawnMessage.decode((SpawnMessage.spawn(id: 1, request: plain).encoded() + [0])[...]) == nil)
    }

    @Test("The environment is encoded in a fixed order, so equal requests give equal bytes")
    func environmentOrderIsStable() {
        var forward: [String: String] = [:]
        var backward: [String: String] = [:]
        let names = (0..<50).map { "VAR_\($0)" }
        for name in names { forward[name] = name.lowercased() }
        for name in names.reversed() { backward[name] = name.lowercased() }
        let first = SpawnMessage.spawn(id: 3, request: SpawnRequest(executable: "/x", arguments: [], environment: forward, workingDirectory: "/"))
        let second = SpawnMessage.spawn(id: 3, request: SpawnRequest(executable: "/x", arguments: [], environment: backward, workingDirectory: "/"))
        #expect(first.encoded() == second.encoded())
    }

    @Test("A datagram cut short anywhere, or with a byte too many, is malformed", arguments: messages)
    func truncatedOrTrailing(_ message: SpawnMessage) {
        let bytes = message.encoded()
        for end in 0..<bytes.count {
            #expect(SpawnMessage.decode(bytes[..<end]) == nil, "prefix of \(end) of \(bytes.count) bytes decoded")
        }
        #expect(SpawnMessage.decode((bytes + [0])[...]) == nil)
    }

    @Test("Unknown tags are malformed", arguments: [UInt8(0), 6, 7, 0x80, 0xFF])
    func unknownTag(_ tag: UInt8) {
        var bytes = SpawnMessage.spawned(id: 1, pid: 2).encoded()
        bytes[0] = tag
        #expect(SpawnMessage.decode(bytes[...]) == nil)
    }

    @Test("Counts and lengths beyond the datagram are malformed, without allocating for them")
    func hugeCounts() {
        // spawn, id 1, executable "" , directory "", then 0xFFFFFFFF arguments.
        var huge: [UInt8] = [1] + [1, 0, 0, 0, 0, 0, 0, 0] + [0, 0, 0, 0] + [0, 0, 0, 0]
        #expect(SpawnMessage.decode((huge + [0xFF, 0xFF, 0xFF, 0xFF])[...]) == nil)
        // 100,001 arguments announced, none present.
        #expect(SpawnMessage.decode((huge + [0xA1, 0x86, 0x01, 0x00])[...]) == nil)
        // Zero arguments, then 0xFFFFFFFF environment variables.
        huge += [0, 0, 0, 0]
        #expect(SpawnMessage.decode((huge + [0xFF, 0xFF, 0xFF, 0xFF])[...]) == nil)
        // A failure message whose string claims 4 GiB.
        #expect(SpawnMessage.decode(([3, 1, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x41] as [UInt8])[...]) == nil)
        #expect(SpawnMessage.decode([][...]) == nil)
    }

    @Test("Seeded mutations of valid datagrams never trap; whatever decodes re-encodes to the same message")
    func mutations() {
        var random = SplitMix64(seed: 0x5EED_3)
        let valid = Self.messages.map { $0.encoded() }
        var decoded = 0
        for _ in 0..<5000 {
            var bytes = valid[random.below(valid.count)]
            for _ in 0..<(1 + random.below(4)) {
                switch random.below(4) {
                case 0 where !bytes.isEmpty: bytes[random.below(bytes.count)] = random.byte()
                case 1 where !bytes.isEmpty: bytes.removeLast(1 + random.below(bytes.count))
                case 2: bytes.insert(random.byte(), at: random.below(bytes.count + 1))
                default: if !bytes.isEmpty { bytes[random.below(bytes.count)] ^= 1 << UInt8(random.below(8)) }
                }
            }
            guard let message = SpawnMessage.decode(bytes[...]) else { continue }
            decoded += 1
            // Invalid UTF-8 in a string is repaired on decode, so the stable point is one step later.
            #expect(SpawnMessage.decode(message.encoded()[...]) == message, "\(bytes)")
        }
        // Flips inside ids and pids keep a datagram valid: the mutations reach the decoder's paths.
        #expect(decoded > 0)
    }
}

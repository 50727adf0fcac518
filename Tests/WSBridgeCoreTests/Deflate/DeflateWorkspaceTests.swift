import Testing
import TestSupport
import WSProtocol
@testable import WSDeflate

/// `DeflateWorkspace`: the buffers and inflate streams one loop's connections share.
@Suite("DeflateWorkspace")
struct DeflateWorkspaceTests {
    /// One connection of the interleaving: its inflater and deflater on the shared workspace, the
    /// client's compressed messages still to come, and what came out.
    final class Connection {
        let inflater: MessageInflater
        let deflater: MessageDeflater
        /// Inflates what `deflater` sends, as the client would (its own buffers).
        let clientInflater: MessageInflater
        var pending: [[UInt8]] = []
        var pieces: [ArraySlice<UInt8>] = []
        var isInMessage = false
        var originals: [[UInt8]] = []
        var received: [UInt8] = []
        var messages: [[UInt8]] = []
        var sent: [[UInt8]] = []
        var echoed: [[UInt8]] = []

        init(keepsContext: Bool, workspace: DeflateWorkspace) {
            inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: !keepsContext, maxMessageBytes: nil, workspace: workspace)
            deflater = MessageDeflater(windowBits: 12, memoryLevel: 5, resetsAfterEachMessage: !keepsContext, workspace: workspace)
            clientInflater = MessageInflater(windowBits: 12, resetsAfterEachMessage: !keepsContext, maxMessageBytes: nil)
        }
    }

    @Test("seeded interleavings of 8 connections (with and without context takeover, paused mid-message) on one workspace inflate and deflate exactly; idle streams are reused and bounded")
    func interleaved() throws {
        let seed = UInt64(0xD3F1_A7E5)
        var random = SplitMix64(seed: seed)
        let workspace = DeflateWorkspace()
        let connections = (0..<8).map { Connection(keepsContext: $0 % 2 == 0, workspace: workspace) }
        for (index, connection) in connections.enumerated() {
            // The client's messages, compressed apart (own buffers) with the same context rule.
            let client = MessageDeflater(windowBits: 15, memoryLevel: 8, resetsAfterEachMessage: index % 2 == 1)
            for _ in 0..<20 {
                let message = DeflateTestSupport.jsonLines(1 + random.below(40), &random)
                connection.originals.append(message)
                connection.pending.append(Array(client.compress(message[...])))
            }
        }
        while connections.contains(where: { !$0.pending.isEmpty || !$0.pieces.isEmpty }) {
            let connection = connections[random.below(connections.count)]
            if connection.pieces.isEmpty {
                guard !connection.pending.isEmpty else { continue }
                connection.pieces = DeflateTestSupport.pieces(connection.pending.removeFirst()[...], .random, &random).map { Array($0)[...] }
            }
            let piece = connection.pieces.removeFirst()
            connection.inflater.feed(piece, kind: .binary, isFirst: !connection.isInMessage, isMessageEnd: connection.pieces.isEmpty)
            connection.isInMessage = true
            while let fragment = try connection.inflater.next(maxBytes: 1 + random.below(3000)) {
                connection.received += fragment.payload
                if fragment.isLast {
                    connection.messages.append(connection.received)
                    connection.received = []
                    connection.isInMessage = false
                    break
                }
            }
            // Meanwhile a connection answers: its payload is copied at once, as into a socket buffer.
            let speaker = connections[random.below(connections.count)]
            let answer = DeflateTestSupport.jsonLines(1 + random.below(10), &random)
            speaker.sent.append(answer)
            let payload = Array(speaker.deflater.compress(answer[...]))
            speaker.echoed.append(try DeflateTestSupport.inflate(speaker.clientInflater, payload))
            if random.chance(10) { connection.inflater.releaseIdleMemory() }
        }
        for (index, connection) in connections.enumerated() {
            #expect(connection.messages == connection.originals, "seed \(seed): connection \(index)'s messages")
            #expect(connection.echoed == connection.sent, "seed \(seed): connection \(index)'s answers")
        }
        // Each of the four connections without context gave its stream back; at most four wait.
        #expect(workspace.idleStreamCount(windowBits: 15) <= DeflateWorkspace.maxIdleStreams)
        #expect(workspace.idleStreamCount(windowBits: 15) >= 1)
    }
}

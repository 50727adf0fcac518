import Testing
@testable import WSProtocol
@testable import WSBridging

/// An outbound message copied out of the codec, so tests can keep it across calls.
struct ReceivedMessage: Equatable, CustomStringConvertible {
    var opcode: Opcode
    var bytes: [UInt8]

    init(_ opcode: Opcode, _ bytes: [UInt8]) {
        self.opcode = opcode
        self.bytes = bytes
    }

    init(_ opcode: Opcode, _ text: String) {
        self.init(opcode, Array(text.utf8))
    }

    var description: String { "\(opcode)(\(bytes))" }
}

/// What a codec made of a whole stdout stream: its messages, then the error that stopped it if any.
struct OutboundRun: Equatable {
    var messages: [ReceivedMessage] = []
    var error: WebSocketError?

    /// Every payload byte in order (raw framing's boundaries depend on the reads, its bytes do not).
    var joinedPayload: [UInt8] { messages.flatMap(\.bytes) }
}

/// Feeds stdout streams to a fresh `Framing` in given pieces and collects what comes out.
enum FramingHarness {
    /// Feeds `chunks` one read at a time, draining `nextOutbound()` after each, then (if `finish`)
    /// `finishOutbound()` until `nil`; stops at the first error. `afterDrain` sees the codec each
    /// time it has said it needs more stdout, with the size of the read that came before.
    static func run(
        mode: FramingMode,
        limit: Int?,
        chunks: [[UInt8]],
        finish: Bool = true,
        afterRead: (Framing, Int) -> Void = { _, _ in },
        afterDrain: (Framing) -> Void = { _ in }
    ) -> OutboundRun {
        var framing = Framing(mode: mode, maxMessageBytes: limit)
        var run = OutboundRun()
        do throws(WebSocketError) {
            for chunk in chunks {
                chunk.withUnsafeBytes { framing.appendStdout($0) }
                afterRead(framing, chunk.count)
                while let message = try framing.nextOutbound() {
                    run.messages.append(ReceivedMessage(message.opcode, Array(message.payload)))
                }
                afterDrain(framing)
            }
            if finish {
                while let message = try framing.finishOutbound() {
                    run.messages.append(ReceivedMessage(message.opcode, Array(message.payload)))
                }
            }
        } catch {
            run.error = error
        }
        return run
    }

    /// Where to split an input in two: at every index, or for large inputs every 997th index plus
    /// the first and last few (splitting 200 KiB at every index would copy 40 GB).
    static func splitIndices(count: Int) -> [Int] {
        guard count > 1 else { return [] }
        if count <= 4096 { return Array(1..<count) }
        let edges = Array(1...8) + Array((count - 8)..<count)
        return (Array(stride(from: 1, to: count, by: 997)) + edges).sorted()
    }

    /// The stream whole, byte by byte, and split in two at every index (see `splitIndices`).
    static func chunkings(of input: [UInt8]) -> [(label: String, chunks: [[UInt8]])] {
        var result: [(label: String, chunks: [[UInt8]])] = [("whole", [input])]
        result.append(("byte by byte", input.map { [$0] }))
        for index in splitIndices(count: input.count) {
            result.append(("split at \(index)", [Array(input[..<index]), Array(input[index...])]))
        }
        return result
    }

    /// Runs `input` in every chunking, expects each to give what the whole input gives, and returns that.
    @discardableResult
    static func expectSameForEverySplit(
        mode: FramingMode,
        limit: Int?,
        _ input: [UInt8],
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> OutboundRun {
        let whole = run(mode: mode, limit: limit, chunks: [input])
        for (label, chunks) in chunkings(of: input).dropFirst() {
            let other = run(mode: mode, limit: limit, chunks: chunks)
            if mode == .raw {
                // One read is one message in raw framing, so only the bytes must be identical.
                #expect(other.joinedPayload == whole.joinedPayload, "\(label)", sourceLocation: sourceLocation)
                #expect(other.error == whole.error, "\(label)", sourceLocation: sourceLocation)
            } else if other != whole {
                Issue.record("\(label) gave \(other), whole gave \(whole)", sourceLocation: sourceLocation)
                break
            }
        }
        return whole
    }

    /// Encodes inbound fragments with a fresh `Framing`; returns the stdin bytes and the first error.
    static func encode(
        mode: FramingMode,
        limit: Int?,
        _ fragments: [MessageFragment]
    ) -> (stdin: [UInt8], error: WebSocketError?) {
        var framing = Framing(mode: mode, maxMessageBytes: limit)
        var stdin = ByteBuffer()
        do throws(WebSocketError) {
            for fragment in fragments { try framing.encodeInbound(fragment, into: &stdin) }
        } catch {
            return (Array(stdin.readableBytes), error)
        }
        return (Array(stdin.readableBytes), nil)
    }
}

/// The fragments of one message whose payload is split into `pieces`.
func fragments(_ kind: Opcode, _ pieces: [[UInt8]]) -> [MessageFragment] {
    pieces.indices.map { index in
        MessageFragment(
            kind: kind,
            payload: pieces[index][...],
            isFirst: index == pieces.startIndex,
            isLast: index == pieces.index(before: pieces.endIndex)
        )
    }
}

/// An unfragmented message.
func message(_ kind: Opcode, _ bytes: [UInt8]) -> MessageFragment {
    MessageFragment(kind: kind, payload: bytes[...], isFirst: true, isLast: true)
}

/// An unfragmented text message.
func message(_ text: String) -> MessageFragment {
    message(.text, Array(text.utf8))
}


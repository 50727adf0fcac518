#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import WSProtocol

/// Line framing (SPEC.md §2, websocketd's text mode with its bugs fixed): each stdout line is one
/// text message, and each inbound text message is written to stdin followed by "\n".
@usableFromInline
struct LineFraming: StdoutBuffering, Sendable {
    /// The byte that ends a line; nothing else does (no CR-only or Unicode line breaks).
    @usableFromInline static let newline: UInt8 = 0x0A
    /// The byte removed together with the newline when a line ends in "\r\n".
    @usableFromInline static let carriageReturn: UInt8 = 0x0D

    /// Stdout bytes of the line in progress, then any lines after it.
    /// Stdout bytes not yet turned into messages.
    @usableFromInline var stdout = ByteBuffer()
    /// How many readable bytes have been searched for a newline and found to hold none, so more
    /// stdout never makes the search start again from the beginning of a long line.
    @usableFromInline var scannedCount = 0
    /// The longest line accepted, in bytes without its "\n" or "\r\n"; `nil` means no limit.
    /// It counts what the child wrote, which bounds the buffer; a repaired line may come out longer
    /// (up to three bytes of U+FFFD per invalid byte).
    @usableFromInline let maxLineBytes: Int?
    /// How many U+FFFD characters replaced invalid UTF-8 so far.
    @usableFromInline var replacedInvalidUTF8Count = 0

    /// Creates the codec of one session.
    init(maxLineBytes: Int?) {
        self.maxLineBytes = maxLineBytes
    }



    /// Writes a text message to stdin followed by "\n": at once when it arrives whole, otherwise
    /// held until whole while it fits one pipe write, and beyond that streamed as it comes (see
    /// `InboundMessageHold`). It needs none of the codec's stdout state, so the session's hot path
    /// calls it without moving the codec (see `Framing.encodeInbound`).
    static func encodeInbound(_ fragment: MessageFragment, hold: inout InboundMessageHold,
                              into stdin: inout ByteBuffer) throws(WebSocketError) {
        switch fragment.kind {
        case .text:
            // Newlines inside the message pass through unchanged, as websocketd does.
            if fragment.isFirst && fragment.isLast {
                stdin.append(contentsOf: fragment.payload)
                stdin.append(Self.newline)
                return
            }
            if let length = fragment.messageLength, length + 1 > InboundMessageHold.maxHeldBytes {
                hold.passThrough(into: &stdin)
            }
            hold.append(contentsOf: fragment.payload, into: &stdin)
            if fragment.isLast {
                hold.append(Self.newline, into: &stdin)
                hold.endMessage(into: &stdin)
            }
        case .binary:
            // RFC 6455 §7.4.1: 1003 for data the endpoint cannot accept (websocketd writes it raw).
            throw .unsupportedData("binary message in line framing")
        case .continuation, .close, .ping, .pong:
            preconditionFailure("a message fragment is text or binary")
        }
    }

    /// The next complete line as a text message, or `nil` until a newline arrives.
    @inlinable
    mutating func nextOutbound() throws(WebSocketError) -> OutboundMessage? {
        let readable = stdout.readableCount
        guard scannedCount < readable else { return nil }
        let searchStart = scannedCount
        let newlineOffset: Int? = stdout.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress,
                  let hit = memchr(base + searchStart, Int32(Self.newline), readable - searchStart)
            else { return nil }
            return base.distance(to: UnsafeRawPointer(hit))
        }
        guard let newlineOffset else {
            scannedCount = readable
            try checkPartialLine()
            return nil
        }
        var length = newlineOffset
        if length > 0 && stdout[length - 1] == Self.carriageReturn { length -= 1 }
        // A line that arrived whole in one read fails here exactly as it would have failed in
        // `checkPartialLine()` had it arrived in pieces.
        if let limit = maxLineBytes, length > limit { throw .messageTooBig(limit: limit) }
        let message = makeMessage(length: length)
        stdout.moveReaderIndex(forwardBy: newlineOffset + 1)
        scannedCount = 0
        return message
    }

    /// At stdout EOF: the next line, then the text after the last newline as a final message.
    mutating func finishOutbound() throws(WebSocketError) -> OutboundMessage? {
        if let message = try nextOutbound() { return message }
        let length = stdout.readableCount
        guard length > 0 else { return nil }
        // No newline follows, so nothing is stripped: a final "\r" stays and counts.
        if let limit = maxLineBytes, length > limit { throw .messageTooBig(limit: limit) }
        let message = makeMessage(length: length)
        stdout.moveReaderIndex(forwardBy: length)
        scannedCount = 0
        return message
    }

    /// Fails as soon as the buffered line without a newline is certain to exceed the limit, so the
    /// buffer never holds more than the limit plus one "\r" plus one read (SPEC.md §2).
    @usableFromInline
    func checkPartialLine() throws(WebSocketError) {
        guard let limit = maxLineBytes else { return }
        var length = stdout.readableCount
        // A last "\r" may yet be followed by "\n" and then is not part of the message.
        if length > 0 && stdout[length - 1] == Self.carriageReturn { length -= 1 }
        if length > limit { throw .messageTooBig(limit: limit) }
    }

    /// The first `length` readable bytes as a text message: a slice of the buffer when they are
    /// valid UTF-8, otherwise a repaired copy.
    @inlinable
    mutating func makeMessage(length: Int) -> OutboundMessage {
        var replacements = 0
        let repaired = stdout.withUnsafeReadableBytes { raw in
            UTF8Repair.repairing(UnsafeRawBufferPointer(rebasing: raw[0..<length]), replacementCount: &replacements)
        }
        if let repaired {
            replacedInvalidUTF8Count += replacements
            return OutboundMessage(opcode: .text, payload: repaired[...])
        }
        return OutboundMessage(opcode: .text, payload: stdout.readableBytes.prefix(length))
    }
}

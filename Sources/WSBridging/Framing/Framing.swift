import WSProtocol

/// The codec of one session between WebSocket messages and the child's stdin and stdout bytes
/// (SPEC.md §2): inbound message fragments become stdin bytes, stdout bytes become outbound messages.
///
/// It holds the codec of its `FramingMode` in an enum, so every call is one switch and a direct
/// call, with no existential on the hot path.
public struct Framing: Sendable {
    /// The codec of the session's mode.
    @usableFromInline
    enum Codec: Sendable {
        /// Lines as text messages.
        case line(LineFraming)
        /// Bytes as they come, as binary messages.
        case raw(RawFraming)
        /// Length-prefixed records, both ways.
        case length(LengthFraming)
        /// Held only while the codec is taken out to be mutated, so its buffers stay uniquely
        /// referenced and are changed in place instead of copied (copy-on-write).
        case modifying
    }

    @usableFromInline var codec: Codec
    /// The inbound message arriving in pieces, until it is whole or known to be large. Kept out of
    /// the codec, so the stateless line and raw encoders run without moving the codec in and out
    /// of its enum (a copy of each of its buffers' references) for every message.
    private var inboundHold = InboundMessageHold()
    /// How messages map to the child's stdin and stdout.
    public let mode: FramingMode
    /// The largest inbound length-framed message, outbound line or outbound length-framed record;
    /// `nil` means no limit (`--maxframesize=0`).
    public let maxMessageBytes: Int?

    /// Creates the codec of one session.
    public init(mode: FramingMode, maxMessageBytes: Int?) {
        precondition((maxMessageBytes ?? 0) >= 0, "a message limit cannot be negative")
        self.mode = mode
        self.maxMessageBytes = maxMessageBytes
        switch mode {
        case .line: codec = .line(LineFraming(maxLineBytes: maxMessageBytes))
        case .raw: codec = .raw(RawFraming(maxMessageBytes: maxMessageBytes))
        case .length: codec = .length(LengthFraming(maxMessageBytes: maxMessageBytes))
        }
    }

    // MARK: stdin side

    /// Encodes one inbound message fragment into the bytes the child reads on stdin.
    ///
    /// Line framing writes text and "\n" after the last fragment, and refuses binary with 1003; raw
    /// writes every payload byte for byte; length writes a 5-byte header and the payload. A message
    /// that arrives whole is written at once; one arriving in pieces is held until whole while it
    /// fits one pipe write (64 KiB), so the child reads it in one piece, and a larger one is written
    /// as it comes, so memory stays bounded whatever the message's size. Length framing alone must
    /// collect a fragmented message (up to `maxMessageBytes`, else 1009), whose length its header
    /// needs; a message sent as one frame has its length in that frame's header and streams too.
    public mutating func encodeInbound(_ fragment: MessageFragment, into stdin: inout ByteBuffer) throws(WebSocketError) {
        switch codec {
        case .line:
            try LineFraming.encodeInbound(fragment, hold: &inboundHold, into: &stdin)
        case .raw:
            RawFraming.encodeInbound(fragment, hold: &inboundHold, into: &stdin)
        case .length(var codec):
            self.codec = .modifying
            defer { self.codec = .length(codec) }
            try codec.encodeInbound(fragment, hold: &inboundHold, into: &stdin)
        case .modifying:
            preconditionFailure("Framing used while it is being modified")
        }
    }

    // MARK: stdout side

    /// Lets the caller `read(2)` stdout straight into the codec's buffer.
    ///
    /// `body` gets at least `minimumWritable` bytes of free space and returns how many it filled;
    /// 0 or a negative value adds nothing. Returns what `body` returned.
    public mutating func readStdout(minimumWritable: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        withCodec(
            line: { codec in codec.readStdout(minimumWritable: minimumWritable, body) },
            raw: { codec in codec.readStdout(minimumWritable: minimumWritable, body) },
            length: { codec in codec.readStdout(minimumWritable: minimumWritable, body) }
        )
    }

    /// Appends stdout bytes, as `readStdout(minimumWritable:_:)` does (for tests and callers that
    /// already hold the bytes).
    public mutating func appendStdout(_ bytes: UnsafeRawBufferPointer) {
        withCodec(
            line: { codec in codec.appendStdout(bytes) },
            raw: { codec in codec.appendStdout(bytes) },
            length: { codec in codec.appendStdout(bytes) }
        )
    }

    /// The next complete outbound message, or `nil` when more stdout is needed.
    ///
    /// Call it until `nil` after each read. The payload may be a slice of the codec's buffer (see
    /// `OutboundMessage`). An error is sticky: the same error comes back if asked again.
    @inlinable
    public mutating func nextOutbound() throws(WebSocketError) -> OutboundMessage? {
        try withCodec(
            line: { (codec) throws(WebSocketError) in try codec.nextOutbound() },
            raw: { (codec) throws(WebSocketError) in codec.nextOutbound() },
            length: { (codec) throws(WebSocketError) in try codec.nextOutbound() }
        )
    }

    /// At stdout EOF, the messages still owed to the client; call it until `nil`.
    ///
    /// Line framing returns the text after the last "\n" as a final message if it is not empty
    /// (websocketd drops it); raw returns nothing more; length returns `nil` when nothing is left,
    /// and a record cut short throws `.internalError` (1011).
    public mutating func finishOutbound() throws(WebSocketError) -> OutboundMessage? {
        try withCodec(
            line: { (codec) throws(WebSocketError) in try codec.finishOutbound() },
            raw: { (codec) throws(WebSocketError) in codec.finishOutbound() },
            length: { (codec) throws(WebSocketError) in try codec.finishOutbound() }
        )
    }

    /// Stdout bytes held (for the watermark and memory accounting).
    public var bufferedStdoutCount: Int {
        switch codec {
        case .line(let codec): codec.bufferedStdoutCount
        case .raw(let codec): codec.bufferedStdoutCount
        case .length(let codec): codec.bufferedStdoutCount
        case .modifying: preconditionFailure("Framing used while it is being modified")
        }
    }

    /// How many U+FFFD characters have replaced invalid UTF-8 in line framing's output so far, so
    /// the session can log the first replacement (always 0 in the other modes).
    public var replacedInvalidUTF8Count: Int {
        switch codec {
        case .line(let codec): codec.replacedInvalidUTF8Count
        case .raw, .length: 0
        case .modifying: preconditionFailure("Framing used while it is being modified")
        }
    }

    /// Bytes allocated for stdout (for tests of memory use).
    var stdoutCapacity: Int {
        switch codec {
        case .line(let codec): codec.stdoutCapacity
        case .raw(let codec): codec.stdoutCapacity
        case .length(let codec): codec.stdoutCapacity
        case .modifying: preconditionFailure("Framing used while it is being modified")
        }
    }

    /// Bytes allocated to hold an inbound message arriving in pieces (for tests of memory use).
    var inboundHeldCapacity: Int { inboundHold.capacity }

    /// Runs the closure for the session's codec on the codec moved out of `self`, then puts it back.
    /// Frees buffers that hold nothing (between bursts, an idle session keeps no read buffer).
    public mutating func releaseIdleMemory() {
        withCodec(line: { $0.releaseIdleMemory() }, raw: { $0.releaseIdleMemory() }, length: { $0.releaseIdleMemory() })
        inboundHold.releaseIdleMemory()
    }

    @inlinable
    mutating func withCodec<Result, Failure: Error>(
        line: (inout LineFraming) throws(Failure) -> Result,
        raw: (inout RawFraming) throws(Failure) -> Result,
        length: (inout LengthFraming) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        switch codec {
        case .line(var codec):
            self.codec = .modifying
            defer { self.codec = .line(codec) }
            return try line(&codec)
        case .raw(var codec):
            self.codec = .modifying
            defer { self.codec = .raw(codec) }
            return try raw(&codec)
        case .length(var codec):
            self.codec = .modifying
            defer { self.codec = .length(codec) }
            return try length(&codec)
        case .modifying:
            preconditionFailure("Framing used while it is being modified")
        }
    }
}

import WSProtocol

/// The receiving stage of permessage-deflate (RFC 7692 §7.2.2), one per connection: takes the
/// compressed payload of a message (a message whose first frame had RSV1) piece by piece as frames
/// arrive, and hands out the inflated message in fragments of at most a given size, so that memory
/// stays bounded by that size whatever the compression ratio (a deflate bomb costs no more than any
/// other message). It enforces the inflated-size limit and, for text, UTF-8 validity while
/// inflating, so a bad message fails at its first bad chunk.
///
/// Use: `feed` a piece, then call `next` until it answers nil (or the message's last fragment), then
/// feed the next piece. After a thrown error the connection must be failed; the inflater is back
/// between messages with an empty window.
///
/// Memory: zlib's inflate state (about 7 KiB) plus its window (2^windowBits bytes, allocated at
/// the first output), the copy of the piece being inflated, and the output buffer (the largest
/// `maxBytes` asked for). `releaseIdleMemory()` frees what the next message does not need.
public final class MessageInflater {
    /// The client's LZ77 window in bits (8...15).
    public let windowBits: Int
    /// Whether each message starts with an empty window (client_no_context_takeover, RFC 7692 §7.1.1.2).
    public let resetsAfterEachMessage: Bool
    /// The most bytes a message may inflate to (nil: no limit).
    public let maxMessageBytes: Int?

    /// Where the inflater is between `feed` and `next` calls.
    private enum State {
        /// No message in progress: the next `feed` starts one.
        case betweenMessages
        /// A message's pieces are being inflated.
        case inMessage(MessageProgress)
    }

    /// What the inflater knows about the message in progress.
    private struct MessageProgress {
        /// `.text` or `.binary`, from the message's first frame.
        let kind: Opcode
        /// Whether a fragment of this message was handed out yet (the next one is then not first).
        var hasHandedOutFragment = false
        /// Whether the message's last piece, and the tail after it, have been fed.
        var isInputComplete = false
        /// Whether the last inflate call filled all the space it had, so zlib may hold more output
        /// even with no input left.
        var mayHoldOutput = false
        /// Compressed bytes fed so far (without the tail).
        var compressedBytes = 0
        /// Bytes inflated so far, checked against `maxMessageBytes`.
        var inflatedBytes = 0
        /// The UTF-8 check of a text message so far.
        var utf8 = UTF8Validator()
    }

    private var state = State.betweenMessages
    /// The zlib stream: created at the first message, freed by `releaseIdleMemory()` when no window
    /// needs keeping.
    private var stream: InflateStream?
    /// The piece being inflated (a copy: the caller's bytes are only valid during `feed`).
    private var input: [UInt8] = []
    /// How much of `input` zlib has consumed.
    private var inputOffset = 0
    /// Where inflated bytes go; fragments' payloads are slices of it. The loop's shared buffer
    /// when a workspace is given, else the inflater's own.
    private let outputStore: SharedBytes
    private var output: [UInt8] {
        get { outputStore.bytes }
        _modify { yield &outputStore.bytes }
    }
    /// The event loop's shared buffers and idle streams (see `DeflateWorkspace`), if any.
    private let workspace: DeflateWorkspace?

    /// Creates an inflater for a client compressing with a window of `windowBits` (8...15: the
    /// negotiated client_max_window_bits, else 15). Allocates nothing until the first message.
    /// With a `workspace`, the output buffer is the loop's, and without context takeover the
    /// zlib stream is borrowed from it for each message.
    public init(windowBits: Int, resetsAfterEachMessage: Bool, maxMessageBytes: Int?, workspace: DeflateWorkspace? = nil) {
        precondition(PerMessageDeflate.inflateWindowBits.contains(windowBits), "window bits \(windowBits) out of 8...15")
        precondition(maxMessageBytes.map { $0 >= 0 } ?? true, "a negative message limit")
        self.windowBits = windowBits
        self.resetsAfterEachMessage = resetsAfterEachMessage
        self.maxMessageBytes = maxMessageBytes
        self.workspace = workspace
        outputStore = workspace?.inflateOutput ?? SharedBytes()
    }

    /// Whether fed input (or output zlib holds) remains: call `next` before feeding more.
    public var hasPendingOutput: Bool {
        switch state {
        case .betweenMessages: false
        // Once the last piece is in, the message's last fragment is pending until handed out.
        case .inMessage(let progress): inputOffset < input.count || progress.mayHoldOutput || progress.isInputComplete
        }
    }

    /// Takes the next compressed piece of the message in progress (a message whose first frame had
    /// RSV1), copying the bytes (the caller's slice is only valid briefly). `kind` is `.text` or
    /// `.binary`. On the message's last piece (`isMessageEnd`) the tail 00 00 ff ff that the sender
    /// removed is appended (RFC 7692 §7.2.2). Precondition: `hasPendingOutput` is false.
    public func feed(_ compressed: ArraySlice<UInt8>, kind: Opcode, isFirst: Bool, isMessageEnd: Bool) {
        precondition(!hasPendingOutput, "drain the inflater (next() until nil) before feeding more")
        var progress: MessageProgress
        switch state {
        case .betweenMessages:
            precondition(isFirst, "a message's first piece must say so")
            precondition(kind == .text || kind == .binary, "only data messages are compressed")
            progress = MessageProgress(kind: kind)
        case .inMessage(let current):
            precondition(!isFirst, "a message's first piece arrived inside another message")
            progress = current
        }
        input.removeAll(keepingCapacity: true)
        inputOffset = 0
        input.append(contentsOf: compressed)
        progress.compressedBytes += compressed.count
        if isMessageEnd {
            // The tail completes the empty stored block a sync flush ends with. With no compressed
            // byte since the deflate stream (re)started, there is no such block to complete: an
            // empty payload (an empty message), or data whose last block had BFINAL set and
            // ended in an earlier piece (RFC 7692 §7.2.3.4). The tail would be a broken block then.
            let isStreamFresh = !(stream?.hasInputSinceStart ?? false)
            if !(compressed.isEmpty && (progress.compressedBytes == 0 || isStreamFresh)) {
                input.append(contentsOf: PerMessageDeflate.messageTail)
            }
            progress.isInputComplete = true
        }
        state = .inMessage(progress)
    }

    /// The next piece of the inflated message, at most `maxBytes` bytes; nil when the input fed so
    /// far is used up (feed more). The payload is a slice of the inflater's own buffer, valid until
    /// the next call (drop it before then, or the next call copies the buffer). `isLast` marks the
    /// fragment that ends the message, which may be empty (an empty message, or output that ended
    /// exactly at a chunk border).
    ///
    /// Throws `.messageTooBig` as soon as the message inflates past `maxMessageBytes` (having
    /// inflated at most one byte more), `.invalidUTF8` as soon as a text message cannot be valid,
    /// `.invalidCompressedData` for corrupt deflate data or data that does not end at a block
    /// boundary. After an error the inflater is between messages with an empty window.
    public func next(maxBytes: Int) throws(WebSocketError) -> MessageFragment? {
        precondition(maxBytes > 0, "a fragment needs room for at least one byte")
        guard case .inMessage(var progress) = state else { return nil }
        do {
            let fragment = try inflateNext(&progress, maxBytes: maxBytes)
            return fragment
        } catch {
            abandonMessage()
            throw error
        }
    }

    /// Frees what is not needed between messages: when no message is in progress, the input copy
    /// and the output buffer always (the next message allocates them again), and the zlib stream
    /// with its window only when each message starts with an empty window (client_no_context_takeover);
    /// with context takeover the window is the next message's context and stays. Mid-message, nothing.
    public func releaseIdleMemory() {
        guard case .betweenMessages = state else { return }
        input = []
        inputOffset = 0
        if workspace == nil { output = [] }
        if resetsAfterEachMessage { stream = nil }
    }

    /// Inflates as much as fits in one fragment of at most `maxBytes`, and updates the state.
    private func inflateNext(_ progress: inout MessageProgress, maxBytes: Int) throws(WebSocketError) -> MessageFragment? {
        let stream = try currentStream()
        // One byte beyond the limit is enough to know it is passed: never inflate more.
        let space = maxMessageBytes.map { min(maxBytes, $0 - progress.inflatedBytes + 1) } ?? maxBytes
        if output.count < space { output = [UInt8](repeating: 0, count: space) }
        let produced = try inflate(with: stream, space: space, isInputComplete: progress.isInputComplete)

        progress.inflatedBytes += produced
        if let limit = maxMessageBytes, progress.inflatedBytes > limit { throw .messageTooBig(limit: limit) }
        let payload = output[0..<produced]
        if progress.kind == .text, !progress.utf8.validate(contentsOf: payload) { throw .invalidUTF8 }
        progress.mayHoldOutput = produced == space

        let isInputUsedUp = inputOffset == input.count
        // With the tail consumed, the message ends once zlib stops short of filling its space: it
        // then holds no more output.
        if progress.isInputComplete, isInputUsedUp, produced < space {
            // RFC 7692 §7.2.2: the appended tail completes an empty stored block; data that does
            // not end at a block boundary was cut short, and would corrupt the next message's context.
            guard stream.isAtBlockBoundary else { throw .invalidCompressedData("message ends inside a deflate block") }
            if progress.kind == .text, !progress.utf8.isAtCharacterBoundary { throw .invalidUTF8 }
            let fragment = MessageFragment(kind: progress.kind, payload: payload, isFirst: !progress.hasHandedOutFragment, isLast: true)
            finishMessage()
            return fragment
        }
        if produced == 0 {
            state = .inMessage(progress)
            return nil
        }
        let fragment = MessageFragment(kind: progress.kind, payload: payload, isFirst: !progress.hasHandedOutFragment, isLast: false)
        progress.hasHandedOutFragment = true
        state = .inMessage(progress)
        return fragment
    }

    /// Runs zlib over the unconsumed input into `output[0..<space]`; answers the bytes produced.
    private func inflate(with stream: InflateStream, space: Int, isInputComplete: Bool) throws(WebSocketError) -> Int {
        var produced = 0
        while true {
            let step = input.withUnsafeBytes { inputBytes in
                output.withUnsafeMutableBytes { outputBytes in
                    stream.inflate(UnsafeRawBufferPointer(rebasing: inputBytes[inputOffset...]),
                                   into: UnsafeMutableRawBufferPointer(rebasing: outputBytes[produced..<space]))
                }
            }
            inputOffset += step.consumed
            produced += step.produced
            switch step.status {
            case .progressed, .blocked:
                return produced
            case .streamEnded:
                // RFC 7692 §7.2.3.4: a block with BFINAL set may end a message's data, and more
                // blocks may follow in the same message; they form a new deflate stream.
                stream.restart()
                // A sender whose data ended with the final block (and no empty stored block after
                // it) leaves only (part of) our appended tail: it is no block, just the message's end.
                if isInputComplete, input.count - inputOffset <= PerMessageDeflate.messageTail.count {
                    inputOffset = input.count
                }
                if inputOffset == input.count || produced == space { return produced }
            case .corrupt(let why):
                throw .invalidCompressedData(why)
            case .outOfMemory:
                throw .internalError("zlib could not allocate its inflate window")
            }
        }
    }

    /// The zlib stream, created when first needed.
    private func currentStream() throws(WebSocketError) -> InflateStream {
        if let stream { return stream }
        let borrowed = resetsAfterEachMessage ? workspace?.takeInflateStream(windowBits: windowBits) : nil
        guard let created = borrowed ?? InflateStream.make(windowBits: windowBits) else {
            throw .internalError("zlib could not allocate an inflate stream")
        }
        stream = created
        return created
    }

    /// Ends the message whose last fragment was just handed out.
    private func finishMessage() {
        state = .betweenMessages
        input.removeAll(keepingCapacity: true)
        inputOffset = 0
        if resetsAfterEachMessage { endStreamUse() }
    }

    /// The message no longer needs the stream: back to the workspace (reset there), or reset.
    private func endStreamUse() {
        guard let stream else { return }
        if let workspace {
            workspace.giveBack(stream)
            self.stream = nil
        } else {
            stream.reset()
        }
    }

    /// Drops the message in progress after an error: its context cannot be trusted any more.
    private func abandonMessage() {
        state = .betweenMessages
        input.removeAll(keepingCapacity: true)
        inputOffset = 0
        if resetsAfterEachMessage { endStreamUse() } else { stream?.reset() }
    }
}

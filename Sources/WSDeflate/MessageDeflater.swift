/// The sending stage of permessage-deflate (RFC 7692 §7.2.1), one per connection: compresses each
/// whole message with a sync flush and removes the flush's 00 00 ff ff tail, giving the payload of a
/// frame with RSV1.
///
/// Memory: zlib's deflate state, about 2^(windowBits+2) + 2^(memoryLevel+9) bytes plus 6 KiB
/// (windowBits 15 and memoryLevel 8: 262 KiB; 12 and 5: 38 KiB), allocated at the first message, and
/// the output buffer, as large as the largest compressed message so far. `releaseIdleMemory()`
/// frees what the next message does not need.
public final class MessageDeflater {
    /// zlib's compression level when none is given (zlib's own default). Measured with
    /// `WSBRIDGE_DEFLATE_MEASURE=1 swift test --filter DeflateMeasurement` (debug build, window 12,
    /// memLevel 5, 4 KiB JSON messages): level 1 sends 20.4% of the bytes at 139 MB/s, level 6 15.9%
    /// at 72 MB/s, level 9 15.6% at 61 MB/s. Above 6 costs time for almost nothing.
    public static let defaultCompressionLevel = 6

    /// Our LZ77 window in bits (9...15: the negotiated server_max_window_bits, at most ours).
    public let windowBits: Int
    /// zlib's memLevel (1...9): the size of its hash table and pending buffer.
    public let memoryLevel: Int
    /// zlib's compression level (0...9).
    public let compressionLevel: Int
    /// Whether each message starts with an empty window (server_no_context_takeover, RFC 7692 §7.1.1.1).
    public let resetsAfterEachMessage: Bool

    /// The zlib stream: created at the first message, freed by `releaseIdleMemory()` when no window
    /// needs keeping.
    private var stream: DeflateStream?
    /// Where compressed bytes go; `compress` answers a slice of it. The loop's shared buffer when
    /// a workspace is given (see `DeflateWorkspace`), else the deflater's own.
    private let outputStore: SharedBytes
    private let sharesOutput: Bool
    private var output: [UInt8] {
        get { outputStore.bytes }
        _modify { yield &outputStore.bytes }
    }

    /// Creates a deflater; allocates nothing until the first message. `windowBits` is never 8:
    /// zlib cannot produce raw streams with a 256-byte window.
    public init(windowBits: Int, memoryLevel: Int, resetsAfterEachMessage: Bool,
                compressionLevel: Int = MessageDeflater.defaultCompressionLevel, workspace: DeflateWorkspace? = nil)
    {
        outputStore = workspace?.deflateOutput ?? SharedBytes()
        sharesOutput = workspace != nil
        precondition(PerMessageDeflate.deflateWindowBits.contains(windowBits), "window bits \(windowBits) out of 9...15")
        precondition((1...9).contains(memoryLevel), "memory level \(memoryLevel) out of 1...9")
        precondition((0...9).contains(compressionLevel), "compression level \(compressionLevel) out of 0...9")
        self.windowBits = windowBits
        self.memoryLevel = memoryLevel
        self.compressionLevel = compressionLevel
        self.resetsAfterEachMessage = resetsAfterEachMessage
    }

    /// Compresses one whole message: deflate with a sync flush, and the trailing 00 00 ff ff removed
    /// (RFC 7692 §7.2.1). Answers the payload for a frame with RSV1, a slice of the deflater's buffer
    /// valid until the next call (drop it before then, or the next call copies the buffer).
    public func compress(_ message: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        // An empty message is an empty stored block, 00 (00 00 ff ff): zlib would emit nothing at all
        // for it right after the last message's flush, as it skips a flush with nothing to flush.
        if message.isEmpty {
            if output.isEmpty { output = [0] }
            output[0] = 0
            return output[0..<1]
        }
        let stream = currentStream()
        // A sync flush adds an empty stored block (at most 3 bits and padding, then 4 bytes) to what
        // deflateBound counts; the loop below grows the buffer if zlib still needs more.
        let needed = stream.bound(message.count) + 16
        if output.count < needed { output = [UInt8](repeating: 0, count: needed) }
        var consumed = 0
        var produced = 0
        message.withUnsafeBytes { messageBytes in
            while true {
                let step = output.withUnsafeMutableBytes { outputBytes in
                    stream.deflateSyncFlush(UnsafeRawBufferPointer(rebasing: messageBytes[consumed...]),
                                            into: UnsafeMutableRawBufferPointer(rebasing: outputBytes[produced...]))
                }
                consumed += step.consumed
                produced += step.produced
                // zlib's rule: the flush is complete when it leaves output space unused. With space
                // left, deflate may still stop short of the input (a stored block at a time).
                if produced == output.count {
                    output.append(contentsOf: repeatElement(0, count: output.count))
                } else if consumed == messageBytes.count {
                    break
                } else {
                    precondition(step.consumed > 0 || step.produced > 0, "deflate made no progress")
                }
            }
        }
        precondition(consumed == message.count && produced >= 4
                        && output[(produced - 4)..<produced].elementsEqual(PerMessageDeflate.messageTail),
                     "a sync flush ends with an empty stored block")
        if resetsAfterEachMessage { stream.reset() }
        return output[0..<(produced - 4)]
    }

    /// Frees what is not needed between messages: the output buffer always (the next message
    /// allocates one again), and the zlib stream with its window only when each message starts with
    /// an empty window (server_no_context_takeover); with context takeover the window is the next
    /// message's context and stays.
    public func releaseIdleMemory() {
        // The loop's shared buffer stays, unless a large message grew it.
        if !sharesOutput || output.count > 1 << 20 { output = [] }
        if resetsAfterEachMessage { stream = nil }
    }

    /// The zlib stream, created when first needed.
    private func currentStream() -> DeflateStream {
        if let stream { return stream }
        // deflateInit2 fails only when malloc does (the parameters are checked above), which Swift's
        // own allocations treat as fatal too.
        guard let created = DeflateStream.make(level: compressionLevel, windowBits: windowBits, memoryLevel: memoryLevel) else {
            preconditionFailure("zlib could not allocate a deflate stream")
        }
        stream = created
        return created
    }
}

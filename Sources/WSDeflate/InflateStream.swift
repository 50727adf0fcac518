import CZlib

/// One zlib inflate stream over raw deflate data (RFC 1951, no zlib header), in a heap allocation
/// of its own: zlib's internal state points back at its `z_stream`, so the struct must never move,
/// which a Swift value or stored property does not promise. Freed (`inflateEnd`) with the object.
final class InflateStream {
    /// What one call of `inflate(_:into:)` came to.
    enum Status: Equatable {
        /// Input was consumed or output produced; call again if both input and space remain.
        case progressed
        /// Nothing could be done: no input left, or no output space (zlib's Z_BUF_ERROR, not an error).
        case blocked
        /// A block with BFINAL set ended the deflate stream (RFC 1951 §3.2.3); `restart()` before
        /// inflating what follows.
        case streamEnded
        /// The data is not valid deflate; zlib's message says why.
        case corrupt(String)
        /// zlib could not allocate its window.
        case outOfMemory
    }

    /// The heap-allocated stream zlib works on.
    private let stream: UnsafeMutablePointer<z_stream>
    /// The window size in bits, for `restart()`'s copy of the window.
    let windowBits: Int
    /// Whether any input was given since the stream started (or restarted).
    private(set) var hasInputSinceStart = false
    /// Whether the data so far ends exactly after a whole block, as every message must once its
    /// tail is appended (RFC 7692 §7.2.2: the tail completes an empty stored block).
    ///
    /// zlib sets `data_type` + 128 when it returns right after a block ("immediately after decoding
    /// an end-of-block code", zlib.h), but not on a call that could do nothing: one that starts at a
    /// block boundary without input returns in a mode it does not report as one (a fresh raw stream,
    /// or a stream called again after its last block). Such a call cannot move the stream, so the
    /// answer of the last call that did something stands.
    private(set) var isAtBlockBoundary = true

    private init(stream: UnsafeMutablePointer<z_stream>, windowBits: Int) {
        self.stream = stream
        self.windowBits = windowBits
    }

    /// A stream for data compressed with a window of `windowBits` (8...15), or nil when zlib cannot
    /// allocate its state.
    static func make(windowBits: Int) -> InflateStream? {
        precondition(PerMessageDeflate.inflateWindowBits.contains(windowBits), "window bits \(windowBits) out of 8...15")
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard wsbridge_inflate_init_raw(stream, Int32(windowBits)) == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
        return InflateStream(stream: stream, windowBits: windowBits)
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Inflates from `input` into `output` as far as either goes; answers what happened and how many
    /// bytes were consumed and produced. zlib keeps no pointer into either buffer between calls (it
    /// holds unread bits and pending output in its own state), so they may move between calls.
    func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer)
        -> (status: Status, consumed: Int, produced: Int)
    {
        let (inputCount, outputCount) = stream.point(at: input, output)
        if inputCount > 0 { hasInputSinceStart = true }
        let result = CZlib.inflate(stream, Z_SYNC_FLUSH)
        let consumed = Int(inputCount - stream.pointee.avail_in)
        let produced = Int(outputCount - stream.pointee.avail_out)
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
        isAtBlockBoundary = stream.pointee.data_type & 128 != 0 || (consumed == 0 && produced == 0 && isAtBlockBoundary)
        let status: Status
        switch result {
        case Z_OK: status = .progressed
        case Z_BUF_ERROR: status = .blocked
        case Z_STREAM_END: status = .streamEnded
        case Z_DATA_ERROR: status = .corrupt(stream.pointee.msg.map { String(cString: $0) } ?? "invalid deflate data")
        // A raw stream has no dictionary id to ask for; zlib says Z_NEED_DICT only for zlib headers.
        case Z_NEED_DICT: status = .corrupt("unexpected dictionary request")
        case Z_MEM_ERROR: status = .outOfMemory
        default: preconditionFailure("inflate misused: \(result)")
        }
        return (status, consumed, produced)
    }

    /// Starts a new deflate stream with an empty window (between messages without context
    /// takeover, and after an error).
    func reset() {
        inflateReset(stream)
        hasInputSinceStart = false
        isAtBlockBoundary = true
    }

    /// Starts a new deflate stream that keeps the window: after a BFINAL block inside a message
    /// (RFC 7692 §7.2.3.4), the next block starts a new stream, yet the window is still the
    /// message's context (RFC 7692 §7.2.2: "MUST decompress each new message using the LZ77
    /// sliding window used to process the last compressed message"), so a sender that goes on
    /// referring back to it is served too.
    func restart() {
        var window = [UInt8](repeating: 0, count: 1 << windowBits)
        var length: UInt32 = 0
        let gotWindow = window.withUnsafeMutableBufferPointer { inflateGetDictionary(stream, $0.baseAddress, &length) }
        reset()
        guard gotWindow == Z_OK, length > 0 else { return }
        let status = window.withUnsafeBufferPointer { inflateSetDictionary(stream, $0.baseAddress, length) }
        precondition(status == Z_OK, "a raw stream takes a dictionary right after a reset")
    }
}

import CZlib

/// One zlib deflate stream producing raw deflate data (RFC 1951, no zlib header), in a heap
/// allocation of its own: zlib's internal state points back at its `z_stream`, so the struct must
/// never move. Freed (`deflateEnd`) with the object.
final class DeflateStream {
    /// The heap-allocated stream zlib works on.
    private let stream: UnsafeMutablePointer<z_stream>

    private init(stream: UnsafeMutablePointer<z_stream>) {
        self.stream = stream
    }

    /// A stream compressing at `level` (0...9) with a window of `windowBits` (9...15) and zlib's
    /// `memoryLevel` (1...9), or nil when zlib cannot allocate its state.
    static func make(level: Int, windowBits: Int, memoryLevel: Int) -> DeflateStream? {
        precondition(PerMessageDeflate.deflateWindowBits.contains(windowBits), "window bits \(windowBits) out of 9...15")
        precondition((1...9).contains(memoryLevel), "memory level \(memoryLevel) out of 1...9")
        precondition((0...9).contains(level), "compression level \(level) out of 0...9")
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard wsbridge_deflate_init_raw(stream, Int32(level), Int32(windowBits), Int32(memoryLevel)) == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
        return DeflateStream(stream: stream)
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// An upper bound of the compressed size of `count` bytes, before the sync flush's few bytes.
    func bound(_ count: Int) -> Int {
        Int(deflateBound(stream, UInt(count)))
    }

    /// Compresses `input` with a sync flush into `output`: answers the bytes consumed and produced.
    /// The flush is complete when output space is left over; otherwise call again with the rest of
    /// the input and more space (zlib's rule for Z_SYNC_FLUSH).
    func deflateSyncFlush(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer)
        -> (consumed: Int, produced: Int)
    {
        let (inputCount, outputCount) = stream.point(at: input, output)
        let result = deflate(stream, Z_SYNC_FLUSH)
        // Z_BUF_ERROR only says that nothing was left to do; any other answer is our misuse.
        precondition(result == Z_OK || result == Z_BUF_ERROR, "deflate misused: \(result)")
        let consumed = Int(inputCount - stream.pointee.avail_in)
        let produced = Int(outputCount - stream.pointee.avail_out)
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
        return (consumed, produced)
    }

    /// Starts a new deflate stream with an empty window, keeping the allocations.
    func reset() {
        deflateReset(stream)
    }
}

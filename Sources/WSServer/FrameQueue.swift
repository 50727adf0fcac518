import WSProtocol
import WSPlatform

/// Encoded frames, written once and shared by every client queue that holds them (SPEC §13's
/// fan-out: one child's output goes to many sockets from one copy).
final class SharedFrames {
    let bytes: ByteBuffer
    init(_ bytes: ByteBuffer) { self.bytes = bytes }
}

/// One client's queue of frames waiting for its socket, as references into shared frames: a
/// hundred clients of one session hold one copy of its output. `byteCount` is what
/// `--clientqueue` bounds.
struct FrameQueue {
    private struct Chunk {
        let frames: SharedFrames
        /// The part of `frames.bytes`'s readable bytes still to write.
        var start: Int
        let end: Int
        var count: Int { end - start }
    }

    private var chunks: [Chunk] = []
    private var head = 0
    private(set) var byteCount = 0
    private(set) var isWritable = true
    var isEmpty: Bool { byteCount == 0 }

    mutating func writerBecameWritable() { isWritable = true }

    /// Queues all of `frames`.
    mutating func append(_ frames: SharedFrames) {
        let count = frames.bytes.readableCount
        guard count > 0 else { return }
        chunks.append(Chunk(frames: frames, start: 0, end: count))
        byteCount += count
    }

    /// Queues frames this client alone gets (a pong, a close, a compressed message).
    mutating func append(_ bytes: ByteBuffer) {
        append(SharedFrames(bytes))
    }

    /// Drops everything not yet begun; a frame partly written stays, so the stream stays whole
    /// for the close frame that follows (a client that fell too far behind, SPEC §13).
    mutating func dropUnstarted() {
        guard head < chunks.count else { return }
        let first = chunks[head]
        chunks.removeAll()
        head = 0
        byteCount = 0
        if first.start > 0 {
            chunks.append(first)
            byteCount = first.count
        }
    }

    /// Writes as much as `transport` takes without blocking, consuming what was written; up to
    /// 16 chunks per gathering write.
    mutating func flush(to transport: any Transport) -> Syscalls.DrainResult {
        var outcome = Syscalls.DrainResult()
        guard isWritable else { return outcome }
        if transport.hasBufferedOutput {
            switch transport.flushBufferedOutput() {
            case .bytes(let count): outcome.wroteBytes = count > 0
            case .wouldBlock:
                isWritable = false
                outcome.wouldBlock = true
                return outcome
            case .endOfFile, .failed:
                outcome.failed = true
                return outcome
            }
        }
        while head < chunks.count {
            let last = min(chunks.count, head + 16)
            let result = withBuffers(chunks[head..<last]) { transport.write(gathering: $0) }
            switch result {
            case .bytes(let count):
                if count > 0 { outcome.wroteBytes = true }
                consume(count)
            case .wouldBlock:
                isWritable = false
                outcome.wouldBlock = true
                return outcome
            case .endOfFile, .failed:
                outcome.failed = true
                return outcome
            }
        }
        if transport.hasBufferedOutput {
            isWritable = false
            outcome.wouldBlock = true
        }
        return outcome
    }

    /// Whether everything queued, here and in `transport`, is on the wire.
    func isFlushed(to transport: any Transport) -> Bool { isEmpty && !transport.hasBufferedOutput }

    private mutating func consume(_ count: Int) {
        var left = count
        byteCount -= count
        while left > 0 {
            let available = chunks[head].count
            if left >= available {
                left -= available
                head += 1
            } else {
                chunks[head].start += left
                left = 0
            }
        }
        if head == chunks.count {
            chunks.removeAll(keepingCapacity: chunks.count <= 64)
            head = 0
        } else if head >= 64 && head * 2 >= chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
    }

    /// Calls `body` with pointers to the chunks' unwritten bytes, each kept alive for the call.
    private func withBuffers<R>(_ slice: ArraySlice<Chunk>, _ body: ([UnsafeRawBufferPointer]) -> R) -> R {
        var buffers: [UnsafeRawBufferPointer] = []
        buffers.reserveCapacity(slice.count)
        func nest(_ index: Int) -> R {
            guard index < slice.endIndex else { return body(buffers) }
            let chunk = slice[index]
            return chunk.frames.bytes.withUnsafeReadableBytes { raw in
                buffers.append(UnsafeRawBufferPointer(rebasing: raw[chunk.start..<chunk.end]))
                return nest(index + 1)
            }
        }
        return nest(slice.startIndex)
    }
}

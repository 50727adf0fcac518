import WSProtocol
import WSPlatform

/// Bytes waiting for a non-blocking writer (a client's socket, a child's stdin pipe), and whether
/// that writer takes more. Every fd is registered edge-triggered: once a write would block,
/// nothing is tried again until the loop reports the writer writable (`writerBecameWritable()`).
struct PendingWrites {
    /// What is still to be written; its size is what the watermarks bound.
    var bytes = ByteBuffer()
    private(set) var isWritable = true

    mutating func writerBecameWritable() { isWritable = true }

    /// Writes as much as `write` takes without blocking, consuming what was written. Nothing is
    /// tried while the writer is known to be full.
    mutating func flush(through write: (UnsafeRawBufferPointer) -> Syscalls.IOResult) -> Syscalls.DrainResult {
        guard isWritable && !bytes.isEmpty else { return Syscalls.DrainResult() }
        let drained = Syscalls.drain(&bytes, through: write)
        if drained.wouldBlock { isWritable = false }
        return drained
    }

    /// Writes to a client's transport: what it holds from earlier writes (TLS records) first,
    /// then these bytes. It would block while anything is left in either.
    mutating func flush(to transport: any Transport) -> Syscalls.DrainResult {
        guard isWritable && !isFlushed(to: transport) else { return Syscalls.DrainResult() }
        let drained = transport.drain(&bytes)
        if drained.wouldBlock { isWritable = false }
        return drained
    }

    /// Whether everything queued, here and in `transport`, is on the wire.
    func isFlushed(to transport: any Transport) -> Bool { transport.isFlushed(bytes) }
}

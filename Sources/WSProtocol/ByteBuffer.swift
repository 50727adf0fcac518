/// A growable byte queue with separate read and write positions: bytes are appended at the end and
/// consumed from the front without moving the rest.
///
/// Every buffer between the socket and the child is one of these. Its capacity only grows when the
/// readable bytes do not fit after compacting, so a buffer that is drained as fast as it is filled
/// never reallocates; `releaseCapacityIfEmpty(keeping:)` gives memory back once an idle connection
/// no longer needs it.
public struct ByteBuffer: Sendable {
    // Internal and usable from inlinable code: the hot methods below are inlined into the
    // framings and the server, which live in other modules.
    @usableFromInline var storage: [UInt8]
    /// Index of the first readable byte in `storage`.
    @usableFromInline var readerIndex = 0
    /// Index one past the last readable byte in `storage`.
    @usableFromInline var writerIndex = 0

    /// Creates an empty buffer with room for `capacity` bytes.
    public init(capacity: Int = 0) {
        storage = capacity == 0 ? [] : [UInt8](unsafeUninitializedCapacity: capacity) { _, count in count = capacity }
    }

    /// Creates a buffer holding `bytes`.
    @inlinable
    public init<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        storage = Array(bytes)
        writerIndex = storage.count
    }

    /// The number of bytes that can be read.
    @inlinable public var readableCount: Int { _readableCount }
    @usableFromInline var _readableCount: Int { writerIndex - readerIndex }

    /// Whether there is nothing to read.
    @inlinable
    public var isEmpty: Bool { writerIndex == readerIndex }

    /// The bytes allocated, readable or not (for memory accounting).
    @inlinable
    public var capacity: Int { storage.count }

    /// A copy-free view of the readable bytes (it shares storage until the buffer is next mutated).
    @inlinable
    public var readableBytes: ArraySlice<UInt8> { storage[readerIndex..<writerIndex] }

    /// Makes room for at least `count` more bytes after the readable ones, compacting before growing.
    @inlinable
    public mutating func reserveWritable(_ count: Int) {
        if storage.count - writerIndex >= count { return }
        makeWritable(count)
    }

    /// The slow path of `reserveWritable(_:)`: compacts or grows the storage.
    @usableFromInline
    mutating func makeWritable(_ count: Int) {
        let readable = writerIndex - readerIndex
        if readerIndex > 0 && storage.count - readable >= count {
            // Moving the readable bytes to the front is cheaper than growing.
            storage.withUnsafeMutableBytes { raw in
                let base = raw.baseAddress!
                base.copyMemory(from: base + readerIndex, byteCount: readable)
            }
            readerIndex = 0
            writerIndex = readable
            return
        }
        var newCapacity = Swift.max(storage.count, 64)
        while newCapacity - readable < count { newCapacity *= 2 }
        // Uninitialized storage: zero-filling 64 KiB on every growth would cost more than the read.
        let start = readerIndex
        let grown = storage.withUnsafeBytes { source in
            [UInt8](unsafeUninitializedCapacity: newCapacity) { target, initializedCount in
                if readable > 0 {
                    UnsafeMutableRawPointer(target.baseAddress!).copyMemory(from: source.baseAddress! + start, byteCount: readable)
                }
                initializedCount = newCapacity
            }
        }
        storage = grown
        readerIndex = 0
        writerIndex = readable
    }

    /// Appends one byte.
    @inlinable
    public mutating func append(_ byte: UInt8) {
        reserveWritable(1)
        storage[writerIndex] = byte
        writerIndex += 1
    }

    /// Appends raw bytes.
    @inlinable
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserveWritable(bytes.count)
        let start = writerIndex
        storage.withUnsafeMutableBytes { raw in
            (raw.baseAddress! + start).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        }
        writerIndex += bytes.count
    }

    /// Appends the bytes of any collection.
    @inlinable
    public mutating func append<Bytes: Collection>(contentsOf bytes: Bytes) where Bytes.Element == UInt8 {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { append(UnsafeRawBufferPointer($0)) }
        if handled != nil { return }
        reserveWritable(bytes.count)
        for byte in bytes {
            storage[writerIndex] = byte
            writerIndex += 1
        }
    }

    /// Appends the readable bytes of another buffer.
    @inlinable
    public mutating func append(_ other: ByteBuffer) {
        other.withUnsafeReadableBytes { append($0) }
    }

    /// Lets `body` write directly into at least `minimumWritable` bytes of free space (for example a
    /// `read(2)` straight into the buffer); `body` returns how many bytes it wrote.
    @discardableResult
    @inlinable
    public mutating func writeWithUnsafeMutableBytes<E: Error>(
        minimumWritable: Int,
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> Int
    ) throws(E) -> Int {
        reserveWritable(minimumWritable)
        let start = writerIndex
        let end = storage.count
        // Array's closures only rethrow untyped errors, so the typed error travels in a Result.
        let written = try storage.withUnsafeMutableBytes { raw in
            Result { () throws(E) -> Int in try body(UnsafeMutableRawBufferPointer(rebasing: raw[start..<end])) }
        }.get()
        precondition(written >= 0 && written <= end - start, "wrote outside the reserved space")
        writerIndex += written
        return written
    }

    /// Calls `body` with the readable bytes.
    @inlinable
    public func withUnsafeReadableBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let range = readerIndex..<writerIndex
        return try storage.withUnsafeBytes { raw in
            Result { () throws(E) -> R in try body(UnsafeRawBufferPointer(rebasing: raw[range])) }
        }.get()
    }

    /// Calls `body` with the readable bytes, which it may change in place (for example to unmask them).
    @inlinable
    public mutating func withUnsafeMutableReadableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        let range = readerIndex..<writerIndex
        return try storage.withUnsafeMutableBytes { raw in
            Result { () throws(E) -> R in try body(UnsafeMutableRawBufferPointer(rebasing: raw[range])) }
        }.get()
    }

    /// Discards the first `count` readable bytes.
    @inlinable
    public mutating func moveReaderIndex(forwardBy count: Int) {
        precondition(count >= 0 && count <= writerIndex - readerIndex, "consumed more than is readable")
        readerIndex += count
        if readerIndex == writerIndex {
            // Empty: start again at the front so the next append needs no compaction.
            readerIndex = 0
            writerIndex = 0
        }
    }

    /// Removes and returns the first `count` readable bytes.
    @inlinable
    public mutating func readBytes(_ count: Int) -> [UInt8] {
        let bytes = Array(storage[readerIndex..<(readerIndex + count)])
        moveReaderIndex(forwardBy: count)
        return bytes
    }

    /// Discards every readable byte.
    @inlinable
    public mutating func clear() {
        readerIndex = 0
        writerIndex = 0
    }

    /// Frees the storage of an empty buffer whose capacity grew beyond `keeping` bytes, so that a
    /// connection that once carried a large message does not hold that memory while idle.
    public mutating func releaseCapacityIfEmpty(keeping: Int) {
        guard isEmpty, storage.count > keeping else { return }
        storage = keeping == 0 ? [] : [UInt8](unsafeUninitializedCapacity: keeping) { _, count in count = keeping }
        readerIndex = 0
        writerIndex = 0
    }

    /// The readable byte at `offset` from the first readable byte.
    @inlinable
    public subscript(offset: Int) -> UInt8 {
        precondition(offset >= 0 && offset < writerIndex - readerIndex, "offset outside the readable bytes")
        return storage[readerIndex + offset]
    }
}

import Testing
@testable import WSProtocol

@Suite("ByteBuffer")
struct ByteBufferTests {
    @Test("appends and consumes in order, across compaction and growth")
    func fifoOrder() {
        var buffer = ByteBuffer(capacity: 8)
        var expected: [UInt8] = []
        var next: UInt8 = 0
        for round in 0..<200 {
            let chunk = (0..<(round % 13)).map { _ in next &+= 1; return next }
            buffer.append(contentsOf: chunk)
            expected += chunk
            let take = min(buffer.readableCount, round % 7)
            #expect(buffer.readBytes(take) == Array(expected.prefix(take)))
            expected.removeFirst(take)
            #expect(Array(buffer.readableBytes) == expected)
        }
    }

    @Test("writes straight into free space")
    func directWrite() {
        var buffer = ByteBuffer()
        let written = buffer.writeWithUnsafeMutableBytes(minimumWritable: 4) { space in
            space[0] = 1; space[1] = 2; space[2] = 3
            return 3
        }
        #expect(written == 3)
        #expect(Array(buffer.readableBytes) == [1, 2, 3])
    }

    @Test("gives memory back when empty")
    func releasesCapacity() {
        var buffer = ByteBuffer()
        buffer.append(contentsOf: [UInt8](repeating: 7, count: 100_000))
        buffer.moveReaderIndex(forwardBy: 100_000)
        buffer.releaseCapacityIfEmpty(keeping: 4096)
        #expect(buffer.capacity == 4096)
        #expect(buffer.isEmpty)
    }
}

import CLinuxSystem
import Foundation
import Testing
import TestSupport
@testable import WSDeflate

/// The numbers behind the defaults (window bits, memLevel, level, context takeover): heap bytes per
/// idle stream, compression ratio and speed. Opt-in, as it prints a report rather than checking:
/// `WSBRIDGE_DEFLATE_MEASURE=1 swift test --skip-build --filter DeflateMeasurement`.
@Suite("Deflate measurement", .serialized, .enabled(if: ProcessInfo.processInfo.environment["WSBRIDGE_DEFLATE_MEASURE"] == "1"))
struct DeflateMeasurementTests {
    static let instances = 200

    /// (a) 4 KiB messages of JSON lines, (b) single 200-byte JSON lines.
    static func workload(messageBytes: Int, totalBytes: Int) -> [[UInt8]] {
        var random = SplitMix64(seed: 42)
        var result: [[UInt8]] = []
        var total = 0
        while total < totalBytes {
            var lines: [UInt8] = []
            while lines.count < messageBytes {
                let line = "{\"ts\":\(1_733_150_000_000 + random.below(100_000)),\"host\":\"web-\(random.below(8))\",\"cpu\":0.\(random.below(1000)),\"mem\":\(random.below(100_000)),\"tags\":[\"a\",\"b\"]}\n"
                lines += line.utf8
            }
            result.append(Array(lines.prefix(messageBytes)))
            total += messageBytes
        }
        return result
    }

    /// Heap bytes per instance that `make` leaves allocated, over `instances` of them.
    static func heapBytesPerInstance<T>(_ make: () -> T) -> Int {
        let before = wsbridge_heap_bytes_in_use()
        let kept = (0..<instances).map { _ in make() }
        let after = wsbridge_heap_bytes_in_use()
        withExtendedLifetime(kept) {}
        return (Int(after) - Int(before)) / instances
    }

    /// Compressed/original ratio and MB/s of input for `messages` through one deflater.
    static func run(_ messages: [[UInt8]], windowBits: Int, memoryLevel: Int, level: Int, keepsContext: Bool) -> (ratio: Double, megabytesPerSecond: Double) {
        let deflater = MessageDeflater(windowBits: windowBits, memoryLevel: memoryLevel, resetsAfterEachMessage: !keepsContext, compressionLevel: level)
        var inBytes = 0
        var outBytes = 0
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for message in messages {
                inBytes += message.count
                outBytes += deflater.compress(message[...]).count
            }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (Double(outBytes) / Double(inBytes), Double(inBytes) / seconds / 1e6)
    }

    static func format(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

    @Test("Deflater: idle heap bytes per stream with context kept, ratio and MB/s per window bits and memLevel")
    func deflaterTable() {
        let large = Self.workload(messageBytes: 4096, totalBytes: 8 << 20)
        let small = Self.workload(messageBytes: 200, totalBytes: 4 << 20)
        print("wbits memLevel | idle bytes/stream | 4KiB JSON ratio MB/s | 200B lines ctx ratio MB/s | 200B no-ctx ratio")
        for windowBits in [9, 10, 11, 12, 13, 15] {
            for memoryLevel in [1, 4, 5, 8] {
                let idle = Self.heapBytesPerInstance { () -> MessageDeflater in
                    let deflater = MessageDeflater(windowBits: windowBits, memoryLevel: memoryLevel, resetsAfterEachMessage: false)
                    _ = deflater.compress(large[0][...])
                    deflater.releaseIdleMemory()
                    return deflater
                }
                let a = Self.run(large, windowBits: windowBits, memoryLevel: memoryLevel, level: 6, keepsContext: true)
                let b = Self.run(small, windowBits: windowBits, memoryLevel: memoryLevel, level: 6, keepsContext: true)
                let c = Self.run(small, windowBits: windowBits, memoryLevel: memoryLevel, level: 6, keepsContext: false)
                print("\(windowBits) \(memoryLevel) | \(idle) | \(Self.format(a.ratio, 3)) \(Self.format(a.megabytesPerSecond, 0)) | \(Self.format(b.ratio, 3)) \(Self.format(b.megabytesPerSecond, 0)) | \(Self.format(c.ratio, 3))")
            }
        }
        print("level (wbits 12, memLevel 5; and 15, 8) | 4KiB JSON ratio MB/s | 200B lines ctx ratio MB/s")
        for (windowBits, memoryLevel) in [(12, 5), (15, 8)] {
            for level in 1...9 {
                let a = Self.run(large, windowBits: windowBits, memoryLevel: memoryLevel, level: level, keepsContext: true)
                let b = Self.run(small, windowBits: windowBits, memoryLevel: memoryLevel, level: level, keepsContext: true)
                print("\(windowBits)/\(memoryLevel) level \(level) | \(Self.format(a.ratio, 3)) \(Self.format(a.megabytesPerSecond, 0)) | \(Self.format(b.ratio, 3)) \(Self.format(b.megabytesPerSecond, 0))")
            }
        }
        print("deflater without context, after releaseIdleMemory: \(Self.heapBytesPerInstance { () -> MessageDeflater in let d = MessageDeflater(windowBits: 15, memoryLevel: 8, resetsAfterEachMessage: true); _ = d.compress(large[0][...]); d.releaseIdleMemory(); return d }) bytes")
    }

    @Test("Inflater: idle heap bytes per stream per window bits, with and without context takeover")
    func inflaterTable() {
        let message = Self.workload(messageBytes: 4096, totalBytes: 4096)[0]
        let compressed = Array(MessageDeflater(windowBits: 9, memoryLevel: 8, resetsAfterEachMessage: true).compress(message[...]))
        print("inflater wbits | idle bytes/stream, context kept | without context")
        for windowBits in 8...15 {
            let sizes = [false, true].map { resets in
                Self.heapBytesPerInstance { () -> MessageInflater in
                    let inflater = MessageInflater(windowBits: windowBits, resetsAfterEachMessage: resets, maxMessageBytes: nil)
                    inflater.feed(compressed[...], kind: .text, isFirst: true, isMessageEnd: true)
                    while let fragment = try? inflater.next(maxBytes: 65536), !fragment.isLast {}
                    inflater.releaseIdleMemory()
                    return inflater
                }
            }
            print("\(windowBits) | \(sizes[0]) | \(sizes[1])")
        }
    }
}

import Foundation
import Testing
import TestSupport
import WSProtocol
@testable import WSDeflate

/// Helpers shared by the permessage-deflate tests.
enum DeflateTestSupport {
    /// How a message's compressed bytes are cut into the pieces the inflater is fed.
    enum Split: CustomStringConvertible, Sendable {
        case whole
        case byteByByte
        case random

        var description: String {
            switch self {
            case .whole: "whole"
            case .byteByByte: "byte by byte"
            case .random: "random splits"
            }
        }
    }

    /// `bytes` cut into pieces as `split` says (one empty piece for an empty payload).
    static func pieces(_ bytes: ArraySlice<UInt8>, _ split: Split, _ random: inout SplitMix64) -> [ArraySlice<UInt8>] {
        if bytes.isEmpty { return [bytes] }
        switch split {
        case .whole:
            return [bytes]
        case .byteByByte:
            return bytes.indices.map { bytes[$0...$0] }
        case .random:
            var result: [ArraySlice<UInt8>] = []
            var start = bytes.startIndex
            while start < bytes.endIndex {
                let length = min(bytes.endIndex - start, 1 + random.below(random.chance(20) ? 4 : 9000))
                // Empty pieces (empty continuation frames) happen too.
                if random.chance(5) { result.append(bytes[start..<start]) }
                result.append(bytes[start..<(start + length)])
                start += length
            }
            return result
        }
    }

    /// Feeds `pieces` as one message and drains it with fragment sizes from `maxBytes`, checking the
    /// fragments' flags; answers the inflated bytes.
    static func inflate(_ inflater: MessageInflater, _ pieces: [ArraySlice<UInt8>], kind: Opcode = .binary,
                        maxBytes: () -> Int) throws(WebSocketError) -> [UInt8]
    {
        var result: [UInt8] = []
        var fragments = 0
        var sawLast = false
        for (index, piece) in pieces.enumerated() {
            #expect(!sawLast, "the message ended before its last piece")
            inflater.feed(piece, kind: kind, isFirst: index == 0, isMessageEnd: index == pieces.count - 1)
            while true {
                let limit = maxBytes()
                guard let fragment = try inflater.next(maxBytes: limit) else { break }
                #expect(fragment.kind == kind)
                #expect(fragment.isFirst == (fragments == 0))
                #expect(fragment.payload.count <= limit)
                #expect(fragment.messageLength == (fragment.isFirst && fragment.isLast ? fragment.payload.count : nil))
                fragments += 1
                result += fragment.payload
                if fragment.isLast {
                    sawLast = true
                    break
                }
            }
            #expect(!inflater.hasPendingOutput)
        }
        #expect(sawLast, "no fragment ended the message")
        return result
    }

    /// Inflates a whole message fed at once and drained in 64 KiB fragments.
    static func inflate(_ inflater: MessageInflater, _ compressed: [UInt8], kind: Opcode = .binary) throws(WebSocketError) -> [UInt8] {
        try inflate(inflater, [compressed[...]], kind: kind, maxBytes: { 65536 })
    }

    /// `count` random bytes (incompressible).
    static func randomBytes(_ count: Int, _ random: inout SplitMix64) -> [UInt8] {
        (0..<count).map { _ in random.byte() }
    }

    /// About `count` bytes of JSON lines like a monitoring feed's, with some multi-byte UTF-8, so that
    /// text is compressible and characters straddle chunk borders.
    static func jsonLines(_ count: Int, _ random: inout SplitMix64) -> [UInt8] {
        var text = ""
        let hosts = ["web-1", "web-2", "web-3", "db-ü", "cache-€", "edge-😀"]
        while text.utf8.count < count {
            text += "{\"ts\":\(1_733_150_000_000 + random.below(1_000_000)),\"host\":\"\(hosts[random.below(hosts.count)])\","
            text += "\"cpu\":0.\(random.below(1000)),\"mem\":\(random.below(100_000)),\"tags\":[\"a\",\"b\"]}\n"
        }
        return Array(text.utf8.prefix(count)).trimmedToCharacterBoundary()
    }

    /// The process's resident set in bytes (VmRSS of /proc/self/status).
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return kilobytes * 1024
        }
        return 0
    }
}

extension [UInt8] {
    /// The bytes without a trailing partial UTF-8 character.
    func trimmedToCharacterBoundary() -> [UInt8] {
        var end = count
        while end > 0, !UTF8Validator.isValid(self[0..<end]) { end -= 1 }
        return Array(self[0..<end])
    }
}

/// Python's zlib, as an implementation independent of ours: messages go to a `python3` process as
/// length-prefixed records and come back the same way.
enum PythonZlib {
    /// Compresses each message as a permessage-deflate sender: sync flush, tail removed.
    static func compress(_ messages: [[UInt8]], windowBits: Int, keepsContext: Bool) throws -> [[UInt8]] {
        try run("""
            c = None
            def transform(m):
                global c
                if c is None or not \(keepsContext ? "True" : "False"):
                    c = zlib.compressobj(6, zlib.DEFLATED, -\(windowBits))
                out = c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)
                assert out.endswith(b'\\x00\\x00\\xff\\xff')
                return out[:-4]
            """, messages)
    }

    /// Inflates each message as a permessage-deflate receiver: tail appended.
    static func decompress(_ messages: [[UInt8]], windowBits: Int, keepsContext: Bool) throws -> [[UInt8]] {
        try run("""
            d = None
            def transform(m):
                global d
                if d is None or not \(keepsContext ? "True" : "False"):
                    d = zlib.decompressobj(-\(windowBits))
                return d.decompress(m + b'\\x00\\x00\\xff\\xff')
            """, messages)
    }

    private static func run(_ transform: String, _ messages: [[UInt8]]) throws -> [[UInt8]] {
        let script = """
            import sys, zlib, struct
            \(transform)
            data = sys.stdin.buffer.read()
            out = []
            i = 0
            while i < len(data):
                (n,) = struct.unpack('>I', data[i:i+4])
                r = transform(data[i+4:i+4+n])
                out.append(struct.pack('>I', len(r)) + r)
                i += 4 + n
            sys.stdout.buffer.write(b''.join(out))
            """
        var input = Data()
        for message in messages {
            withUnsafeBytes(of: UInt32(message.count).bigEndian) { input.append(contentsOf: $0) }
            input.append(contentsOf: message)
        }
        // stdin from a file, so that neither side can block on a full pipe.
        let inputURL = FileManager.default.temporaryDirectory.appendingPathComponent("wsdeflate-\(UUID().uuidString)")
        try input.write(to: inputURL)
        defer { try? FileManager.default.removeItem(at: inputURL) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        process.standardInput = try FileHandle(forReadingFrom: inputURL)
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = [UInt8](output.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "python3 failed")
        var result: [[UInt8]] = []
        var index = 0
        while index + 4 <= data.count {
            let length = data[index..<(index + 4)].reduce(0) { $0 << 8 | Int($1) }
            result.append(Array(data[(index + 4)..<(index + 4 + length)]))
            index += 4 + length
        }
        return result
    }
}

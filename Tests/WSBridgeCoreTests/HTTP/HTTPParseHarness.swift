import Testing
@testable import WSProtocol

/// Everything a request parser made of one input: the heads, the error that ended it, and the
/// bytes it handed back.
struct HTTPParseOutcome: Equatable {
    /// The heads returned, in order.
    var heads: [HTTPRequestHead] = []
    /// The error thrown, if parsing ended with one.
    var error: HTTPError?
    /// The bytes after the last head (with `.stopAfterFirstHead`, also every later chunk).
    var remaining: [UInt8] = []
}

/// Feeds inputs to `HTTPRequestParser` in different pieces and checks that the pieces do not matter.
enum HTTPParseHarness {
    /// What the caller does once a head arrives.
    enum Mode {
        /// Keep reading heads, as on a persistent connection.
        case keepParsing
        /// Stop and take the remaining bytes, as after an upgrade request.
        case stopAfterFirstHead
        /// Keep reading heads, dropping each one's `Content-Length` body first, as a persistent
        /// connection serving plain requests does (RFC 9112 §6.3).
        case skippingBodies
    }

    /// Feeds `chunks` one append at a time, calling `next()` after each, and checks after every
    /// append that the parser never holds more than the limit plus that one append.
    static func parse(
        _ chunks: [[UInt8]],
        maxHeadBytes: Int = HTTPRequestParser.defaultMaxHeadBytes,
        mode: Mode = .keepParsing,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> HTTPParseOutcome {
        var parser = HTTPRequestParser(maxHeadBytes: maxHeadBytes)
        var outcome = HTTPParseOutcome()
        var stopped = false
        for chunk in chunks {
            if stopped {
                outcome.remaining += chunk
                continue
            }
            parser.append(contentsOf: chunk)
            #expect(parser.bufferedByteCount <= maxHeadBytes + chunk.count, sourceLocation: sourceLocation)
            do {
                while let head = try parser.next() {
                    outcome.heads.append(head)
                    if mode == .skippingBodies, case .contentLength(let length)? = try? RequestBodyFraming(of: head) {
                        parser.discardBody(byteCount: length)
                    }
                    if mode == .stopAfterFirstHead {
                        outcome.remaining = parser.takeRemainingBytes()
                        stopped = true
                        break
                    }
                }
            } catch {
                outcome.error = error
                #expect(parser.bufferedByteCount == 0, sourceLocation: sourceLocation)
                return outcome
            }
            // A parser waiting for more bytes holds less than a whole head's worth.
            #expect(stopped || parser.bufferedByteCount < maxHeadBytes, sourceLocation: sourceLocation)
        }
        if !stopped {
            outcome.remaining = parser.takeRemainingBytes()
        }
        return outcome
    }

    /// Parses `input` whole, byte by byte and split in two at every index, expects the same outcome
    /// every time, and returns it.
    static func parseEverySplit(
        _ input: [UInt8],
        maxHeadBytes: Int = HTTPRequestParser.defaultMaxHeadBytes,
        mode: Mode = .keepParsing,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> HTTPParseOutcome {
        let whole = parse([input], maxHeadBytes: maxHeadBytes, mode: mode, sourceLocation: sourceLocation)
        let byteByByte = parse(input.map { [$0] }, maxHeadBytes: maxHeadBytes, mode: mode, sourceLocation: sourceLocation)
        #expect(byteByByte == whole, "byte by byte", sourceLocation: sourceLocation)
        for index in 0...input.count {
            let split = parse([Array(input[..<index]), Array(input[index...])], maxHeadBytes: maxHeadBytes, mode: mode, sourceLocation: sourceLocation)
            #expect(split == whole, "split at \(index)", sourceLocation: sourceLocation)
            if split != whole { break }
        }
        return whole
    }

    /// The bytes of a head written with `\r\n` line ends, from its lines (the blank line is added).
    static func head(_ lines: [String], lineEnd: String = "\r\n") -> [UInt8] {
        Array((lines.map { $0 + lineEnd }.joined() + lineEnd).utf8)
    }
}

extension HTTPResponse {
    /// The status line as sent, e.g. `HTTP/1.1 431 Request Header Fields Too Large\r\n`.
    var statusLineBytes: [UInt8] {
        let wire = serialized()
        guard let lf = wire.firstIndex(of: 0x0A) else { return wire }
        return Array(wire[...lf])
    }

    /// The serialized response as text, for readable comparisons.
    var wireText: String { String(decoding: serialized(), as: UTF8.self) }
}

// libFuzzer target: the HTTP/1.1 request head parser and body framing (RFC 9112 §2–§6.3), as a
// persistent connection drives them. Checks, for any bytes: the input split at a point the
// fuzzer chooses gives the same heads, error and leftover bytes as the whole input; a parser that
// failed holds nothing; a parser waiting for more holds less than one head.

/// What one parse of the input produced.
struct Outcome: Equatable {
    var heads: [HTTPRequestHead] = []
    var framings: [RequestBodyFraming?] = []
    var error: HTTPError?
    var rest: [UInt8] = []
}

func parse(_ pieces: [UnsafeBufferPointer<UInt8>.SubSequence]) -> Outcome {
    let limit = 512
    var parser = HTTPRequestParser(maxHeadBytes: limit)
    var outcome = Outcome()
    for piece in pieces {
        parser.append(contentsOf: piece)
        do {
            while let head = try parser.next() {
                outcome.heads.append(head)
                _ = (head.path, head.query)
                let framing = try? RequestBodyFraming(of: head)
                outcome.framings.append(framing)
                if case .contentLength(let length)? = framing { parser.discardBody(byteCount: min(length, 1 << 20)) }
            }
        } catch {
            precondition(parser.bufferedByteCount == 0, "a failed parser holds no bytes")
            outcome.error = error
            return outcome
        }
        precondition(parser.bufferedByteCount < limit + piece.count, "a waiting parser holds less than a head and one append")
    }
    outcome.rest = parser.takeRemainingBytes()
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let whole = parse([bytes[...]])
    let split = size > 0 ? Int(bytes[0]) % (size + 1) : 0
    let pieces = parse([bytes[..<split], bytes[split...]])
    precondition(whole == pieces, "the split at \(split) changed the outcome")
    return 0
}

// libFuzzer target: the CGI response head parser (RFC 3875 §6). Checks, for any bytes: a split the
// fuzzer chooses gives the same head, body start and error as the whole input.

/// What one parse of the input produced.
struct Outcome: Equatable {
    var head: CGIResponseParser.Head?
    var body: [UInt8] = []
    var error: HTTPError?
}

func parse(_ pieces: [UnsafeBufferPointer<UInt8>.SubSequence]) -> Outcome {
    var parser = CGIResponseParser()
    var outcome = Outcome()
    var body: [UInt8] = []
    for piece in pieces {
        if outcome.head != nil {
            body += piece
            continue
        }
        do {
            if let (head, start) = try parser.append(piece) {
                outcome.head = head
                body = start
            }
        } catch {
            outcome.error = error
            return outcome
        }
    }
    outcome.body = body
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let whole = parse([bytes[...]])
    let split = size > 0 ? Int(bytes[0]) % (size + 1) : 0
    precondition(whole == parse([bytes[..<split], bytes[split...]]), "the split at \(split) changed the outcome")
    return 0
}

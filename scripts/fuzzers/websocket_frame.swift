// libFuzzer target: the RFC 6455 frame decoder (§5.2) with a payload limit, as a session drives it.
// Checks, for any bytes: a split the fuzzer chooses gives the same frames and error as the whole
// input; the decoder never holds more than the limit plus a header and one append.

/// What one decode of the input produced.
struct Outcome: Equatable {
    var frames: [Frame] = []
    var error: WebSocketError?
}

func decode(_ pieces: [UnsafeBufferPointer<UInt8>.SubSequence]) -> Outcome {
    let limit = 1024
    var decoder = FrameDecoder(maxPayloadBytes: limit)
    var outcome = Outcome()
    for piece in pieces {
        decoder.append(contentsOf: piece)
        do {
            while let frame = try decoder.next() {
                outcome.frames.append(frame)
            }
        } catch {
            outcome.error = error
            return outcome
        }
        precondition(decoder.bufferedByteCount <= limit + 14 + piece.count, "the decoder holds more than a frame")
    }
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let whole = decode([bytes[...]])
    let split = size > 0 ? Int(bytes[0]) % (size + 1) : 0
    precondition(whole == decode([bytes[..<split], bytes[split...]]), "the split at \(split) changed the outcome")
    return 0
}

// libFuzzer target: the RFC 6455 frame decoder (§5.2) with a payload limit, as a session drives it.
// Checks, for any bytes: a split the fuzzer chooses gives the same frames and error as the whole
// input (a data frame still arriving comes out as its head and payload pieces, joined back here
// into the frame); the events are well formed; once drained, the decoder holds no more than a
// header in progress or a control frame still arriving (SPEC §7: a data frame's payload leaves as
// it comes, whatever its size).

/// What one decode of the input produced.
struct Outcome: Equatable {
    var frames: [Frame] = []
    var error: WebSocketError?
}

func decode(_ pieces: [UnsafeBufferPointer<UInt8>.SubSequence], limit: Int?) -> Outcome {
    var decoder = FrameDecoder(maxPayloadBytes: limit)
    var outcome = Outcome()
    var streamed: (head: FrameHead, payload: [UInt8])?
    for piece in pieces {
        decoder.append(contentsOf: piece)
        do {
            while let event = try decoder.next() {
                switch event {
                case .frame(let frame):
                    precondition(streamed == nil, "a whole frame inside a streamed one")
                    outcome.frames.append(Frame(isFinal: frame.isFinal, reservedBits: frame.reservedBits,
                                                opcode: frame.opcode, payload: Array(frame.payload)))
                case .head(let head):
                    precondition(streamed == nil, "a head inside a streamed frame")
                    precondition(!head.opcode.isControl && head.payloadLength > 0, "\(head) streamed")
                    precondition(head.payloadLength <= limit ?? Int.max, "a head over the limit")
                    streamed = (head, [])
                case .payload(let bytes, let isFrameEnd):
                    guard var (head, payload) = streamed else { preconditionFailure("a piece without a head") }
                    precondition(!bytes.isEmpty, "an empty piece")
                    payload += bytes
                    precondition(isFrameEnd == (payload.count == head.payloadLength), "pieces do not add up")
                    if isFrameEnd {
                        streamed = nil
                        head.payloadLength = payload.count
                        outcome.frames.append(Frame(isFinal: head.isFinal, reservedBits: head.reservedBits,
                                                    opcode: head.opcode, payload: payload))
                    } else {
                        streamed = (head, payload)
                    }
                }
            }
        } catch {
            outcome.error = error
            return outcome
        }
        precondition(decoder.bufferedByteCount <= FrameDecoder.maxControlPayloadBytes, "the decoder holds a payload")
    }
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    // The first byte also picks the limit: 1 KiB as before, or none (`--maxframesize=0`).
    let limit: Int? = size > 0 && bytes[0] & 1 == 1 ? nil : 1024
    let whole = decode([bytes[...]], limit: limit)
    let split = size > 0 ? Int(bytes[0]) % (size + 1) : 0
    precondition(whole == decode([bytes[..<split], bytes[split...]], limit: limit), "the split at \(split) changed the outcome")
    return 0
}

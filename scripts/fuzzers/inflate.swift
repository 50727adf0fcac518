// libFuzzer target: permessage-deflate's inflate stage (RFC 7692 §7.2.2) as a session drives it.
// The first input byte picks the window (9...15), text or binary, context takeover, the message
// limit and the fragment size; the next one seeds where the rest, the compressed message, is cut
// into frames. Checks, for any bytes: inflating the pieces gives the same bytes as inflating
// the whole, or fails too (having given a prefix of the same bytes); each fragment is at most the
// size asked, the first says so, the last ends the message, text is valid UTF-8, the message
// never passes its limit; `next` answers nil only when the inflater needs more input; and a
// second message inflates after a first that failed or succeeded (the connection would have
// failed, but the inflater must stay sound).

/// What one inflation of the message produced.
struct Outcome: Equatable {
    var bytes: [UInt8] = []
    var error: WebSocketError?
}

func inflate(_ pieces: [ArraySlice<UInt8>], into inflater: MessageInflater, kind: Opcode, limit: Int?, chunk: Int) -> Outcome {
    var outcome = Outcome()
    var sawFirst = false
    for (index, piece) in pieces.enumerated() {
        precondition(!inflater.hasPendingOutput, "fed while output was pending")
        inflater.feed(piece, kind: kind, isFirst: index == 0, isMessageEnd: index == pieces.count - 1)
        do {
            while inflater.hasPendingOutput {
                guard let fragment = try inflater.next(maxBytes: chunk) else {
                    precondition(!inflater.hasPendingOutput, "nil while output is pending")
                    break
                }
                precondition(fragment.kind == kind, "the kind changed")
                precondition(fragment.payload.count <= chunk, "a fragment over the size asked")
                precondition(fragment.isFirst == !sawFirst, "isFirst wrong")
                sawFirst = true
                outcome.bytes += fragment.payload
                precondition(outcome.bytes.count <= limit ?? .max, "inflated past the limit")
                if fragment.isLast {
                    precondition(index == pieces.count - 1, "the message ended before its last piece")
                    precondition(!inflater.hasPendingOutput, "output after the last fragment")
                    if kind == .text { precondition(String(validating: outcome.bytes, as: UTF8.self) != nil, "invalid UTF-8 passed") }
                    return outcome
                }
            }
        } catch {
            precondition(!inflater.hasPendingOutput, "pending output after an error")
            outcome.error = error
            return outcome
        }
    }
    preconditionFailure("the last piece fed, and no last fragment")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 2 else { return 0 }
    let options = data[0], seed = data[1]
    let message = Array(UnsafeBufferPointer(start: data + 2, count: size - 2))
    let windowBits = 9 + Int(options % 7)
    let kind: Opcode = options & 0x08 != 0 ? .text : .binary
    let takesContext = options & 0x10 != 0
    let limit: Int? = options & 0x20 != 0 ? 1 << 16 : nil
    let chunk = options & 0x40 != 0 ? 1 << 12 : 7
    // Cut points from the seed (a small linear congruential sequence), 0 to 3 of them.
    var cuts: [Int] = []
    var state = UInt32(seed) &* 2_654_435_761 &+ 1
    for _ in 0..<(Int(seed) % 4) where !message.isEmpty {
        state = state &* 1_103_515_245 &+ 12345
        cuts.append(Int(state >> 8) % (message.count + 1))
    }
    cuts.sort()
    var pieces: [ArraySlice<UInt8>] = []
    var start = 0
    for cut in cuts {
        pieces.append(message[start..<cut])
        start = cut
    }
    pieces.append(message[start...])

    let whole = MessageInflater(windowBits: windowBits, resetsAfterEachMessage: !takesContext, maxMessageBytes: limit)
    let split = MessageInflater(windowBits: windowBits, resetsAfterEachMessage: !takesContext, maxMessageBytes: limit)
    let expected = inflate([message[...]], into: whole, kind: kind, limit: limit, chunk: chunk)
    let got = inflate(pieces, into: split, kind: kind, limit: limit, chunk: chunk)
    // Output before an error may differ (zlib reports the error of a call, and a split makes
    // more calls), and so may the first error seen (bad UTF-8 in a prefix before the corrupt
    // block that ends it), but what came out is a prefix of the same stream either way.
    precondition((expected.error == nil) == (got.error == nil), "a split failed differently: \(cuts): \(String(describing: expected.error)) against \(String(describing: got.error))")
    let shorter = min(expected.bytes.count, got.bytes.count)
    precondition(expected.error != nil || expected.bytes == got.bytes, "a split inflated differently: \(cuts)")
    precondition(expected.bytes[..<shorter] == got.bytes[..<shorter], "a split inflated other bytes: \(cuts)")
    // The inflater stays usable: an empty stored block's message ("00" is an empty deflate block
    // with BFINAL clear once the tail is added) is an empty message.
    let next = inflate([[0x00][...]], into: split, kind: kind, limit: limit, chunk: chunk)
    precondition(next.error == nil && next.bytes.isEmpty, "after the first message: \(next)")
    return 0
}

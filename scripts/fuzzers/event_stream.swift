// libFuzzer target: event streams (SPEC §12). For any bytes:
// - the Accept match never fails, and agrees with itself when the header is wrapped in others;
// - a POST body's lines, when it is UTF-8, put back together give the body (LF between lines,
//   a CR before an LF and a final LF being the only things the split drops);
// - a message encoded as an event reads back, by the WHATWG parser (Tests/TestSupport), as the
//   same message: text with CR and CRLF turned into LF, binary byte for byte through base64;
//   whole and split at a point the input chooses.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)

    let alone = EventStreamRequest.isRequested(head(accept: text))
    let wrapped = EventStreamRequest.isRequested(head(accept: "text/html, " + text + ", image/png"))
    precondition(!alone || wrapped, "an accepted Accept refused among others")

    if let lines = EventStreamRequest.lines(ofBody: bytes) {
        let joined = lines.map { Array($0) }.joined(separator: [UInt8(ascii: "\n")])
        var expected = dropCRBeforeLF(bytes)
        if expected.last == UInt8(ascii: "\n") { expected.removeLast() }
        precondition(Array(joined) == expected, "the lines do not make the body")
    }

    let isBinary = !UTF8Validator.isValid(bytes)
    var buffer = ByteBuffer()
    EventStreamEncoder.appendMessage(id: UInt64(size), isBinary: isBinary, payload: bytes, to: &buffer)
    let encoded = Array(buffer.readableBytes)
    let cut = size == 0 ? 0 : Int(bytes[0]) % (encoded.count + 1)
    var parser = EventStreamParser()
    parser.feed(encoded[..<cut])
    parser.feed(encoded[cut...])
    precondition(parser.events.count == 1, "\(parser.events.count) events for one message")
    let event = parser.events[0]
    precondition(event.lastEventID == String(size), "wrong id")
    if isBinary {
        precondition(event.type == "binary" && Base64.decode(event.data) == bytes, "binary message changed")
    } else {
        let normalized = text.replacingCRLF()
        precondition(event.type == "message" && event.data == normalized, "text message changed")
    }
    return 0
}

private func head(accept: String) -> HTTPRequestHead {
    HTTPRequestHead(method: "GET", target: "/", headers: HTTPHeaders([(name: "Accept", value: accept)]))
}

private func dropCRBeforeLF(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    for (index, byte) in bytes.enumerated() {
        if byte == UInt8(ascii: "\r") && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\n") { continue }
        out.append(byte)
    }
    return out
}

extension String {
    /// CRLF and CR as LF, without Foundation.
    fileprivate func replacingCRLF() -> String {
        var out: [UInt8] = []
        var afterCR = false
        for byte in utf8 {
            if byte == UInt8(ascii: "\n") && afterCR { afterCR = false; continue }
            afterCR = byte == UInt8(ascii: "\r")
            out.append(afterCR ? UInt8(ascii: "\n") : byte)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

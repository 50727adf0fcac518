import WSProtocol
import WSBridging

extension OutboundMessage {
    /// `--passstderr` (websocketd 0.5): `{"stream":"stdout"|"stderr","data":"line"}` as a text
    /// message.
    public static func tagged(stream: String, _ line: ArraySlice<UInt8>) -> OutboundMessage {
        var json = Array("{\"stream\":\"\(stream)\",\"data\":".utf8)
        JSON.appendQuoted(line, to: &json)
        json.append(UInt8(ascii: "}"))
        return OutboundMessage(opcode: .text, payload: json[...])
    }
}

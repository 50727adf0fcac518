/// The WHATWG HTML event-stream interpretation ("Server-sent events" §9.2.6), written from the
/// spec and apart from wsbridge's encoder, as a browser's `EventSource` reads a stream: bytes in
/// any pieces, events out (wsbridge never sends a byte-order mark, so none is looked for). The tests and the `event_stream` fuzz target check the encoder with it.
public struct EventStreamParser: Sendable {
    public struct Event: Sendable, Equatable {
        public var type: String
        public var data: String
        public var lastEventID: String

        public init(type: String, data: String, lastEventID: String) {
            self.type = type
            self.data = data
            self.lastEventID = lastEventID
        }
    }

    /// The events dispatched so far.
    public private(set) var events: [Event] = []
    /// The last `retry:` in milliseconds.
    public private(set) var reconnectionMilliseconds: Int?
    /// Comment lines seen (heartbeats), their text after the colon.
    public private(set) var comments: [String] = []

    private var line: [UInt8] = []
    private var lastWasCR = false
    private var data = ""
    private var eventType = ""
    private var lastEventIDBuffer = ""

    public init() {}

    /// Reads the next bytes of the stream.
    public mutating func feed<C: Collection<UInt8>>(_ bytes: C) {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n"):
                if lastWasCR {
                    lastWasCR = false
                    continue
                }
                endLine()
            case UInt8(ascii: "\r"):
                endLine()
                lastWasCR = true
                continue
            default:
                line.append(byte)
            }
            lastWasCR = false
        }
    }

    private mutating func endLine() {
        let text = String(decoding: line, as: UTF8.self)
        line.removeAll(keepingCapacity: true)
        if text.isEmpty { return dispatch() }
        if text.hasPrefix(":") {
            comments.append(String(text.dropFirst()))
            return
        }
        let field: Substring, value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            var rest = text[text.index(after: colon)...]
            if rest.hasPrefix(" ") { rest = rest.dropFirst() }
            value = rest
        } else {
            field = text[...]
            value = ""
        }
        switch field {
        case "event": eventType = String(value)
        case "data": data += value + "\n"
        case "id": if !value.contains("\u{0}") { lastEventIDBuffer = String(value) }
        case "retry": if !value.isEmpty, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { reconnectionMilliseconds = Int(value) }
        default: break
        }
    }

    private mutating func dispatch() {
        defer {
            data = ""
            eventType = ""
        }
        guard !data.isEmpty else { return }
        if data.hasSuffix("\n") { data.removeLast() }
        events.append(Event(type: eventType.isEmpty ? "message" : eventType, data: data, lastEventID: lastEventIDBuffer))
    }
}

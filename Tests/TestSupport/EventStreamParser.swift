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

    /// Works on the line's bytes, not on Swift `Character`s: a combining mark after the colon or
    /// the space would join them into one grapheme, and neither would be found.
    private mutating func endLine() {
        let bytes = line
        line.removeAll(keepingCapacity: true)
        if bytes.isEmpty { return dispatch() }
        let colon = UInt8(ascii: ":"), space = UInt8(ascii: " ")
        if bytes.first == colon {
            comments.append(String(decoding: bytes.dropFirst(), as: UTF8.self))
            return
        }
        let field: String, value: String
        if let index = bytes.firstIndex(of: colon) {
            field = String(decoding: bytes[..<index], as: UTF8.self)
            var rest = bytes[(index + 1)...]
            if rest.first == space { rest = rest.dropFirst() }
            value = String(decoding: rest, as: UTF8.self)
        } else {
            field = String(decoding: bytes, as: UTF8.self)
            value = ""
        }
        switch field {
        case "event": eventType = value
        case "data": data += value + "\n"
        case "id": if !value.utf8.contains(0) { lastEventIDBuffer = value }
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

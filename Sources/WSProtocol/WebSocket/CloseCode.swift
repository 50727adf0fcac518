/// A close status code (RFC 6455 §7.4).
public struct CloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The code as sent on the wire.
    public var rawValue: UInt16

    /// Creates a code from its wire value.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Creates a code from its wire value.
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    /// 1000: the purpose of the connection was fulfilled.
    public static let normalClosure = CloseCode(1000)
    /// 1001: the server is going down or the peer went away.
    public static let goingAway = CloseCode(1001)
    /// 1002: the peer broke the protocol.
    public static let protocolError = CloseCode(1002)
    /// 1003: a message of a type this endpoint cannot accept.
    public static let unsupportedData = CloseCode(1003)
    /// 1005: no code was present (never sent on the wire).
    public static let noStatusReceived = CloseCode(1005)
    /// 1006: the connection dropped without a close frame (never sent on the wire).
    public static let abnormalClosure = CloseCode(1006)
    /// 1007: a text message was not valid UTF-8.
    public static let invalidFramePayloadData = CloseCode(1007)
    /// 1008: a generic policy violation.
    public static let policyViolation = CloseCode(1008)
    /// 1009: a message was larger than this endpoint accepts.
    public static let messageTooBig = CloseCode(1009)
    /// 1010: the client needed an extension the server did not negotiate.
    public static let mandatoryExtension = CloseCode(1010)
    /// 1011: the server met an unexpected condition.
    public static let internalError = CloseCode(1011)
    /// 1013 Try Again Later (IANA registry): the server is overloaded for this client; wsbridge
    /// sends it to a shared session's client that fell too far behind (SPEC §13).
    public static let tryAgainLater = CloseCode(1013)

    /// Whether a peer may send this code in a close frame (RFC 6455 §7.4.1, §7.4.2 and the IANA
    /// registry of §11.7): 1000–1003, 1007–1014 and 3000–4999.
    public var isValidOnWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }

    /// The decimal code.
    public var description: String { String(rawValue) }
}

/// What a client asks of a shared session in its URL's query (SPEC §13): `session=NAME` names the
/// session to join (`--sessions`), `view=1` joins as a viewer. Other parameters are the script's.
public struct SharedSessionRequest: Sendable, Equatable {
    /// The session's name: 16 to 128 characters of `[A-Za-z0-9_-]`, a secret the client made.
    public var name: String?
    /// Output only: a message from a viewer gets close 1008.
    public var isViewer = false

    public init(name: String? = nil, isViewer: Bool = false) {
        self.name = name
        self.isViewer = isViewer
    }

    /// Why a query cannot name a session.
    public enum Refusal: Error, Equatable, Sendable {
        case badName
        case repeated(String)
        case badView
    }

    public static let nameLengths = 16...128

    /// Reads `session` and `view` from a raw query (`a=b&c=d`). A name is taken as written: its
    /// characters never need percent-encoding, so an encoded one is refused, as is a parameter
    /// given twice (which of two names would the client mean?).
    public static func parse(query: String) throws(Refusal) -> SharedSessionRequest {
        var request = SharedSessionRequest()
        var sawName = false, sawView = false
        for parameter in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = parameter.firstIndex(of: UInt8(ascii: "="))
            let key = equals.map { parameter[..<$0] } ?? parameter
            let value = equals.map { parameter[parameter.index(after: $0)...] } ?? parameter[parameter.endIndex...]
            if key.elementsEqual("session".utf8) {
                guard !sawName else { throw .repeated("session") }
                sawName = true
                guard nameLengths.contains(value.count), value.allSatisfy(isNameByte) else { throw .badName }
                request.name = String(decoding: value, as: UTF8.self)
            } else if key.elementsEqual("view".utf8) {
                guard !sawView else { throw .repeated("view") }
                sawView = true
                if value.elementsEqual("1".utf8) {
                    request.isViewer = true
                } else if !value.elementsEqual("0".utf8) {
                    throw .badView
                }
            }
        }
        return request
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}

extension SharedSessionRequest.Refusal {
    /// One line for the 400's body.
    public var message: String {
        switch self {
        case .badName: "session= needs 16 to 128 characters of A-Z, a-z, 0-9, _ and -"
        case .repeated(let key): "\(key)= given twice"
        case .badView: "view= takes 1 or 0"
        }
    }
}

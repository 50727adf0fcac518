/// The header fields of a request or response: ordered `(name, value)` pairs exactly as received or
/// to be sent, looked up by name case-insensitively (RFC 9110 §5.1: field names are case-insensitive).
///
/// Repeated fields stay separate lines, in order, because RFC 9110 §5.3 makes their order
/// significant and the child's environment joins them with `, ` (SPEC §4).
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    /// One header field line.
    public typealias Field = (name: String, value: String)

    /// The field lines in order.
    private var fields: [Field]

    /// Creates headers from field lines, keeping their order.
    public init(_ fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    /// The number of field lines (a repeated field counts once per line).
    public var count: Int { fields.count }

    /// Whether there are no field lines at all.
    public var isEmpty: Bool { fields.isEmpty }

    /// Appends a field line after the existing ones.
    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// Appends every field line of `other`, in order.
    public mutating func add(contentsOf other: HTTPHeaders) {
        fields.append(contentsOf: other.fields)
    }

    /// Removes every line of the field `name`.
    public mutating func remove(_ name: String) {
        fields.removeAll { Self.namesMatch($0.name, name) }
    }

    /// Replaces every line of the field `name` with one line holding `value`, appended at the end.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name)
        add(name: name, value: value)
    }

    /// All values of a field, in the order received.
    public func values(_ name: String) -> [String] {
        fields.compactMap { Self.namesMatch($0.name, name) ? $0.value : nil }
    }

    /// The value of the first line of a field, or nil if the field is absent.
    public func first(_ name: String) -> String? {
        fields.first { Self.namesMatch($0.name, name) }?.value
    }

    /// Whether at least one line of the field is present.
    public func contains(_ name: String) -> Bool {
        fields.contains { Self.namesMatch($0.name, name) }
    }

    /// Whether a comma-separated field (all its lines) holds `token`, case-insensitively (e.g.
    /// `Connection: keep-alive, Upgrade`).
    ///
    /// RFC 9110 §5.6.1: list elements are separated by commas with optional whitespace around them,
    /// and empty elements are ignored. Quoted strings are not unquoted: the fields this is used on
    /// (Connection, Upgrade) hold tokens only.
    public func containsToken(_ token: String, in name: String) -> Bool {
        for field in fields where Self.namesMatch(field.name, name) {
            var found = false
            Self.forEachListElement(of: field.value) { element in
                found = Self.namesMatch(element, Substring(token))
                return !found
            }
            if found { return true }
        }
        return false
    }

    /// The non-empty list elements of a comma-separated field over all its lines, trimmed, in order
    /// (e.g. the offers of `Sec-WebSocket-Protocol: chat, superchat`).
    public func listElements(_ name: String) -> [String] {
        var elements: [String] = []
        for field in fields where Self.namesMatch(field.name, name) {
            Self.forEachListElement(of: field.value) { element in
                elements.append(String(element))
                return true
            }
        }
        return elements
    }

    /// Iterates over the field lines in order.
    public func makeIterator() -> IndexingIterator<[Field]> {
        fields.makeIterator()
    }

    /// Whether both hold the same lines in the same order, names and values compared exactly.
    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// Compares two field names (or tokens) ignoring ASCII case, without allocating.
    static func namesMatch<A: StringProtocol, B: StringProtocol>(_ a: A, _ b: B) -> Bool {
        let left = a.utf8
        let right = b.utf8
        guard left.count == right.count else { return false }
        for (x, y) in zip(left, right) where x != y {
            guard lowercasedASCII(x) == lowercasedASCII(y) else { return false }
        }
        return true
    }

    /// The ASCII lower-case form of a byte; other bytes are returned unchanged.
    @inline(__always)
    static func lowercasedASCII(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// Calls `body` with each non-empty, whitespace-trimmed element of a comma-separated list until
    /// `body` returns false.
    private static func forEachListElement(of value: String, _ body: (Substring) -> Bool) {
        var rest = Substring(value)
        while !rest.isEmpty {
            let comma = rest.firstIndex(of: ",") ?? rest.endIndex
            let element = trimmingOptionalWhitespace(rest[rest.startIndex..<comma])
            if !element.isEmpty && !body(element) { return }
            rest = comma == rest.endIndex ? rest[comma...] : rest[rest.index(after: comma)...]
        }
    }

    /// Drops spaces and horizontal tabs at both ends (RFC 9110 §5.6.3: OWS).
    private static func trimmingOptionalWhitespace(_ text: Substring) -> Substring {
        let isWhitespace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = text.firstIndex(where: { !isWhitespace($0) }),
              let last = text.lastIndex(where: { !isWhitespace($0) }) else { return text[text.endIndex...] }
        return text[start...last]
    }
}

/// `--trustedproxy` (SPEC §11): the peers whose forwarding headers are believed, and what those
/// headers say about the client behind them.
///
/// Only a peer in these ranges is a proxy. For such a peer the client is the rightmost address of
/// `X-Forwarded-For` (else of `Forwarded: for=`, RFC 7239) that is not itself a trusted proxy,
/// as nginx's `real_ip_recursive on` finds it: everything left of that address was written by
/// someone no proxy vouches for, so it is never believed. From any other peer the headers change
/// nothing.
public struct TrustedProxies: Sendable, Equatable {
    public private(set) var networks: [IPNetwork] = []
    /// `unix`: a `--unixsocket` peer (a proxy on the same machine) is trusted.
    public private(set) var trustsUnixPeers = false

    public init() {}

    /// Whether any peer is trusted.
    public var isEmpty: Bool { networks.isEmpty && !trustsUnixPeers }

    /// Parses "127.0.0.1/32,10.0.0.0/8,::1,unix"; the error names the first bad entry.
    public static func parse(_ text: String) throws(TrustedProxiesError) -> TrustedProxies {
        var proxies = TrustedProxies()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let entry = item.trimmingASCIIWhitespace
            if entry == "unix" {
                proxies.trustsUnixPeers = true
            } else if let network = IPNetwork(entry) {
                proxies.networks.append(network)
            } else {
                throw TrustedProxiesError(entry: String(entry))
            }
        }
        return proxies
    }

    /// Whether `address` is in one of the trusted ranges.
    public func trusts(_ address: IPAddress) -> Bool { networks.contains { $0.contains(address) } }

    /// What the request's forwarding headers say, when `peer` (an IP address as text, or nil for
    /// a Unix-socket peer) is a trusted proxy; nil when they are not to be believed.
    public func resolve(peer: String?, headers: HTTPHeaders) -> ForwardedClient? {
        if let peer {
            guard let address = IPAddress(peer), trusts(address) else { return nil }
        } else {
            guard trustsUnixPeers else { return nil }
        }
        let forwardedFor = headers.values("X-Forwarded-For")
        if !forwardedFor.isEmpty {
            let chain = forwardedFor.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false).map(\.trimmingASCIIWhitespace) }
            let proto = Self.lastValue(of: "X-Forwarded-Proto", in: headers)
            return ForwardedClient(address: walk(chain).address, isHTTPS: proto?.lowercased() == "https",
                                   host: Self.lastValue(of: "X-Forwarded-Host", in: headers))
        }
        let elements = headers.values("Forwarded").flatMap { ForwardedElement.parseList($0) }
        let (address, index) = walk(elements.map { $0.forNode ?? "" })
        // proto and host as the proxy that accepted the client's connection wrote them, in the
        // element that named the client (else the nearest one).
        let element = index.map { elements[$0] } ?? elements.last
        guard element != nil || address != nil else {
            return ForwardedClient(address: nil, isHTTPS: Self.lastValue(of: "X-Forwarded-Proto", in: headers)?.lowercased() == "https",
                                   host: Self.lastValue(of: "X-Forwarded-Host", in: headers))
        }
        return ForwardedClient(address: address, isHTTPS: element?.proto?.lowercased() == "https",
                               host: element?.host.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Right to left: each trusted hop vouches for the one before it. The client's address and
    /// its index in `chain`; nil when the nearest entry is not an address.
    private func walk(_ chain: [Substring]) -> (address: IPAddress?, index: Int?) {
        var found: (address: IPAddress?, index: Int?) = (nil, nil)
        for index in chain.indices.reversed() {
            guard let address = Self.address(ofNode: chain[index]) else { break }
            found = (address, index)
            if !trusts(address) { break }
        }
        return found
    }

    /// The last comma-separated value of the last such field (the one the nearest proxy set).
    private static func lastValue(of name: String, in headers: HTTPHeaders) -> String? {
        guard let field = headers.values(name).last,
              let last = field.split(separator: ",", omittingEmptySubsequences: false).last?.trimmingASCIIWhitespace,
              !last.isEmpty else { return nil }
        return String(last)
    }

    /// An address from an X-Forwarded-For entry or a Forwarded `for=` node: "192.0.2.1",
    /// "192.0.2.1:4711", "[2001:db8::1]:4711" or "2001:db8::1"; nil for "unknown", obfuscated
    /// names ("_hidden") and anything else.
    static func address(ofNode node: Substring) -> IPAddress? {
        if node.hasPrefix("[") {
            guard let end = node.firstIndex(of: "]") else { return nil }
            let rest = node[node.index(after: end)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.count > 1 && rest.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }) else { return nil }
            return IPAddress(node[node.index(after: node.startIndex)..<end])
        }
        if let address = IPAddress(node) { return address }
        // IPv4 with a port.
        let parts = node.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              let address = IPAddress(parts[0]), address.isIPv4 else { return nil }
        return address
    }
}

/// A `--trustedproxy` entry that is neither an address, a CIDR range nor `unix`.
public struct TrustedProxiesError: Error, Equatable, Sendable {
    public let entry: String
}

/// The client behind a trusted proxy.
public struct ForwardedClient: Sendable, Equatable {
    /// The client's address; nil when the headers name none that parses (the proxy's stays).
    public var address: IPAddress?
    /// `X-Forwarded-Proto: https` (or `Forwarded: proto=https`): the client spoke TLS to the proxy.
    public var isHTTPS: Bool
    /// `X-Forwarded-Host` (or `Forwarded: host=`): the host the client asked for.
    public var host: String?

    public init(address: IPAddress?, isHTTPS: Bool, host: String?) {
        self.address = address
        self.isHTTPS = isHTTPS
        self.host = host
    }
}

/// One element of a `Forwarded` header (RFC 7239 §4): `for=...;proto=...;host=...;by=...`.
struct ForwardedElement: Equatable {
    var forNode: Substring?
    var proto: String?
    var host: String?

    /// The elements of one field value, in order. What cannot be parsed ends the list with an
    /// element whose `for=` is empty (RFC 7239 §4: nothing after it can be believed, so the walk
    /// from the right stops there).
    static func parseList(_ value: String) -> [ForwardedElement] {
        let text = Array(value.utf8)
        var elements: [ForwardedElement] = []
        var current = ForwardedElement()
        var hasPair = false
        var index = 0
        func skipSpaces() { while index < text.count, text[index] == 0x20 || text[index] == 0x09 { index += 1 } }
        func malformed() -> [ForwardedElement] { elements + [ForwardedElement(forNode: "")] }
        while true {
            skipSpaces()
            guard index < text.count else {
                if hasPair { elements.append(current) }
                return elements
            }
            if text[index] == UInt8(ascii: ",") {
                if hasPair { elements.append(current) }
                current = ForwardedElement()
                hasPair = false
                index += 1
                continue
            }
            if text[index] == UInt8(ascii: ";") {
                index += 1
                continue
            }
            let nameStart = index
            while index < text.count, HTTPSyntax.isTokenByte(text[index]) { index += 1 }
            guard index > nameStart, index < text.count, text[index] == UInt8(ascii: "=") else { return malformed() }
            let name = String(decoding: text[nameStart..<index], as: UTF8.self).lowercased()
            index += 1
            var parsed: [UInt8] = []
            if index < text.count, text[index] == UInt8(ascii: "\"") {
                // quoted-string (RFC 9110 §5.6.4), with backslash escapes.
                index += 1
                var closed = false
                while index < text.count {
                    let byte = text[index]
                    index += 1
                    if byte == UInt8(ascii: "\\") {
                        guard index < text.count else { break }
                        parsed.append(text[index])
                        index += 1
                    } else if byte == UInt8(ascii: "\"") {
                        closed = true
                        break
                    } else {
                        parsed.append(byte)
                    }
                }
                guard closed else { return malformed() }
            } else {
                while index < text.count, HTTPSyntax.isTokenByte(text[index]) || text[index] == UInt8(ascii: ":")
                    || text[index] == UInt8(ascii: "[") || text[index] == UInt8(ascii: "]") || text[index] == UInt8(ascii: "/") {
                    parsed.append(text[index])
                    index += 1
                }
                guard !parsed.isEmpty else { return malformed() }
            }
            let parsedText = String(decoding: parsed, as: UTF8.self)
            switch name {
            case "for": current.forNode = Substring(parsedText)
            case "proto": current.proto = parsedText
            case "host": current.host = parsedText
            default: break
            }
            hasPair = true
            skipSpaces()
            guard index == text.count || text[index] == UInt8(ascii: ";") || text[index] == UInt8(ascii: ",") else { return malformed() }
        }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (RFC 9110 OWS).
    var trimmingASCIIWhitespace: Substring {
        let text = Substring(self)
        let start = text.firstIndex { $0 != " " && $0 != "\t" } ?? text.endIndex
        let end = text.lastIndex { $0 != " " && $0 != "\t" }.map { text.index(after: $0) } ?? start
        return text[start..<Swift.max(start, end)]
    }
}

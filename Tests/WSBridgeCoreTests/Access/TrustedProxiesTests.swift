import Testing
import TestSupport
@testable import WSProtocol

/// SPEC §11 `--trustedproxy`: addresses, ranges and forwarding headers, parsed without the platform.
@Suite("IP addresses, ranges and trusted proxies")
struct TrustedProxiesTests {
    @Test("RFC 4291 §2.2 and dotted quads: valid texts parse and print canonically (RFC 5952)", arguments: [
        ("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("::1", "::1"), ("::", "::"), ("2001:db8::1", "2001:db8::1"), ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1::", "1::"),
        ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"), ("fe80::1:2", "fe80::1:2"), ("::1.2.3.4", "::102:304"),
    ])
    func validAddresses(text: String, canonical: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == canonical)
        #expect(IPAddress(address.description) == address, "the canonical form parses back")
    }

    @Test("Anything else is refused: no ports, brackets, zones, octal-looking or out-of-range parts", arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.04", "1..2.3", "1.2.3.4 ", " 1.2.3.4", "[::1]", "::1%eth0",
        "1.2.3.4:80", ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", ":1::", "1:", "12345::", "g::1", "1:2:3:4:5:6:7::8:9",
        "::ffff:1.2.3", "1.2.3.4::", "localhost", "unknown", "_hidden", "1:2:3:4:5:6:7:1.2.3.4",
    ])
    func invalidAddresses(text: String) {
        #expect(IPAddress(text) == nil, "\(text) parsed")
    }

    @Test("CIDR ranges contain what they should, IPv4 ranges match dual-stack mapped peers")
    func ranges() throws {
        let loopback = try #require(IPNetwork("127.0.0.0/8"))
        #expect(loopback.contains(try #require(IPAddress("127.9.9.9"))))
        #expect(loopback.contains(try #require(IPAddress("::ffff:127.0.0.5"))))
        #expect(!loopback.contains(try #require(IPAddress("128.0.0.1"))))
        #expect(!loopback.contains(try #require(IPAddress("::1"))))
        let host = try #require(IPNetwork("10.1.2.3"))
        #expect(host.contains(try #require(IPAddress("10.1.2.3"))))
        #expect(!host.contains(try #require(IPAddress("10.1.2.4"))))
        let v6 = try #require(IPNetwork("2001:db8::/33"))
        #expect(v6.contains(try #require(IPAddress("2001:db8:7fff::1"))))
        #expect(!v6.contains(try #require(IPAddress("2001:db8:8000::1"))))
        #expect(try #require(IPNetwork("0.0.0.0/0")).contains(try #require(IPAddress("8.8.8.8"))))
        for bad in ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1", "10.0.0.0/8/8", "/8", "10.0.0.0/a"] {
            #expect(IPNetwork(bad) == nil, "\(bad) parsed")
        }
    }

    @Test("--trustedproxy lists: ranges and `unix`; a bad entry is named")
    func parseList() throws {
        let proxies = try TrustedProxies.parse("127.0.0.1/32, 10.0.0.0/8,unix,::1")
        #expect(proxies.networks.map(\.description) == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"])
        #expect(proxies.trustsUnixPeers)
        #expect(throws: TrustedProxiesError(entry: "10.0.0.0/99")) { try TrustedProxies.parse("127.0.0.1,10.0.0.0/99") }
        #expect(throws: TrustedProxiesError(entry: "")) { try TrustedProxies.parse("127.0.0.1,,10.0.0.1") }
    }

    static let proxies = try! TrustedProxies.parse("127.0.0.1,10.0.0.0/8")

    static func resolve(_ peer: String?, _ headers: [(String, String)], proxies: TrustedProxies = proxies) -> ForwardedClient? {
        proxies.resolve(peer: peer, headers: HTTPHeaders(headers.map { (name: $0.0, value: $0.1) }))
    }

    @Test("SPEC §11: the client is the rightmost X-Forwarded-For address that is not a trusted proxy")
    func rightmostUntrusted() {
        #expect(Self.resolve("127.0.0.1", [("X-Forwarded-For", "127.0.0.5")])?.address?.description == "127.0.0.5")
        // The client forged the first entry; the proxies appended the rest.
        #expect(Self.resolve("127.0.0.1", [("X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.1.1.1")])?.address?.description == "203.0.113.9")
        // Repeated fields are one list, in order.
        #expect(Self.resolve("127.0.0.1", [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "203.0.113.9, 10.0.0.2")])?
            .address?.description == "203.0.113.9")
        // Every hop trusted: the leftmost.
        #expect(Self.resolve("127.0.0.1", [("X-Forwarded-For", "10.0.0.3, 10.0.0.2")])?.address?.description == "10.0.0.3")
        // An entry that is not an address stops the walk at the last good hop.
        #expect(Self.resolve("127.0.0.1", [("X-Forwarded-For", "203.0.113.9, unknown, 10.0.0.2")])?.address?.description == "10.0.0.2")
        #expect(Self.resolve("127.0.0.1", [("X-Forwarded-For", "garbage")])?.address == nil)
        // Ports and brackets are tolerated, as some proxies write them.
        #expect(Self.resolve("127.0.0.1", [("X-Forwarded-For", "[2001:db8::7]:4711")])?.address?.description == "2001:db8::7")
        #expect(Self.resolve("127.0.0.1", [("X-Forwarded-For", "192.0.2.7:4711")])?.address?.description == "192.0.2.7")
        // A dual-stack listener's mapped peer is the same trusted proxy.
        #expect(Self.resolve("::ffff:127.0.0.1", [("X-Forwarded-For", "192.0.2.8")])?.address?.description == "192.0.2.8")
    }

    @Test("SPEC §11: from a peer that is not a trusted proxy the headers change nothing")
    func untrustedPeer() {
        let forged: [(String, String)] = [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil")]
        #expect(Self.resolve("192.0.2.1", forged) == nil)
        #expect(Self.resolve(nil, forged) == nil, "a Unix-socket peer without `unix`")
        #expect(Self.resolve("127.0.0.1", forged, proxies: TrustedProxies()) == nil)
        let unixTrusted = try! TrustedProxies.parse("unix")
        #expect(Self.resolve(nil, forged, proxies: unixTrusted)?.address?.description == "1.2.3.4")
    }

    @Test("SPEC §11: X-Forwarded-Proto https sets HTTPS, X-Forwarded-Host gives the host; Forwarded (RFC 7239) when X-Forwarded-For is absent")
    func protoHostAndForwarded() {
        let viaXFF = Self.resolve("127.0.0.1", [("X-Forwarded-For", "192.0.2.1"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "app.example")])
        #expect(viaXFF == ForwardedClient(address: IPAddress("192.0.2.1"), isHTTPS: true, host: "app.example"))
        #expect(Self.resolve("127.0.0.1", [("X-Forwarded-Proto", "http")])?.isHTTPS == false)
        let viaForwarded = Self.resolve("127.0.0.1", [("Forwarded", #"for=6.6.6.6, for="[2001:db8::9]:443";proto=https;host=app.example, for=10.0.0.9"#)])
        #expect(viaForwarded == ForwardedClient(address: IPAddress("2001:db8::9"), isHTTPS: true, host: "app.example"),
                "proto and host come from the element that named the client")
        #expect(Self.resolve("127.0.0.1", [("Forwarded", "for=192.0.2.3;proto=https;host=a.example")]) ==
                ForwardedClient(address: IPAddress("192.0.2.3"), isHTTPS: true, host: "a.example"))
        #expect(Self.resolve("127.0.0.1", [("Forwarded", "for=_hidden")])?.address == nil)
        #expect(Self.resolve("127.0.0.1", [("Forwarded", "for=192.0.2.3, garbage here")])?.address == nil,
                "an unparsable element nearest the server stops the walk at once")
        #expect(Self.resolve("127.0.0.1", [("X-Forwarded-For", "192.0.2.4"), ("Forwarded", "for=192.0.2.5")])?.address?.description == "192.0.2.4")
    }

    @Test("RFC 7239 §4: Forwarded elements, pairs, quoted strings and escapes")
    func forwardedSyntax() {
        #expect(ForwardedElement.parseList(#"For="[2001:db8:cafe::17]:4711""#) == [ForwardedElement(forNode: "[2001:db8:cafe::17]:4711")])
        #expect(ForwardedElement.parseList("for=192.0.2.60;proto=http;by=203.0.113.43") ==
                [ForwardedElement(forNode: "192.0.2.60", proto: "http", host: nil)])
        #expect(ForwardedElement.parseList("for=192.0.2.43, for=198.51.100.17").map(\.forNode) == ["192.0.2.43", "198.51.100.17"])
        #expect(ForwardedElement.parseList(#"for="a\"b""#) == [ForwardedElement(forNode: "a\"b")])
        #expect(ForwardedElement.parseList(" , ,for=1.2.3.4 ;; ") == [ForwardedElement(forNode: "1.2.3.4")])
        for malformed in [#"for="unterminated"#, "for", "=x", "for=1.2.3.4 junk", "for=", "for=a b"] {
            #expect(ForwardedElement.parseList(malformed).last == ForwardedElement(forNode: ""), "\(malformed)")
        }
    }

    @Test("Seeded mutation: no input crashes the address, range or Forwarded parsers, and whatever parses round-trips")
    func mutation() {
        let seed = UInt64(0x7A11_5EED)
        var random = SplitMix64(seed: seed)
        let seeds = ["192.0.2.1", "2001:db8::1", "::ffff:10.0.0.1", "10.0.0.0/8", "for=\"[::1]:80\";proto=https, for=1.2.3.4",
                     "1:2:3:4:5:6:7:8", "127.0.0.1/32"]
        let alphabet = Array("0123456789abcdefABCDEF:./[]\";,= _-x".utf8)
        var parsed = 0
        for _ in 0..<20_000 {
            var bytes = Array(seeds[random.below(seeds.count)].utf8)
            random.mutate(&bytes, alphabet: alphabet)
            let text = String(decoding: bytes, as: UTF8.self)
            if let address = IPAddress(text) {
                parsed += 1
                #expect(IPAddress(address.description) == address, "seed \(seed): \(text)")
            }
            if let network = IPNetwork(text) {
                #expect(IPNetwork(network.description) == network, "seed \(seed): \(text)")
                #expect(network.contains(network.address))
            }
            _ = ForwardedElement.parseList(text)
        }
        print("address mutation: 20000 inputs, \(parsed) parsed as addresses, seed \(seed)")
        #expect(parsed > 100)
    }
}

import Testing
@testable import WSProtocol

@Suite("Sec-WebSocket-Extensions parsing")
struct ExtensionOfferTests {
    typealias P = ExtensionParameter

    static func offer(_ name: String, _ parameters: [(String, String?)] = []) -> ExtensionOffer {
        ExtensionOffer(name: name, parameters: parameters.map { P(name: $0.0, value: $0.1) })
    }

    @Test("RFC 6455 §9.1: repeated field lines are one list (`foo` + `bar; baz=2` = `foo, bar; baz=2`)")
    func repeatedFieldLines() {
        let expected = [Self.offer("foo"), Self.offer("bar", [("baz", "2")])]
        #expect(ExtensionOffer.parse(["foo", "bar; baz=2"]) == expected)
        #expect(ExtensionOffer.parse(["foo, bar; baz=2"]) == expected)
    }

    @Test("RFC 7692 §5 examples: a quoted value, the same extension offered twice")
    func rfc7692Examples() {
        #expect(ExtensionOffer.parse(["permessage-foo; x=\"10\""]) == [Self.offer("permessage-foo", [("x", "10")])])
        #expect(ExtensionOffer.parse(["permessage-foo; use_y, permessage-foo"])
                == [Self.offer("permessage-foo", [("use_y", nil)]), Self.offer("permessage-foo")])
        #expect(ExtensionOffer.parse(["permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits"])
                == [Self.offer("permessage-deflate", [("client_max_window_bits", nil), ("server_max_window_bits", "10")]),
                    Self.offer("permessage-deflate", [("client_max_window_bits", nil)])])
    }

    @Test("Browsers' offers")
    func browsers() {
        #expect(ExtensionOffer.parse(["permessage-deflate; client_max_window_bits"])
                == [Self.offer("permessage-deflate", [("client_max_window_bits", nil)])])
        #expect(ExtensionOffer.parse(["permessage-deflate"]) == [Self.offer("permessage-deflate")])
    }

    @Test("No field line is an empty list; field lines without an element are malformed (1#extension)")
    func emptyLists() {
        #expect(ExtensionOffer.parse([]) == [])
        for lines in [[""], [" "], [","], [" , ,\t"], ["", ","]] {
            #expect(ExtensionOffer.parse(lines) == nil, "\(lines)")
        }
        #expect(ExtensionOffer.parse(["", "foo"]) == [Self.offer("foo")])
    }

    @Test("RFC 9110 §5.6.1: empty elements are skipped", arguments: [
        ", foo", "foo,", "foo ,, ,", ",,foo,,", "\tfoo\t,\t",
    ])
    func emptyElements(_ value: String) {
        #expect(ExtensionOffer.parse([value]) == [Self.offer("foo")])
    }

    @Test("OWS around `;`, `,` and `=`; none needed", arguments: [
        "a;b=1;c,d", "a ; b = 1 ; c , d", "a\t;\tb\t=\t1\t;\tc\t,\td", "  a;b=1; c,d  ", "a;b=\"1\";c,d",
    ])
    func whitespace(_ value: String) {
        #expect(ExtensionOffer.parse([value]) == [Self.offer("a", [("b", "1"), ("c", nil)]), Self.offer("d")])
    }

    @Test("Names are lowercased; values keep their case")
    func caseOfNames() {
        #expect(ExtensionOffer.parse(["PerMessage-Deflate; Client_Max_Window_Bits=Ab"])
                == [Self.offer("permessage-deflate", [("client_max_window_bits", "Ab")])])
    }

    @Test("Quoted values: escapes resolved; the content must be a token (RFC 6455 §9.1)")
    func quotedValues() {
        #expect(ExtensionOffer.parse(["x; y=\"1\\0\""]) == [Self.offer("x", [("y", "10")])])
        #expect(ExtensionOffer.parse(["x; y=\"a-b.c\", z"]) == [Self.offer("x", [("y", "a-b.c")]), Self.offer("z")])
        for value in ["x; y=\"\"", "x; y=\"a b\"", "x; y=\"a,b\"", "x; y=\"a;b\"", "x; y=\"a\\\"b\"", "x; y=\"1",
                      "x; y=\"1\\", "x; y=\"1\"2", "x; y=\"é\"", "x; y=\"1\" \"2\""] {
            #expect(ExtensionOffer.parse([value]) == nil, "\(value)")
        }
    }

    @Test("Malformed lists are refused whole", arguments: [
        "foo bar", "foo;", "foo; ;bar", ";foo", "foo; =1", "foo; x=", "foo; x==1", "foo; x=1=2", "foo; x=a b",
        "foo, bar baz", "foo=1", "f(o)o", "foo; x=a/b", "foo; x@=1", "foo\r\n", "foo\u{0}", "fóo", "foo; x=é",
        "\"foo\"", "foo; \"x\"", "foo;;x", "foo; x; ", "foo; x = ",
    ])
    func malformed(_ value: String) {
        #expect(ExtensionOffer.parse([value]) == nil)
        #expect(ExtensionOffer.parse(["ok", value]) == nil)
    }

    @Test("Every tchar is a token byte (RFC 9110 §5.6.2)")
    func tchars() {
        let token = "!#$%&'*+-.^_`|~09azAZ"
        #expect(ExtensionOffer.parse([token + "; " + token + "=" + token])
                == [Self.offer(token.lowercased(), [(token.lowercased(), token)])])
    }

    @Test("At most 64 offers, across field lines, and 64 parameters per offer")
    func bounds() {
        let offers64 = Array(repeating: "x", count: 64)
        #expect(ExtensionOffer.parse([offers64.joined(separator: ",")])?.count == 64)
        #expect(ExtensionOffer.parse([offers64.joined(separator: ","), "y"]) == nil)
        #expect(ExtensionOffer.parse(offers64 + ["y"]) == nil)
        let parameters64 = (0..<64).map { "p\($0)" }
        #expect(ExtensionOffer.parse(["x; " + parameters64.joined(separator: "; ")])?.first?.parameters.count == 64)
        #expect(ExtensionOffer.parse(["x; " + (parameters64 + ["q"]).joined(separator: "; ")]) == nil)
    }

    @Test("A long hostile line is refused or parsed quickly")
    func longInput() {
        let many = String(repeating: ", ", count: 100_000) + "x"
        #expect(ExtensionOffer.parse([many]) == [Self.offer("x")])
        let longToken = String(repeating: "a", count: 200_000)
        #expect(ExtensionOffer.parse(["x; y=" + longToken])?.first?.parameters.first?.value?.count == 200_000)
        #expect(ExtensionOffer.parse(["x; y=\"" + String(repeating: "\\a", count: 100_000)]) == nil)
    }

    @Test("headerValue writes what parse reads back; values that are not tokens are quoted")
    func headerValue() {
        let offers = [Self.offer("permessage-deflate", [("server_no_context_takeover", nil), ("client_max_window_bits", "12")])]
        #expect(offers[0].headerValue == "permessage-deflate; server_no_context_takeover; client_max_window_bits=12")
        #expect(ExtensionOffer.parse([offers[0].headerValue]) == offers)
        #expect(Self.offer("x", [("y", "a \"b\\")]).headerValue == "x; y=\"a \\\"b\\\\\"")
    }
}

import Testing
@testable import WSProtocol

@Suite("permessage-deflate negotiation")
struct PerMessageDeflateNegotiationTests {
    /// The answer to the header `value` under `policy`; nil when declined or malformed.
    static func answer(_ value: String, _ policy: DeflatePolicy = DeflatePolicy()) -> DeflateParameters? {
        guard let offers = ExtensionOffer.parse([value]) else { return nil }
        return PerMessageDeflateNegotiation.negotiate(offers, policy: policy)
    }

    static func agreed(serverNoContextTakeover: Bool = false, clientNoContextTakeover: Bool = false,
                       server: Int = 15, client: Int = 15, _ response: String) -> DeflateParameters {
        DeflateParameters(serverNoContextTakeover: serverNoContextTakeover, clientNoContextTakeover: clientNoContextTakeover,
                          serverMaxWindowBits: server, clientMaxWindowBits: client, responseHeaderValue: response)
    }

    @Test("Chromium's offer (`permessage-deflate; client_max_window_bits`)")
    func chromium() {
        let offer = "permessage-deflate; client_max_window_bits"
        #expect(Self.answer(offer) == Self.agreed("permessage-deflate"))
        // A smaller inflater: the client allows a limit, so the server names one.
        #expect(Self.answer(offer, DeflatePolicy(serverMaxWindowBits: 12, clientMaxWindowBits: 12))
                == Self.agreed(server: 12, client: 12, "permessage-deflate; client_max_window_bits=12"))
    }

    @Test("Firefox's and Safari's offer (`permessage-deflate`): no window is named that was not offered")
    func firefoxAndSafari() {
        #expect(Self.answer("permessage-deflate") == Self.agreed("permessage-deflate"))
        // RFC 7692 §7.1.2.2: client_max_window_bits not offered, never answered, and the inflater
        // keeps 32 KiB; the server still compresses with its own smaller window, unannounced.
        #expect(Self.answer("permessage-deflate", DeflatePolicy(serverMaxWindowBits: 12, clientMaxWindowBits: 9))
                == Self.agreed(server: 12, client: 15, "permessage-deflate"))
    }

    @Test("Policy: no context takeover asked of both sides even when not offered (RFC 7692 §7.1.1)")
    func policyNoContextTakeover() {
        let policy = DeflatePolicy(serverMaxWindowBits: 12, clientMaxWindowBits: 12,
                                   requestsClientNoContextTakeover: true, serverNoContextTakeover: true)
        #expect(Self.answer("permessage-deflate", policy)
                == Self.agreed(serverNoContextTakeover: true, clientNoContextTakeover: true, server: 12,
                               "permessage-deflate; server_no_context_takeover; client_no_context_takeover"))
        #expect(Self.answer("permessage-deflate; client_max_window_bits", policy)
                == Self.agreed(serverNoContextTakeover: true, clientNoContextTakeover: true, server: 12, client: 12,
                               "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=12"))
    }

    /// Autobahn's 13.x client offers (autobahn-testsuite case12_x_x.py `DEFLATE_PARAMS`, written by
    /// autobahn's `PerMessageDeflateOffer.get_extension_string`), with the default policy's answers.
    static let autobahnCases: [(String, String?)] = [
        ("permessage-deflate; client_no_context_takeover; client_max_window_bits",                               // 13.1
         "permessage-deflate; client_no_context_takeover"),
        ("permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover",   // 13.2
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ("permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8",     // 13.3
         nil),
        ("permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=15",    // 13.4
         "permessage-deflate; client_no_context_takeover; server_max_window_bits=15"),
        ("permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8",  // 13.5
         nil),
        ("permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=15", // 13.6
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15"),
        ("permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8, "
         + "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, "
         + "permessage-deflate; client_no_context_takeover; client_max_window_bits",                              // 13.7
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    ]

    @Test("Autobahn 13.x offers", arguments: autobahnCases)
    func autobahn(_ offer: String, _ response: String?) {
        #expect(Self.answer(offer)?.responseHeaderValue == response)
    }

    @Test("Autobahn 13.x offers with a 12-bit policy: the server's window is the smaller, and named when asked")
    func autobahnSmallWindows() {
        let policy = DeflatePolicy(serverMaxWindowBits: 12, clientMaxWindowBits: 12)
        #expect(Self.answer(Self.autobahnCases[3].0, policy)
                == Self.agreed(clientNoContextTakeover: true, server: 12, client: 12,
                               "permessage-deflate; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12"))
        #expect(Self.answer("permessage-deflate; server_max_window_bits=10", policy)
                == Self.agreed(server: 10, "permessage-deflate; server_max_window_bits=10"))
    }

    @Test("RFC 7692 §5 example: the first offer is taken when it can be")
    func rfcExample() {
        let value = "permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits"
        #expect(Self.answer(value) == Self.agreed(server: 10, "permessage-deflate; server_max_window_bits=10"))
    }

    @Test("server_max_window_bits=8 is declined in favour of the next offer (SPEC §6)")
    func fallback() {
        #expect(Self.answer("permessage-deflate; server_max_window_bits=8, permessage-deflate") == Self.agreed("permessage-deflate"))
        #expect(Self.answer("permessage-deflate; server_max_window_bits=8") == nil)
        #expect(Self.answer("permessage-deflate; server_max_window_bits=9")
                == Self.agreed(server: 9, "permessage-deflate; server_max_window_bits=9"))
    }

    @Test("Other extensions are never answered")
    func otherExtensions() {
        #expect(Self.answer("x-webkit-deflate-frame") == nil)
        #expect(Self.answer("permessage-foo; x=10, permessage-deflate, deflate-frame") == Self.agreed("permessage-deflate"))
        #expect(Self.answer("permessage-deflate-x, permessage") == nil)
        #expect(PerMessageDeflateNegotiation.negotiate([], policy: DeflatePolicy()) == nil)
    }

    @Test("Declined offers (RFC 7692 §7, §7.1): each alone declines, and the next offer is taken", arguments: [
        "permessage-deflate; foo",                                          // unknown parameter
        "permessage-deflate; foo=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",   // repeated
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=10; CLIENT_MAX_WINDOW_BITS=10",
        "permessage-deflate; server_no_context_takeover=1",                 // a value where none is allowed
        "permessage-deflate; client_no_context_takeover=\"true\"",
        "permessage-deflate; server_max_window_bits",                       // no value
        "permessage-deflate; server_max_window_bits=7",                     // out of range
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=0",
        "permessage-deflate; server_max_window_bits=010",                   // leading zero
        "permessage-deflate; server_max_window_bits=09",
        "permessage-deflate; server_max_window_bits=+10",                   // sign
        "permessage-deflate; server_max_window_bits=-10",
        "permessage-deflate; server_max_window_bits=1e1",
        "permessage-deflate; server_max_window_bits=99999999999999999999999",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=08",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_max_window_bits=8",                     // zlib cannot
        "permessage-deflate; client_max_window_bits; server_max_window_bits=\"8\"",
    ])
    func declined(_ offer: String) {
        #expect(ExtensionOffer.parse([offer]) != nil)
        #expect(Self.answer(offer) == nil)
        #expect(Self.answer(offer + ", permessage-deflate; client_no_context_takeover")
                == Self.agreed(clientNoContextTakeover: true, "permessage-deflate; client_no_context_takeover"))
    }

    @Test("Quoted values whose content is valid are accepted (RFC 6455 §9.1)")
    func quotedValues() {
        #expect(Self.answer("permessage-deflate; server_max_window_bits=\"10\"")
                == Self.agreed(server: 10, "permessage-deflate; server_max_window_bits=10"))
        #expect(Self.answer("permessage-deflate; client_max_window_bits=\"1\\1\"")
                == Self.agreed(client: 11, "permessage-deflate; client_max_window_bits=11"))
        #expect(Self.answer("permessage-deflate; server_max_window_bits=\"010\"") == nil)
    }

    @Test("client_max_window_bits: the answer is at most the offered value (RFC 7692 §7.1.2.2)")
    func clientWindow() {
        let small = DeflatePolicy(clientMaxWindowBits: 10)
        #expect(Self.answer("permessage-deflate; client_max_window_bits=12", small)
                == Self.agreed(client: 10, "permessage-deflate; client_max_window_bits=10"))
        #expect(Self.answer("permessage-deflate; client_max_window_bits=9", small)
                == Self.agreed(client: 9, "permessage-deflate; client_max_window_bits=9"))
        #expect(Self.answer("permessage-deflate; client_max_window_bits=8")
                == Self.agreed(client: 8, "permessage-deflate; client_max_window_bits=8"))
        #expect(Self.answer("permessage-deflate; client_max_window_bits=15")
                == Self.agreed("permessage-deflate; client_max_window_bits=15"))
    }

    @Test("server_max_window_bits: the answer names min(offer, policy) (RFC 7692 §7.1.2.1)", arguments: 9...15)
    func serverWindow(_ offered: Int) {
        for limit in DeflatePolicy.serverWindowBitsRange {
            let expected = min(offered, limit)
            #expect(Self.answer("permessage-deflate; server_max_window_bits=\(offered)", DeflatePolicy(serverMaxWindowBits: limit))
                    == Self.agreed(server: expected, "permessage-deflate; server_max_window_bits=\(expected)"))
        }
    }

    @Test("A policy out of range is clamped: never a server window of 8 or a window over 15")
    func clampedPolicy() {
        let policy = DeflatePolicy(serverMaxWindowBits: 8, clientMaxWindowBits: 3)
        #expect(Self.answer("permessage-deflate; client_max_window_bits", policy)
                == Self.agreed(server: 9, client: 8, "permessage-deflate; client_max_window_bits=8"))
        let large = DeflatePolicy(serverMaxWindowBits: 20, clientMaxWindowBits: 20)
        #expect(Self.answer("permessage-deflate; client_max_window_bits", large) == Self.agreed("permessage-deflate"))
    }

    @Test("Case and whitespace do not change the agreement")
    func caseAndWhitespace() {
        #expect(Self.answer("PERMESSAGE-DEFLATE ;\tServer_No_Context_Takeover ; SERVER_MAX_WINDOW_BITS = 10")
                == Self.agreed(serverNoContextTakeover: true, server: 10,
                               "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"))
    }

    @Test("Offers split over repeated field lines keep their order")
    func repeatedLines() throws {
        let offers = try #require(ExtensionOffer.parse(["permessage-deflate; server_max_window_bits=8", "permessage-deflate; server_max_window_bits=11"]))
        #expect(PerMessageDeflateNegotiation.negotiate(offers, policy: DeflatePolicy())
                == Self.agreed(server: 11, "permessage-deflate; server_max_window_bits=11"))
    }
}

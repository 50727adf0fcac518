import Testing
@testable import WSProtocol
import TestSupport

@Suite("Sec-WebSocket-Extensions mutation")
struct ExtensionFuzzTests {
    /// Header values to mutate: browsers', Autobahn's, the RFCs' and some edge shapes.
    static let seeds = [
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate",
        "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8, "
            + "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, "
            + "permessage-deflate; client_no_context_takeover; client_max_window_bits",
        "permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits",
        "permessage-foo; x=\"10\", permessage-foo; use_y",
        "permessage-deflate; server_max_window_bits=\"1\\2\"; client_max_window_bits=9",
        " , permessage-deflate ;\tserver_no_context_takeover , x-webkit-deflate-frame,",
        "foo, bar; baz=2",
    ]

    /// Bytes that matter to the grammar, and a few that never may appear.
    static let alphabet: [UInt8] = Array(";,=\"\\ \t-_089a15XZ".utf8) + [0x00, 0x0D, 0x7F, 0x80, 0xC3, 0xFF]

    static func mutate(_ bytes: inout [UInt8], _ random: inout SplitMix64) {
        let seedBytes = seeds.map { Array($0.utf8) }
        for _ in 0..<(1 + random.below(4)) {
            let index = bytes.isEmpty ? 0 : random.below(bytes.count)
            switch random.below(7) {
            case 0 where !bytes.isEmpty: bytes[index] = alphabet[random.below(alphabet.count)]
            case 1: bytes.insert(alphabet[random.below(alphabet.count)], at: index)
            case 2 where !bytes.isEmpty: bytes.remove(at: index)
            case 3 where !bytes.isEmpty:
                bytes.insert(contentsOf: bytes[index..<min(bytes.count, index + 1 + random.below(24))], at: index)
            case 4:
                let other = seedBytes[random.below(seedBytes.count)]
                let start = random.below(other.count)
                bytes.insert(contentsOf: other[start..<min(other.count, start + 1 + random.below(40))], at: index)
            case 5 where !bytes.isEmpty: bytes[index] ^= 0x20
            default: if !bytes.isEmpty { bytes.removeSubrange(index..<min(bytes.count, index + 1 + random.below(8))) }
            }
        }
    }

    /// The value of the answer's parameter `name`, `.some(nil)` when it has none, nil when absent.
    static func value(_ name: String, in offer: ExtensionOffer) -> String?? {
        offer.parameters.first { $0.name == name }.map(\.value)
    }

    /// Whether `parameters` could be the answer to `offer` under `policy` (RFC 7692 §7.1).
    static func isConsistent(_ parameters: DeflateParameters, answer: ExtensionOffer, offer: ExtensionOffer, policy: DeflatePolicy) -> Bool {
        guard offer.name == "permessage-deflate" else { return false }
        let offered = { (name: String) in value(name, in: offer) }
        let answered = { (name: String) in value(name, in: answer) }
        if offered("server_no_context_takeover") != nil && answered("server_no_context_takeover") == nil { return false }
        if offered("client_no_context_takeover") != nil && answered("client_no_context_takeover") == nil { return false }
        // server_max_window_bits answered exactly when offered, no larger, and never 8.
        switch (offered("server_max_window_bits"), answered("server_max_window_bits")) {
        case (nil, nil): break
        case (.some(.some(let asked)), .some(.some(let given))):
            guard let asked = Int(asked), let given = Int(given), given <= asked, given >= 9 else { return false }
        default: return false
        }
        // client_max_window_bits answered only when offered, no larger than an offered value.
        switch (offered("client_max_window_bits"), answered("client_max_window_bits")) {
        case (_, nil): break
        case (.some(.none), .some(.some)): break
        case (.some(.some(let allowed)), .some(.some(let given))):
            guard let allowed = Int(allowed), let given = Int(given), given <= allowed else { return false }
        default: return false
        }
        return true
    }

    /// Checks a negotiated answer on its own: it re-parses as one permessage-deflate element
    /// naming exactly the agreed parameters, each once and valid.
    static func checkAnswer(_ parameters: DeflateParameters, policy: DeflatePolicy, offers: [ExtensionOffer], input: String) {
        #expect(!parameters.responseHeaderValue.isEmpty)
        guard let answers = ExtensionOffer.parse([parameters.responseHeaderValue]), answers.count == 1 else {
            Issue.record("answer \(parameters.responseHeaderValue) does not parse as one element, for \(input)")
            return
        }
        let answer = answers[0]
        #expect(answer.name == "permessage-deflate")
        #expect(Set(answer.parameters.map(\.name)).count == answer.parameters.count, "repeated parameter for \(input)")
        #expect(DeflatePolicy.serverWindowBitsRange.contains(parameters.serverMaxWindowBits))
        #expect(DeflatePolicy.clientWindowBitsRange.contains(parameters.clientMaxWindowBits))
        #expect(parameters.serverMaxWindowBits <= max(9, policy.serverMaxWindowBits))
        #expect(parameters.serverNoContextTakeover == (value("server_no_context_takeover", in: answer) != nil))
        #expect(parameters.clientNoContextTakeover == (value("client_no_context_takeover", in: answer) != nil))
        let serverBits = value("server_max_window_bits", in: answer)
        #expect(serverBits == nil || serverBits == .some(String(parameters.serverMaxWindowBits)))
        let clientBits = value("client_max_window_bits", in: answer)
        #expect(clientBits == nil ? parameters.clientMaxWindowBits == 15 : clientBits == .some(String(parameters.clientMaxWindowBits)))
        #expect(offers.contains { isConsistent(parameters, answer: answer, offer: $0, policy: policy) }, "answer \(answer) for \(input)")
    }

    static let policies = [
        DeflatePolicy(),
        DeflatePolicy(serverMaxWindowBits: 12, clientMaxWindowBits: 12),
        DeflatePolicy(serverMaxWindowBits: 9, clientMaxWindowBits: 8, requestsClientNoContextTakeover: true, serverNoContextTakeover: true),
    ]

    @Test("20,000 seeded mutants: parse never crashes, results round-trip, answers re-parse consistently",
          .timeLimit(.minutes(2)))
    func mutants() {
        let seed: UInt64 = 0x7692_6455_9110
        print("ExtensionFuzzTests.mutants seed 0x\(String(seed, radix: 16))")
        var random = SplitMix64(seed: seed)
        var parsed = 0
        var negotiated = 0
        for _ in 0..<20_000 {
            var bytes = Array(Self.seeds[random.below(Self.seeds.count)].utf8)
            Self.mutate(&bytes, &random)
            let text = String(decoding: bytes, as: UTF8.self)
            // Sometimes as several field lines, split where a comma or anything else was.
            var lines = [text]
            if random.chance(25), !bytes.isEmpty {
                let cut = text.index(text.startIndex, offsetBy: random.below(text.count))
                lines = [String(text[..<cut]), String(text[cut...])]
            }
            guard let offers = ExtensionOffer.parse(lines) else { continue }
            parsed += 1
            #expect(offers.count <= ExtensionOffer.maxOffers)
            for offer in offers {
                #expect(ExtensionOffer.isToken(offer.name) && offer.name == offer.name.lowercased())
                #expect(offer.parameters.count <= ExtensionOffer.maxParametersPerOffer)
                #expect(offer.parameters.allSatisfy { ExtensionOffer.isToken($0.name) && $0.name == $0.name.lowercased() })
                #expect(offer.parameters.allSatisfy { $0.value.map(ExtensionOffer.isToken) ?? true })
            }
            let written = offers.map(\.headerValue).joined(separator: ", ")
            #expect(ExtensionOffer.parse([written]) == offers, "\(lines) wrote \(written)")
            for policy in Self.policies {
                guard let parameters = PerMessageDeflateNegotiation.negotiate(offers, policy: policy) else { continue }
                negotiated += 1
                Self.checkAnswer(parameters, policy: policy, offers: offers, input: text)
            }
        }
        print("ExtensionFuzzTests.mutants: \(parsed) of 20000 mutants parsed, \(negotiated) negotiations")
        // The mutants must reach both sides of the parser and the negotiation.
        #expect(parsed > 2000 && parsed < 19_000)
        #expect(negotiated > 1000)
    }
}

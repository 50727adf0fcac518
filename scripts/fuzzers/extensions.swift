// libFuzzer target: the Sec-WebSocket-Extensions parser (RFC 6455 §9.1) and permessage-deflate
// negotiation (RFC 7692 §7). The input is one header value, or several field lines split on \n.
// Checks, for any bytes: the parser returns nil or at most 64 offers of at most 64 parameters,
// with lowercase token names and token values, that write back and parse the same; under each
// policy, an answer parses back as one permessage-deflate element naming only the agreed
// parameters, each once, with windows in range and consistent with one of the offers.

/// The value of `name` in `offer`: `.some(nil)` without a value, nil when absent.
func value(_ name: String, in offer: ExtensionOffer) -> String?? {
    offer.parameters.first { $0.name == name }.map(\.value)
}

/// Whether `answer` could be the answer to `offer` (RFC 7692 §7.1).
func answers(_ answer: ExtensionOffer, _ offer: ExtensionOffer) -> Bool {
    guard offer.name == "permessage-deflate" else { return false }
    for flag in ["server_no_context_takeover", "client_no_context_takeover"] {
        if value(flag, in: offer) != nil && value(flag, in: answer) == nil { return false }
    }
    switch (value("server_max_window_bits", in: offer), value("server_max_window_bits", in: answer)) {
    case (nil, nil): break
    case (.some(.some(let asked)), .some(.some(let given))):
        guard let asked = Int(asked), let given = Int(given), 9 <= given, given <= asked else { return false }
    default: return false
    }
    switch (value("client_max_window_bits", in: offer), value("client_max_window_bits", in: answer)) {
    case (_, nil), (.some(.none), .some(.some)): break
    case (.some(.some(let allowed)), .some(.some(let given))):
        guard let allowed = Int(allowed), let given = Int(given), given <= allowed else { return false }
    default: return false
    }
    return true
}

let policies = [
    DeflatePolicy(),
    DeflatePolicy(serverMaxWindowBits: 12, clientMaxWindowBits: 12),
    DeflatePolicy(serverMaxWindowBits: 9, clientMaxWindowBits: 8, requestsClientNoContextTakeover: true, serverNoContextTakeover: true),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard let offers = ExtensionOffer.parse(lines) else { return 0 }
    precondition(offers.count <= ExtensionOffer.maxOffers, "too many offers")
    for offer in offers {
        precondition(ExtensionOffer.isToken(offer.name) && offer.name == offer.name.lowercased(), "bad name \(offer.name)")
        precondition(offer.parameters.count <= ExtensionOffer.maxParametersPerOffer, "too many parameters")
        for parameter in offer.parameters {
            precondition(ExtensionOffer.isToken(parameter.name) && parameter.name == parameter.name.lowercased(), "bad parameter name")
            precondition(parameter.value.map(ExtensionOffer.isToken) ?? true, "a value that is not a token")
        }
    }
    let written = offers.map(\.headerValue).joined(separator: ", ")
    precondition(ExtensionOffer.parse([written]) == offers, "\(lines) wrote \(written), which parses differently")
    for policy in policies {
        guard let agreed = PerMessageDeflateNegotiation.negotiate(offers, policy: policy) else { continue }
        precondition(!agreed.responseHeaderValue.isEmpty, "empty answer")
        guard let parsed = ExtensionOffer.parse([agreed.responseHeaderValue]), parsed.count == 1,
              let answer = parsed.first, answer.name == "permessage-deflate" else {
            preconditionFailure("answer \(agreed.responseHeaderValue) is not one permessage-deflate element")
        }
        precondition(Set(answer.parameters.map(\.name)).count == answer.parameters.count, "repeated parameter")
        precondition(DeflatePolicy.serverWindowBitsRange.contains(agreed.serverMaxWindowBits), "server window out of range")
        precondition(DeflatePolicy.clientWindowBitsRange.contains(agreed.clientMaxWindowBits), "client window out of range")
        precondition(agreed.serverMaxWindowBits <= max(9, policy.serverMaxWindowBits), "server window over the policy")
        precondition(agreed.serverNoContextTakeover == (value("server_no_context_takeover", in: answer) != nil))
        precondition(agreed.clientNoContextTakeover == (value("client_no_context_takeover", in: answer) != nil))
        let serverBits = value("server_max_window_bits", in: answer)
        precondition(serverBits == nil || serverBits == .some(String(agreed.serverMaxWindowBits)), "server window misreported")
        let clientBits = value("client_max_window_bits", in: answer)
        precondition(clientBits == nil ? agreed.clientMaxWindowBits == 15 : clientBits == .some(String(agreed.clientMaxWindowBits)),
                     "client window misreported")
        precondition(offers.contains { answers(answer, $0) }, "answer \(agreed.responseHeaderValue) fits no offer in \(text)")
    }
    return 0
}

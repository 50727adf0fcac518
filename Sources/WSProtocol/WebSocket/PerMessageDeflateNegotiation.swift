/// The server's half of negotiating permessage-deflate (RFC 7692 §5 and §7.1): pick the first
/// offer it can honour and write the answer.
public enum PerMessageDeflateNegotiation {
    /// The extension's registered token (RFC 7692 §7).
    public static let extensionName = "permessage-deflate"

    /// The first `permessage-deflate` offer, in the client's order of preference, that is valid
    /// and that zlib can honour, answered per `policy`; nil declines them all, and the 101 then
    /// names no extension.
    ///
    /// RFC 7692 §5: the client lists offers by preference and the server accepts at most one of
    /// them; offers of other extensions are never answered (RFC 6455 §9.1: a server may only
    /// answer what was offered). RFC 7692 §7: an offer is declined, and the next one tried, when
    /// it has a parameter not defined for offers, a parameter with an invalid value, a parameter
    /// twice, or a configuration the server cannot support (here `server_max_window_bits=8`).
    public static func negotiate(_ offers: [ExtensionOffer], policy: DeflatePolicy) -> DeflateParameters? {
        for offer in offers where offer.name == extensionName {
            if let valid = ValidOffer(offer), let parameters = accept(valid, policy: policy) {
                return parameters
            }
        }
        return nil
    }

    /// The window sizes as RFC 7692 §7.1.2.1 writes them: a decimal integer 8...15 without
    /// leading zeroes (and so without a sign).
    static let windowBitsByText: [String: Int] = Dictionary(uniqueKeysWithValues: (8...15).map { (String($0), $0) })

    /// What a client's `client_max_window_bits` says (RFC 7692 §7.1.2.2).
    enum ClientWindowOffer: Equatable {
        /// Not offered: the client may use a 32 KiB window and the answer must not name it.
        case notOffered
        /// Offered without a value: the client can take a limit from the answer.
        case offeredWithoutValue
        /// Offered with a value: the client will use at most this window whatever the answer.
        case offered(bits: Int)
    }

    /// A permessage-deflate offer whose parameters are all defined, valid and unrepeated.
    struct ValidOffer: Equatable {
        var serverNoContextTakeover = false
        var clientNoContextTakeover = false
        var serverMaxWindowBits: Int?
        var clientMaxWindowBits = ClientWindowOffer.notOffered

        /// The offer's parameters checked against RFC 7692 §7 and §7.1; nil when it must be declined.
        init?(_ offer: ExtensionOffer) {
            for parameter in offer.parameters {
                switch parameter.name {
                case "server_no_context_takeover":
                    // RFC 7692 §7.1.1.1: no value.
                    guard !serverNoContextTakeover, parameter.value == nil else { return nil }
                    serverNoContextTakeover = true
                case "client_no_context_takeover":
                    // RFC 7692 §7.1.1.2: no value.
                    guard !clientNoContextTakeover, parameter.value == nil else { return nil }
                    clientNoContextTakeover = true
                case "server_max_window_bits":
                    // RFC 7692 §7.1.2.1: a value is required in an offer.
                    guard serverMaxWindowBits == nil, let text = parameter.value,
                          let bits = windowBitsByText[text] else { return nil }
                    serverMaxWindowBits = bits
                case "client_max_window_bits":
                    // RFC 7692 §7.1.2.2: the value is optional in an offer.
                    guard clientMaxWindowBits == .notOffered else { return nil }
                    if let text = parameter.value {
                        guard let bits = windowBitsByText[text] else { return nil }
                        clientMaxWindowBits = .offered(bits: bits)
                    } else {
                        clientMaxWindowBits = .offeredWithoutValue
                    }
                default:
                    return nil
                }
            }
        }
    }

    /// The agreement for a valid offer, or nil when zlib cannot keep it.
    static func accept(_ offer: ValidOffer, policy: DeflatePolicy) -> DeflateParameters? {
        let serverWindowLimit = clamp(policy.serverMaxWindowBits, to: DeflatePolicy.serverWindowBitsRange)
        let clientWindowWanted = clamp(policy.clientMaxWindowBits, to: DeflatePolicy.clientWindowBitsRange)
        var answer: [ExtensionParameter] = []

        // RFC 7692 §7.1.1.1: a server accepts server_no_context_takeover by answering it, and
        // may answer it unasked.
        let serverNoContextTakeover = offer.serverNoContextTakeover || policy.serverNoContextTakeover
        if serverNoContextTakeover { answer.append(ExtensionParameter(name: "server_no_context_takeover")) }

        // RFC 7692 §7.1.1.2: the server may answer client_no_context_takeover whether or not it
        // was offered; offered, answering it lets the inflater forget between messages.
        let clientNoContextTakeover = offer.clientNoContextTakeover || policy.requestsClientNoContextTakeover
        if clientNoContextTakeover { answer.append(ExtensionParameter(name: "client_no_context_takeover")) }

        // RFC 7692 §7.1.2.1: the server accepts a limit by answering it with the same or a
        // smaller value. 8 cannot be kept with zlib (SPEC §6), so that offer is declined as one
        // the server does not support (RFC 7692 §7). Without a limit the client inflates with
        // 32 KiB, so any smaller window is fine unannounced: §7.1.2.1 lets the server name it
        // anyway, but Firefox has failed connections on a server_max_window_bits it did not offer
        // (as faye-websocket records), so it is named only when asked for.
        let serverMaxWindowBits: Int
        if let limit = offer.serverMaxWindowBits {
            guard DeflatePolicy.serverWindowBitsRange.contains(limit) else { return nil }
            serverMaxWindowBits = min(limit, serverWindowLimit)
            answer.append(ExtensionParameter(name: "server_max_window_bits", value: String(serverMaxWindowBits)))
        } else {
            serverMaxWindowBits = serverWindowLimit
        }

        // RFC 7692 §7.1.2.2: the answer may only name client_max_window_bits when the offer
        // did, with a value no larger than the offered one.
        let clientMaxWindowBits: Int
        switch offer.clientMaxWindowBits {
        case .notOffered:
            clientMaxWindowBits = 15
        case .offeredWithoutValue:
            clientMaxWindowBits = clientWindowWanted
            // 15 is what the absence of the parameter already means.
            if clientMaxWindowBits < 15 {
                answer.append(ExtensionParameter(name: "client_max_window_bits", value: String(clientMaxWindowBits)))
            }
        case .offered(let limit):
            clientMaxWindowBits = min(limit, clientWindowWanted)
            answer.append(ExtensionParameter(name: "client_max_window_bits", value: String(clientMaxWindowBits)))
        }

        return DeflateParameters(
            serverNoContextTakeover: serverNoContextTakeover,
            clientNoContextTakeover: clientNoContextTakeover,
            serverMaxWindowBits: serverMaxWindowBits,
            clientMaxWindowBits: clientMaxWindowBits,
            responseHeaderValue: ExtensionOffer(name: extensionName, parameters: answer).headerValue)
    }

    /// `value` moved into `range`: a policy out of range is configuration the CLI should have
    /// refused, and negotiating must still answer only what the RFC allows.
    static func clamp(_ value: Int, to range: ClosedRange<Int>) -> Int {
        min(max(value, range.lowerBound), range.upperBound)
    }
}

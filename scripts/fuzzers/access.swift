// libFuzzer target: the parsers of SPEC §11's access control, for any text: IP addresses and CIDR
// ranges (what parses prints canonically and parses back the same), forwarding headers (a client
// is found only behind a trusted peer, and is an address the parser accepts), the credentials of
// a request (the token is gone from the target, the cookie from the headers), and htpasswd files
// (whatever parses names only the accepted hash schemes).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let address = IPAddress(text) {
        precondition(IPAddress(address.description) == address, "\(text) does not round-trip")
    }
    if let network = IPNetwork(text) {
        precondition(IPNetwork(network.description) == network, "\(text) does not round-trip as a range")
        precondition(network.contains(network.address))
    }
    let headers = HTTPHeaders([(name: "X-Forwarded-For", value: text)])
    let forwardedOnly = HTTPHeaders([(name: "Forwarded", value: text), (name: "Cookie", value: text),
                                     (name: "Authorization", value: text)])
    let proxies = try! TrustedProxies.parse("127.0.0.1,10.0.0.0/8,unix")
    for candidate in [headers, forwardedOnly] {
        precondition(proxies.resolve(peer: "192.0.2.1", headers: candidate) == nil, "an untrusted peer was believed")
        if let client = proxies.resolve(peer: "127.0.0.1", headers: candidate), let address = client.address {
            precondition(IPAddress(address.description) == address)
        }
    }
    _ = Credentials.basic(in: forwardedOnly)
    _ = Credentials.bearer(in: forwardedOnly)
    let withoutCookie = Credentials.removingCookie(Credentials.tokenCookieName, from: forwardedOnly)
    precondition(Credentials.cookie(Credentials.tokenCookieName, in: withoutCookie) == nil, "the token cookie survived its removal")
    let target = "/p?" + text
    let (_, cleaned) = Credentials.takingToken(from: target)
    precondition(Credentials.takingToken(from: cleaned).tokens.isEmpty, "a token survived its removal")
    if let file = try? HtpasswdFile.parse(text) {
        precondition(file.hashes.values.allSatisfy { hash in HtpasswdFile.acceptedPrefixes.contains { hash.hasPrefix($0) } })
    }
    return 0
}

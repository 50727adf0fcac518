// libFuzzer target: the query of a shared session's URL (SPEC §13: `session=NAME`, `view=1`).
// Checks, for any bytes: a name it accepts is 16 to 128 characters of [A-Za-z0-9_-] and appears
// in the query as `session=NAME`; putting other parameters around an accepted query changes
// nothing; a refusal is one of the three kinds and says something.

let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-".utf8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let query = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let request = try SharedSessionRequest.parse(query: query)
        if let name = request.name {
            precondition(SharedSessionRequest.nameLengths.contains(name.utf8.count), "name of \(name.utf8.count) bytes")
            precondition(name.utf8.allSatisfy(alphabet.contains), "name outside the alphabet")
            precondition(query.contains("session=" + name), "name not in the query")
        }
        let wrapped = try? SharedSessionRequest.parse(query: "a=1&" + query + "&zz")
        precondition(wrapped == request, "other parameters changed the result")
    } catch {
        precondition(!error.message.isEmpty, "a refusal without a message")
    }
    return 0
}

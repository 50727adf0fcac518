// libFuzzer target: the two parsers of a `--pty` session's size (SPEC §12): the URL query's
// `cols=`/`rows=` and the resize message `{"cols":C,"rows":R}`. Checks, for any bytes: the query
// always gives a size in 1...1000 and other parameters around it change nothing; a resize message
// is accepted only when, without its JSON whitespace, it spells exactly its size in one of the two
// key orders, and a refusal is one of the two kinds.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let query = String(decoding: bytes, as: UTF8.self)
    let requested = TerminalSize.requested(inQuery: query)
    precondition(TerminalSize.allowedCells.contains(requested.columns) && TerminalSize.allowedCells.contains(requested.rows),
                 "query size \(requested)")
    precondition(TerminalSize.requested(inQuery: "a=1&" + query + "&zz") == requested, "other parameters changed the size")
    do {
        let resized = try TerminalResize.parse(bytes)
        precondition(TerminalSize.allowedCells.contains(resized.columns) && TerminalSize.allowedCells.contains(resized.rows))
        let compact = String(decoding: bytes.filter { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }, as: UTF8.self)
        precondition(compact == "{\"cols\":\(resized.columns),\"rows\":\(resized.rows)}"
                     || compact == "{\"rows\":\(resized.rows),\"cols\":\(resized.columns)}", "accepted \(compact)")
    } catch {
        precondition(error == .malformed || error == .outOfRange)
        precondition(bytes.count <= TerminalResize.maxMessageBytes || error == .malformed)
    }
    return 0
}

import Testing
@testable import WSProtocol

@Suite("RequestBodyFraming")
struct RequestBodyFramingTests {
    static func head(_ fields: [(String, String)]) -> HTTPRequestHead {
        HTTPRequestHead(method: "POST", target: "/", headers: HTTPHeaders([("Host", "h")] + fields.map { (name: $0.0, value: $0.1) }))
    }

    @Test("RFC 9112 §6.3: framings a server can rely on", arguments: [
        ([], RequestBodyFraming.none),
        ([("Content-Length", "0")], .none),
        ([("Content-Length", "000")], .none),
        ([("Content-Length", "5")], .contentLength(5)),
        ([("Content-Length", "007")], .contentLength(7)),
        ([("content-length", "12")], .contentLength(12)),
        // RFC 9112 §6.3 item 5: repeated identical values stand for one.
        ([("Content-Length", "5"), ("Content-Length", "5")], .contentLength(5)),
        ([("Content-Length", "5, 5")], .contentLength(5)),
        ([("Content-Length", "99999999999999999999999")], .contentLength(Int.max)),
        ([("Transfer-Encoding", "chunked")], .chunked),
        ([("Transfer-Encoding", "CHUNKED")], .chunked),
        ([("Transfer-Encoding", "gzip, chunked")], .chunked),
        ([("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "chunked")], .chunked),
    ] as [([(String, String)], RequestBodyFraming)])
    func accepted(fields: [(String, String)], framing: RequestBodyFraming) throws {
        #expect(try RequestBodyFraming(of: Self.head(fields)) == framing)
    }

    @Test("RFC 9112 §6.1, §6.3, RFC 9110 §8.6: framings that could be read two ways get 400", arguments: [
        // CL.TE and TE.CL: both present.
        [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
        [("Transfer-Encoding", "chunked"), ("Content-Length", "0")],
        // TE whose final coding is not chunked, or chunked twice (RFC 9112 §7).
        [("Transfer-Encoding", "gzip")],
        [("Transfer-Encoding", "chunked, gzip")],
        [("Transfer-Encoding", "chunked, chunked")],
        [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
        [("Transfer-Encoding", "xchunked")],
        [("Transfer-Encoding", "chunked;q=1")],
        [("Transfer-Encoding", "")],
        [("Transfer-Encoding", ",")],
        // Content-Length that is not 1*DIGIT, or that disagrees with itself.
        [("Content-Length", "+5")],
        [("Content-Length", "-1")],
        [("Content-Length", "0x10")],
        [("Content-Length", "5 5")],
        [("Content-Length", "5.0")],
        [("Content-Length", "")],
        [("Content-Length", "5,")],
        [("Content-Length", ",5")],
        [("Content-Length", "5, 6")],
        [("Content-Length", "5"), ("Content-Length", "6")],
        [("Content-Length", "1e3")],
        [("Content-Length", "٣")],
    ] as [[(String, String)]])
    func refused(fields: [(String, String)]) {
        #expect(throws: HTTPError.self) { try RequestBodyFraming(of: Self.head(fields)) }
        do {
            _ = try RequestBodyFraming(of: Self.head(fields))
        } catch {
            #expect(error.status == .badRequest)
        }
    }
}

import Testing
@testable import WSServer
@testable import WSCLI

@Suite("DevConsolePage")
struct DevConsolePageTests {
    @Test("Self-contained: no URLs, no external scripts, styles, fonts or images", arguments: [
        "http://", "https://", "<script src", "<link", "src=", "href=", "@import", "url(", "@font-face", "<img", "<iframe",
    ])
    func selfContained(forbidden: String) {
        #expect(!DevConsolePage.html.lowercased().contains(forbidden))
    }

    @Test("The stable hooks exist exactly once", arguments: ["status", "url", "log", "input", "send", "connect", "disconnect", "clear"])
    func stableIDs(id: String) {
        #expect(DevConsolePage.html.components(separatedBy: "id=\"\(id)\"").count == 2)
    }

    @Test("The page connects back to its own host, path and query, ws or wss by the page's scheme")
    func connectsBack() {
        let html = DevConsolePage.html
        #expect(html.contains("location.protocol === 'https:' ? 'wss:' : 'ws:'"))
        #expect(html.contains("scheme + '//' + location.host + location.pathname + location.search"))
        #expect(html.contains("new WebSocket(url)"))
    }

    @Test("The log uses the documented classes, and the close entry carries code and reason")
    func logClasses() {
        let html = DevConsolePage.html
        for kind in ["'received'", "'received binary'", "'sent'", "'error'", "'closed'", "'open'", "'info'"] {
            #expect(html.contains("addEntry(\(kind)"), "\(kind)")
        }
        #expect(html.contains("event.code + (event.reason ? ' ' + event.reason : '')"))
        for attribute in ["data-code", "data-reason", "data-clean"] {
            #expect(html.contains("'\(attribute)'"))
        }
        // Text goes in through textContent only, so a message can never inject markup.
        #expect(!html.contains("innerHTML"))
        #expect(html.contains("entry.textContent = text"))
    }

    @Test("One inline script and one inline style, the document well-formed at its ends")
    func structure() {
        let html = DevConsolePage.html
        #expect(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">"))
        #expect(html.hasSuffix("</html>\n"))
        #expect(html.components(separatedBy: "<script>").count == 2)
        #expect(html.components(separatedBy: "</script>").count == 2)
        #expect(html.components(separatedBy: "<style>").count == 2)
        #expect(html.contains("<meta charset=\"utf-8\">"))
        #expect(DevConsolePage.bytes.allSatisfy { $0 < 0x80 })
    }

    @Test("GET: 200 text/html; charset=utf-8, no-store, a CSP that allows nothing external, the page")
    func getResponse() {
        let response = DevConsolePage.response(forHEAD: false)
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: \(DevConsolePage.bytes.count)\r\n"
            + "Cache-Control: no-store\r\nContent-Security-Policy: \(DevConsolePage.contentSecurityPolicy)\r\n"
            + "X-Content-Type-Options: nosniff\r\n\r\n"
        #expect(response.serialized() == Array(head.utf8) + DevConsolePage.bytes)
        #expect(DevConsolePage.contentSecurityPolicy.hasPrefix("default-src 'none';"))
        #expect(DevConsolePage.contentSecurityPolicy.contains("connect-src ws: wss:"))
    }

    @Test("RFC 9110 §9.3.2: HEAD has the same Content-Length and no body")
    func headResponse() {
        let get = DevConsolePage.response(forHEAD: false)
        let head = DevConsolePage.response(forHEAD: true)
        #expect(head.body.isEmpty)
        #expect(head.headers == get.headers)
        #expect(head.serialized() == get.serialized(includingBody: false))
    }
}

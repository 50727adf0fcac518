import Testing
@testable import WSServer

@Suite("MIMETypes")
struct MIMETypesTests {
    @Test("The table: text types carry charset=utf-8, others none (RFC 6838 §4.2.1, RFC 8259 §11, RFC 9239)", arguments: [
        ("html", "text/html; charset=utf-8"),
        ("htm", "text/html; charset=utf-8"),
        ("css", "text/css; charset=utf-8"),
        ("js", "text/javascript; charset=utf-8"),
        ("mjs", "text/javascript; charset=utf-8"),
        ("json", "application/json"),
        ("map", "application/json"),
        ("txt", "text/plain; charset=utf-8"),
        ("xml", "text/xml; charset=utf-8"),
        ("svg", "image/svg+xml"),
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("gif", "image/gif"),
        ("webp", "image/webp"),
        ("ico", "image/vnd.microsoft.icon"),
        ("wasm", "application/wasm"),
        ("woff", "font/woff"),
        ("woff2", "font/woff2"),
        ("pdf", "application/pdf"),
    ])
    func table(fileExtension: String, type: String) {
        #expect(MIMETypes.contentType(forExtension: fileExtension) == type)
        #expect(MIMETypes.contentType(forExtension: fileExtension.uppercased()) == type)
        #expect(MIMETypes.contentType(forPath: "/srv/www/file." + fileExtension) == type)
    }

    @Test("Every text/* entry names its charset, and no other entry does")
    func charsetOnTextOnly() {
        for (fileExtension, type) in MIMETypes.table {
            #expect(type.hasPrefix("text/") == type.hasSuffix("; charset=utf-8"), "\(fileExtension)")
        }
    }

    @Test("Names without a usable extension get application/octet-stream", arguments: [
        "README", ".profile", "/a.b/c", "file.", "archive.tar.gz", "x.exe", "/dir/.hidden", "", "/", "name.html.bak", "a.h tml",
    ])
    func defaultType(path: String) {
        #expect(MIMETypes.contentType(forPath: path) == MIMETypes.defaultType)
        #expect(MIMETypes.defaultType == "application/octet-stream")
    }

    @Test("The last extension of the last component decides", arguments: [
        ("/a.txt/index.HTML", "text/html; charset=utf-8"),
        ("bundle.min.js", "text/javascript; charset=utf-8"),
        ("/x/.config.json", "application/json"),
        ("caf\u{E9}.Css", "text/css; charset=utf-8"),
    ])
    func lastExtension(path: String, type: String) {
        #expect(MIMETypes.contentType(forPath: path) == type)
    }
}

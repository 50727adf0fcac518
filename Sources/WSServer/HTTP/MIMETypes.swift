/// The Content-Type of a served file, chosen by its name's extension (RFC 9110 §8.3).
///
/// A fixed table rather than the system's `mime.types`, so a file gets the same type on every
/// machine. Text types carry `charset=utf-8` (RFC 6838 §4.2.1: text/* defaults to US-ASCII
/// otherwise); `application/json` takes no charset parameter (RFC 8259 §11).
public enum MIMETypes {
    /// The type of a file whose extension is not in the table (RFC 9110 §8.3: unknown data).
    public static let defaultType = "application/octet-stream"

    /// Known extensions, lower case, without the dot.
    static let table: [String: String] = [
        "html": "text/html; charset=utf-8",
        "htm": "text/html; charset=utf-8",
        "css": "text/css; charset=utf-8",
        // RFC 9239 §6: JavaScript is text/javascript, modules included.
        "js": "text/javascript; charset=utf-8",
        "mjs": "text/javascript; charset=utf-8",
        "json": "application/json",
        // Source maps are JSON (ECMA-426 §4).
        "map": "application/json",
        "txt": "text/plain; charset=utf-8",
        "xml": "text/xml; charset=utf-8",
        "svg": "image/svg+xml",
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "webp": "image/webp",
        "ico": "image/vnd.microsoft.icon",
        // WebAssembly.instantiateStreaming refuses any other type.
        "wasm": "application/wasm",
        "woff": "font/woff",
        "woff2": "font/woff2",
        "pdf": "application/pdf",
    ]

    /// The type for an extension given without its dot, in any letter case.
    public static func contentType(forExtension fileExtension: some StringProtocol) -> String {
        table[fileExtension.lowercased()] ?? defaultType
    }

    /// The type for a file name or path, from the text after the last `.` of its last component.
    ///
    /// A name with no dot, or only a leading one (`.profile`), has no extension.
    public static func contentType(forPath path: String) -> String {
        let name = path.utf8.lastIndex(of: UInt8(ascii: "/")).map { path[path.index(after: $0)...] } ?? Substring(path)
        guard let dot = name.utf8.lastIndex(of: UInt8(ascii: ".")), dot != name.startIndex else { return defaultType }
        return contentType(forExtension: name[name.index(after: dot)...])
    }
}

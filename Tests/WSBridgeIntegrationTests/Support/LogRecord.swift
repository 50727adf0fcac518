import Foundation

/// One log line of the server (SPEC §8), read back from text or JSON.
struct LogRecord: CustomStringConvertible {
    /// The timestamp as written.
    var time: String
    /// The level, e.g. `access` or `error`.
    var level: String
    /// The message, e.g. `CONNECT` or `SPAWN FAILED`.
    var message: String
    /// The key=value fields.
    var fields: [String: String]
    /// The line as it was written.
    var line: String

    /// The field `key`, or nil.
    subscript(key: String) -> String? { fields[key] }

    /// The line, for failure messages.
    var description: String { line }

    /// Parses a text line `TIMESTAMP LEVEL MESSAGE key=value ...`. The message runs up to the
    /// first word of the form `key=`; a value that holds spaces, quotes or control characters is a
    /// JSON string literal. Nil when the line does not have that shape.
    init?(text line: String) {
        var scanner = Substring(line)
        guard let time = Self.word(&scanner), let level = Self.word(&scanner) else { return nil }
        var messageWords: [Substring] = []
        var fields: [String: String] = [:]
        while !scanner.isEmpty {
            if let equals = Self.fieldKeyEnd(scanner) {
                let key = String(scanner[..<equals])
                scanner = scanner[scanner.index(after: equals)...]
                guard let value = Self.value(&scanner) else { return nil }
                fields[key] = value
            } else {
                guard fields.isEmpty, let word = Self.word(&scanner) else { return nil }
                messageWords.append(word)
            }
            while scanner.first == " " { scanner.removeFirst() }
        }
        guard !messageWords.isEmpty else { return nil }
        self.init(time: String(time), level: String(level), message: messageWords.joined(separator: " "), fields: fields, line: line)
    }

    /// Parses a JSON line: an object with string members `time`, `level`, `msg`, and string fields.
    init?(json line: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let time = object["time"] as? String, let level = object["level"] as? String,
              let message = object["msg"] as? String else { return nil }
        var fields: [String: String] = [:]
        for (key, value) in object where !["time", "level", "msg"].contains(key) {
            guard let text = value as? String else { return nil }
            fields[key] = text
        }
        self.init(time: time, level: level, message: message, fields: fields, line: line)
    }

    private init(time: String, level: String, message: String, fields: [String: String], line: String) {
        self.time = time
        self.level = level
        self.message = message
        self.fields = fields
        self.line = line
    }

    private static func word(_ scanner: inout Substring) -> Substring? {
        while scanner.first == " " { scanner.removeFirst() }
        guard !scanner.isEmpty else { return nil }
        let end = scanner.firstIndex(of: " ") ?? scanner.endIndex
        let word = scanner[..<end]
        scanner = scanner[end...]
        return word
    }

    /// Where the `=` of a leading `key=` is, when the next word starts with one (keys are lower
    /// case letters, digits and `_`).
    private static func fieldKeyEnd(_ scanner: Substring) -> Substring.Index? {
        guard let equals = scanner.firstIndex(of: "="), equals != scanner.startIndex else { return nil }
        let key = scanner[..<equals]
        guard key.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }) else { return nil }
        return equals
    }

    private static func value(_ scanner: inout Substring) -> String? {
        guard scanner.first == "\"" else { return word(&scanner).map(String.init) ?? "" }
        // A JSON string literal: find the closing quote that is not escaped.
        var index = scanner.index(after: scanner.startIndex)
        var isEscaped = false
        while index < scanner.endIndex {
            let character = scanner[index]
            if isEscaped {
                isEscaped = false
            } else if character == "\\" {
                isEscaped = true
            } else if character == "\"" {
                break
            }
            index = scanner.index(after: index)
        }
        guard index < scanner.endIndex else { return nil }
        let literal = scanner[...index]
        scanner = scanner[scanner.index(after: index)...]
        return try? JSONSerialization.jsonObject(with: Data(literal.utf8), options: .fragmentsAllowed) as? String
    }
}

extension ServerProcess {
    /// The server's log so far, one record per line; lines that do not parse come back as nil
    /// records so that a test can insist that every line has the format.
    func logLines(json: Bool = false) -> [(line: String, record: LogRecord?)] {
        stderrText.split(separator: "\n", omittingEmptySubsequences: true).map { line in
            let text = String(line)
            return (text, json ? LogRecord(json: text) : LogRecord(text: text))
        }
    }

    /// The parsed records so far (lines that do not parse are left out).
    func logRecords(json: Bool = false) -> [LogRecord] {
        logLines(json: json).compactMap(\.record)
    }

    /// Waits until a record matching `predicate` has been logged; returns it, or nil after `timeout`.
    func waitForLog(json: Bool = false, timeout: Duration = .seconds(5), where predicate: (LogRecord) -> Bool) -> LogRecord? {
        var found: LogRecord?
        _ = Deadline.poll(for: timeout, every: .milliseconds(20)) {
            found = logRecords(json: json).first(where: predicate)
            return found != nil
        }
        return found
    }
}

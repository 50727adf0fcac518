/// A parser of the Prometheus text exposition format 0.0.4, written from its description apart
/// from the server's writer: `# HELP` and `# TYPE` lines, then samples
/// `name{label="value",...} value`, with `\\`, `\"` and `\n` escapes in label values. It checks
/// what a scraper relies on and throws at the first line that breaks it.
struct PrometheusText {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    /// Family name → type (`counter`, `gauge`, `histogram`, `summary`, `untyped`).
    private(set) var types: [String: String] = [:]
    private(set) var help: [String: String] = [:]
    private(set) var samples: [Sample] = []

    init(_ text: String) throws {
        guard text.isEmpty || text.hasSuffix("\n") else { throw ParseError(description: "the text does not end with a line feed") }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
                guard parts.count >= 3 else { continue }  // a plain comment
                let name = String(parts[2])
                guard Self.isMetricName(name) else { throw ParseError(description: "bad name in \(line)") }
                switch parts[1] {
                case "TYPE":
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                        throw ParseError(description: "bad TYPE line \(line)")
                    }
                    guard types[name] == nil else { throw ParseError(description: "a second TYPE for \(name)") }
                    guard !samples.contains(where: { Self.family(of: $0.name, in: [name: ""]) == name }) else {
                        throw ParseError(description: "TYPE for \(name) after its samples")
                    }
                    types[name] = String(parts[3])
                case "HELP":
                    help[name] = parts.count == 4 ? String(parts[3]) : ""
                default:
                    continue
                }
                continue
            }
            samples.append(try Self.sample(line))
        }
    }

    /// The samples named `name` whose labels include `labels`.
    func values(_ name: String, _ labels: [String: String] = [:]) -> [Double] {
        samples.filter { sample in sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value } }.map(\.value)
    }

    /// The one sample named `name` with exactly these labels, or nil.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// The family a sample belongs to: its own name, or a histogram's without `_bucket`, `_sum`, `_count`.
    static func family(of name: String, in types: [String: String]) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] != nil { return base }
        }
        return name
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || first == ":" || ("a"..."z").contains(first) || ("A"..."Z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || $0 == ":" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }

    private static func sample(_ line: Substring) throws -> Sample {
        var index = line.startIndex
        while index < line.endIndex, line[index] != "{", line[index] != " " { index = line.index(after: index) }
        let name = String(line[..<index])
        guard isMetricName(name) else { throw ParseError(description: "bad metric name in \(line)") }
        var labels: [String: String] = [:]
        if index < line.endIndex, line[index] == "{" {
            index = line.index(after: index)
            while index < line.endIndex, line[index] != "}" {
                var nameEnd = index
                while nameEnd < line.endIndex, line[nameEnd] != "=" { nameEnd = line.index(after: nameEnd) }
                let label = String(line[index..<nameEnd])
                guard isMetricName(label), !label.contains(":"), nameEnd < line.endIndex else { throw ParseError(description: "bad label in \(line)") }
                var cursor = line.index(after: nameEnd)
                guard cursor < line.endIndex, line[cursor] == "\"" else { throw ParseError(description: "unquoted label value in \(line)") }
                cursor = line.index(after: cursor)
                var value = ""
                while true {
                    guard cursor < line.endIndex else { throw ParseError(description: "unterminated label value in \(line)") }
                    let character = line[cursor]
                    if character == "\"" { break }
                    if character == "\\" {
                        cursor = line.index(after: cursor)
                        guard cursor < line.endIndex else { throw ParseError(description: "a lone backslash in \(line)") }
                        switch line[cursor] {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw ParseError(description: "bad escape in \(line)")
                        }
                    } else {
                        value.append(character)
                    }
                    cursor = line.index(after: cursor)
                }
                guard labels[label] == nil else { throw ParseError(description: "label \(label) twice in \(line)") }
                labels[label] = value
                index = line.index(after: cursor)
                if index < line.endIndex, line[index] == "," { index = line.index(after: index) }
            }
            guard index < line.endIndex else { throw ParseError(description: "unterminated labels in \(line)") }
            index = line.index(after: index)
        }
        guard index < line.endIndex, line[index] == " " else { throw ParseError(description: "no value in \(line)") }
        let rest = line[line.index(after: index)...].split(separator: " ")
        guard (1...2).contains(rest.count) else { throw ParseError(description: "bad value in \(line)") }
        let text = String(rest[0])
        let value: Double
        switch text {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let parsed = Double(text) else { throw ParseError(description: "bad value \(text) in \(line)") }
            value = parsed
        }
        return Sample(name: name, labels: labels, value: value)
    }
}

import Testing
@testable import WSCLI

@Suite("HelpText")
struct HelpTextTests {
    /// Every flag of SPEC.md §1's two tables and §11's, with the default they give.
    static let specDefaults: [(name: String, defaultValue: String)] = [
        ("port", "80 (443 with --ssl)"), ("address", "all interfaces"), ("unixsocket", "off"),
        ("binary", "off"), ("passenv", "PATH,LD_LIBRARY_PATH"), ("dir", "off"), ("staticdir", "off"),
        ("cgidir", "off"), ("devconsole", "off"), ("sameorigin", "off"), ("origin", "off"), ("ssl", "off"),
        ("sslcert", "off"), ("sslkey", "off"), ("sslca", "off"), ("redirport", "off"), ("maxforks", "1024"),
        ("maxframesize", "1048576"), ("closems", "0"), ("pingms", "0 (off)"), ("header", "none"),
        ("header-ws", "none"), ("header-http", "none"), ("passstderr", "off"), ("reverselookup", "off"),
        ("loglevel", "access"), ("framing", "line"), ("subprotocol", "none"), ("permessage-deflate", "off"),
        ("log-format", "text"),
        // SPEC §11.
        ("basicauth", "off"), ("authcmd", "off"), ("token", "off"), ("tokenfile", "off"), ("trustedproxy", "none"), ("maxconnsperip", "0 (off)"),
        ("basepath", "none"),
        // SPEC §1's own flags, §13, §14.
        ("broadcast", "off"), ("sessions", "off"), ("linger", "0"), ("clientqueue", "1048576"),
        ("metrics", "off"),
        // SPEC §12, §15.
        ("pty", "off"), ("reuseport", "off"),
    ]

    /// The lines of `--name`'s group in the full help: its own line up to the next flag.
    static func group(of name: String, in text: String) -> String? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: {
            $0 == "  --\(name)" || $0.hasPrefix("  --\(name)=") || $0.hasPrefix("  --\(name) ") || $0.hasPrefix("  --\(name)[=")
        }) else { return nil }
        let end = lines[(start + 1)...].firstIndex { $0.hasPrefix("  --") } ?? lines.endIndex
        return lines[start..<end].joined(separator: "\n")
    }

    @Test("--help lists every flag of SPEC.md §1 and §11 as --name with its default", arguments: specDefaults)
    func everyFlagWithDefault(_ flag: (name: String, defaultValue: String)) throws {
        let group = try #require(Self.group(of: flag.name, in: HelpText.full()))
        #expect(group.contains("Default: \(flag.defaultValue)\n") || group.hasSuffix("Default: \(flag.defaultValue)"),
                "\(group)")
    }

    @Test("the parser knows exactly the flags the SPEC lists, plus --help and --version")
    func flagSetMatchesSpec() {
        #expect(Set(Options.allFlagNames) == Set(Self.specDefaults.map(\.name) + ["help", "version"]))
        #expect(Options.allFlagNames.count == Self.specDefaults.count + 2)
    }

    @Test("--help names every log level and framing mode, and the version")
    func valuesListed() {
        let text = HelpText.full()
        #expect(text.contains("debug, trace, access, info, error, fatal, none"))
        #expect(text.contains("--framing=line|raw|length"))
        #expect(text.contains("--log-format=text|json"))
        #expect(text.hasPrefix("wsbridge 0.1.0"))
    }

    @Test("help lines stay within 96 columns")
    func narrow() {
        for line in HelpText.full().split(separator: "\n") {
            #expect(line.count <= 96, "\(line)")
        }
    }

    @Test("the short usage shows both forms (SPEC.md §1)")
    func usage() {
        #expect(HelpText.usage.contains("wsbridge [OPTIONS] COMMAND [ARGS...]"))
        #expect(HelpText.usage.contains("wsbridge [OPTIONS] --dir=DIR"))
        #expect(HelpText.usage.contains("--help"))
    }
}

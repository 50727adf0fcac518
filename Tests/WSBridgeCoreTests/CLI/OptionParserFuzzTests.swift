import Testing
@testable import WSCLI
import TestSupport

/// SplitMix64: a small seeded generator, so every run draws the same vectors.

@Suite("OptionParser random vectors")
struct OptionParserFuzzTests {
    /// Words that reach every branch: each flag with and without dashes and values, values of
    /// every kind, separators and bytes that must never leak into a message.
    static let vocabulary: [String] = {
        var words = ["--", "-", "---", "-=", "=", "cat", "--help", "-h", "--version", "--bogus", "",
                     "0", "1", "-1", "70000", "0x10", "true", "false", "maybe", "line", "raw", "length",
                     "X-A: b", "a\r\nb", "[::1]", "[::1", "127.0.0.1:80", "c.pem", "chat,super chat", "\u{0}"]
        for name in Options.allFlagNames {
            words += ["--\(name)", "-\(name)", "--\(name)=", "--\(name)=1", "--\(name)=false", "--\(name)=x y"]
        }
        return words
    }()

    @Test("random argument vectors give options or one typed error line, never a trap")
    func randomVectors() {
        var random = SplitMix64(seed: 0x5EED_CAFE)
        for _ in 0..<5000 {
            var arguments = (0..<Int.random(in: 0...7, using: &random)).map { _ in
                Self.vocabulary.randomElement(using: &random) ?? ""
            }
            // Mutate one word in a third of the vectors by inserting a random ASCII byte.
            if !arguments.isEmpty, Int.random(in: 0..<3, using: &random) == 0 {
                let index = Int.random(in: 0..<arguments.count, using: &random)
                var scalars = Array(arguments[index].unicodeScalars)
                let scalar = Unicode.Scalar(UInt8.random(in: 0...127, using: &random))
                scalars.insert(scalar, at: Int.random(in: 0...scalars.count, using: &random))
                arguments[index] = String(String.UnicodeScalarView(scalars))
            }
            do {
                switch try OptionParser.parse(arguments) {
                case .run(let options):
                    // Exactly one of COMMAND and --dir, and COMMAND is a suffix of argv.
                    #expect(options.command.isEmpty == (options.dir != nil), "\(arguments)")
                    #expect(arguments.suffix(options.command.count).elementsEqual(options.command), "\(arguments)")
                case .help(let text):
                    #expect(text == HelpText.full())
                case .version(let line):
                    #expect(line == "wsbridge 0.1.0")
                }
            } catch {
                #expect(error.exitCode == 1 || error.exitCode == 2, "\(arguments)")
                #expect(error.message.hasPrefix("wsbridge: "), "\(arguments)")
                #expect(!error.message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(arguments)")
                #expect(!error.showsUsage || error.exitCode == 1, "\(arguments)")
            }
        }
    }
}

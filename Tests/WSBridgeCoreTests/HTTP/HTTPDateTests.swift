import Foundation
import Testing
@testable import WSServer
import TestSupport

@Suite("HTTPDate")
struct HTTPDateTests {
    /// RFC 9110 §5.6.7's example moment.
    static let example: Int64 = 784_111_777
    /// 2025-06-01T00:00:00Z, the "now" that decides rfc850 centuries below.
    static let now = Date(timeIntervalSince1970: 1_748_736_000)

    @Test("RFC 9110 §5.6.7: the three example forms name the same moment", arguments: [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ])
    func rfcExamples(text: String) {
        #expect(HTTPDate.parseSeconds(text, now: Self.now) == Self.example)
        #expect(HTTPDate.parse(text, now: Self.now) == Date(timeIntervalSince1970: TimeInterval(Self.example)))
    }

    @Test("RFC 9110 §5.6.7: IMF-fixdate is what is written")
    func formatsExample() {
        #expect(HTTPDate.format(secondsSince1970: Self.example) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(Date(timeIntervalSince1970: 784_111_777.999)) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }

    @Test("Calendar edges: the epoch, before it, leap days, centuries, four-digit limits", arguments: [
        (Int64(0), "Thu, 01 Jan 1970 00:00:00 GMT"),
        (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
        (1_709_164_800, "Thu, 29 Feb 2024 00:00:00 GMT"),
        (2_147_483_647, "Tue, 19 Jan 2038 03:14:07 GMT"),
        (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
        (-62_167_219_200, "Sat, 01 Jan 0000 00:00:00 GMT"),
    ])
    func edges(seconds: Int64, text: String) {
        #expect(HTTPDate.format(secondsSince1970: seconds) == text)
        #expect(HTTPDate.parseSeconds(text) == seconds)
    }

    @Test("Moments beyond four-digit years are clamped, not trapped")
    func clamps() {
        #expect(HTTPDate.format(secondsSince1970: .max) == "Fri, 31 Dec 9999 23:59:59 GMT")
        #expect(HTTPDate.format(secondsSince1970: .min) == "Sat, 01 Jan 0000 00:00:00 GMT")
        #expect(HTTPDate.format(Date(timeIntervalSince1970: 1e15)) == "Fri, 31 Dec 9999 23:59:59 GMT")
        #expect(HTTPDate.format(Date(timeIntervalSince1970: .infinity)) == "Fri, 31 Dec 9999 23:59:59 GMT")
        #expect(HTTPDate.format(Date(timeIntervalSince1970: -.infinity)) == "Sat, 01 Jan 0000 00:00:00 GMT")
        #expect(HTTPDate.format(Date(timeIntervalSince1970: .nan)).hasSuffix(" GMT"))
    }

    @Test("RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past century", arguments: [
        ("Thursday, 01-Jan-70 00:00:00 GMT", 2070),
        ("Friday, 01-Jan-75 00:00:00 GMT", 2075),
        ("Wednesday, 01-Jan-76 00:00:00 GMT", 1976),
        ("Sunday, 06-Nov-94 08:49:37 GMT", 1994),
        ("Saturday, 01-Jan-00 00:00:00 GMT", 2000),
        ("Sunday, 01-Jun-25 00:00:00 GMT", 2025),
    ])
    func rfc850Century(text: String, year: Int) throws {
        let seconds = try #require(HTTPDate.parseSeconds(text, now: Self.now))
        #expect(HTTPDate.civil(fromDays: seconds / 86_400 - (seconds % 86_400 < 0 ? 1 : 0)).year == year)
    }

    @Test("RFC 9110 §5.6.7: second 60 (a leap second) reads as the next second")
    func leapSecond() {
        #expect(HTTPDate.parseSeconds("Sat, 31 Dec 2016 23:59:60 GMT") == HTTPDate.parseSeconds("Sun, 01 Jan 2017 00:00:00 GMT"))
    }

    @Test("Not HTTP-dates: wrong case, zone, spacing, ranges, digits, trailing bytes", arguments: [
        "", "sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 gmt",
        "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 +0000", "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun,  06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 94 08:49:37 GMT", "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT ", " Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT", "Sun, 29 Feb 1900 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:61 GMT", "Sun, 00 Nov 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:3x GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun, 06-Nov-94 08:49:37 GMT", "Sunday, 06 Nov 1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994", "Sun Nov  6 08:49:37 94", "Sun Nov   6 08:49:37 1994", "Sun Nov 06 08:49:37 1994 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT\r\n", "Sun, ０6 Nov 1994 08:49:37 GMT",
    ])
    func invalid(text: String) {
        #expect(HTTPDate.parseSeconds(text, now: Self.now) == nil)
    }

    @Test("asctime accepts a two-digit day too")
    func asctimeTwoDigitDay() {
        #expect(HTTPDate.parseSeconds("Wed Nov 16 08:49:37 1994") == Self.example + 10 * 86_400)
        #expect(HTTPDate.parseSeconds("Sun Nov 06 08:49:37 1994") == Self.example)
    }

    @Test("Seeded random moments: the output matches Foundation's formatter and parses back")
    func roundTrip() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 0)
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        var random = SplitMix64(seed: 0xDA7E)
        for _ in 0..<2000 {
            // 1900 to 2200, where Foundation's Gregorian calendar agrees with the proleptic one.
            let seconds = Int64(random.below(9_467_280_000)) - 2_208_988_800
            let text = HTTPDate.format(secondsSince1970: seconds)
            #expect(text == formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))))
            #expect(HTTPDate.parseSeconds(text) == seconds)
        }
    }

    @Test("Seeded mutations of valid dates: parse returns a date that formats back, or nil, never a trap")
    func mutations() {
        var random = SplitMix64(seed: 0xBAD_DA7E)
        let seeds = ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"]
        var parsed = 0
        for _ in 0..<5000 {
            var bytes = Array(seeds[random.below(seeds.count)].utf8)
            for _ in 0..<(1 + random.below(3)) {
                let index = random.below(bytes.count)
                switch random.below(3) {
                case 0: bytes[index] = random.chance(50) ? random.byte() : UInt8(ascii: "0") + UInt8(random.below(10))
                case 1: bytes.remove(at: index)
                default: bytes.insert(random.byte(), at: index)
                }
                if bytes.isEmpty { bytes = [0x20] }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            if let seconds = HTTPDate.parseSeconds(text, now: Self.now) {
                parsed += 1
                #expect(HTTPDate.parseSeconds(HTTPDate.format(secondsSince1970: seconds)) == seconds, "\(text)")
            }
        }
        #expect(parsed > 100)
    }
}

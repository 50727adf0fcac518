import Foundation

/// HTTP-date (RFC 9110 §5.6.7): written as IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`, and
/// read in that form or either obsolete one (rfc850-date, asctime-date), as §5.6.7 requires.
///
/// Done by hand on whole seconds since 1970 rather than with `DateFormatter`, which depends on the
/// locale and is slow; the calendar arithmetic is the proleptic Gregorian one of RFC 5322 §3.3.
public enum HTTPDate {
    /// Day names as IMF-fixdate and asctime-date write them, Sunday first.
    static let shortDayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    /// Day names as rfc850-date writes them, Sunday first.
    static let longDayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    /// Month names, January first (RFC 9110 §5.6.7 `month`).
    static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The earliest and latest seconds that have a four-digit year (0000-01-01 to 9999-12-31).
    static let representableSeconds: ClosedRange<Int64> = -62_167_219_200...253_402_300_799

    /// The IMF-fixdate of a moment, its fraction of a second dropped.
    public static func format(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        let clamped = Swift.max(Double(representableSeconds.lowerBound), Swift.min(Double(representableSeconds.upperBound), seconds))
        return format(secondsSince1970: Int64(clamped))
    }

    /// The IMF-fixdate of whole seconds since 1970-01-01T00:00:00Z; clamped to years 0000–9999.
    public static func format(secondsSince1970: Int64) -> String {
        let seconds = Swift.min(Swift.max(secondsSince1970, representableSeconds.lowerBound), representableSeconds.upperBound)
        let days = floorDivide(seconds, 86_400)
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = civil(fromDays: days)
        // 1970-01-01 was a Thursday (index 4).
        let weekday = Int((days % 7 + 7 + 4) % 7)
        var text = shortDayNames[weekday] + ", " + twoDigits(day) + " " + monthNames[month - 1] + " "
        text += fourDigits(year) + " " + twoDigits(secondOfDay / 3600) + ":" + twoDigits(secondOfDay / 60 % 60)
        text += ":" + twoDigits(secondOfDay % 60) + " GMT"
        return text
    }

    /// The moment an HTTP-date names, or nil when `text` is none of the three forms.
    ///
    /// `now` decides the century of a two-digit rfc850 year: RFC 9110 §5.6.7 reads a year that
    /// appears more than 50 years in the future as the most recent past year with those digits.
    public static func parse(_ text: String, now: Date = Date()) -> Date? {
        parseSeconds(text, now: now).map { Date(timeIntervalSince1970: TimeInterval($0)) }
    }

    /// Like `parse(_:now:)`, in whole seconds since 1970.
    public static func parseSeconds(_ text: String, now: Date = Date()) -> Int64? {
        var scanner = DateScanner(Array(text.utf8))
        return scanner.imfFixdate() ?? scanner.rfc850Date(now: now) ?? scanner.asctimeDate()
    }

    /// Seconds since 1970 of a calendar moment, or nil when a field is out of range.
    static func seconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64? {
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
              (0...23).contains(hour), (0...59).contains(minute),
              // RFC 9110 §5.6.7 allows second 60 for a leap second; it reads as the next second.
              (0...60).contains(second) else { return nil }
        return days(year: year, month: month, day: day) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    /// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
    static func days(year: Int, month: Int, day: Int) -> Int64 {
        let shiftedYear = Int64(month <= 2 ? year - 1 : year)
        let era = floorDivide(shiftedYear, 400)
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = Int64((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1)
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The civil date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
    static func civil(fromDays count: Int64) -> (year: Int, month: Int, day: Int) {
        let shifted = count + 719_468
        let era = floorDivide(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        let month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        let year = Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    /// The number of days in a month of the proleptic Gregorian calendar.
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Division rounding toward negative infinity, so dates before 1970 come out right.
    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return value % divisor < 0 ? quotient - 1 : quotient
    }

    /// `n` as two decimal digits (0–99).
    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }

    /// `n` as four decimal digits (0–9999).
    private static func fourDigits(_ value: Int) -> String {
        let text = "\(value)"
        return String(repeating: "0", count: Swift.max(0, 4 - text.count)) + text
    }
}

/// Reads the three HTTP-date forms byte by byte; each method starts from the beginning and either
/// consumes the whole text or returns nil.
private struct DateScanner {
    /// The text's bytes.
    let bytes: [UInt8]
    /// The next byte to read.
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// `Sun, 06 Nov 1994 08:49:37 GMT`.
    mutating func imfFixdate() -> Int64? {
        index = 0
        guard name(in: HTTPDate.shortDayNames) != nil, literal(", "), let day = digits(2), literal(" "),
              let month = name(in: HTTPDate.monthNames), literal(" "), let year = digits(4), literal(" "),
              let time = timeOfDay(), literal(" GMT"), index == bytes.count else { return nil }
        return HTTPDate.seconds(year: year, month: month + 1, day: day, hour: time.0, minute: time.1, second: time.2)
    }

    /// `Sunday, 06-Nov-94 08:49:37 GMT`.
    mutating func rfc850Date(now: Date) -> Int64? {
        index = 0
        guard name(in: HTTPDate.longDayNames) != nil, literal(", "), let day = digits(2), literal("-"),
              let month = name(in: HTTPDate.monthNames), literal("-"), let shortYear = digits(2), literal(" "),
              let time = timeOfDay(), literal(" GMT"), index == bytes.count else { return nil }
        // RFC 9110 §5.6.7: more than 50 years ahead means the most recent past year with these digits.
        let currentYear = HTTPDate.civil(fromDays: Int64((now.timeIntervalSince1970 / 86_400).rounded(.down))).year
        var year = currentYear - currentYear % 100 + shortYear
        if year > currentYear + 50 { year -= 100 }
        return HTTPDate.seconds(year: year, month: month + 1, day: day, hour: time.0, minute: time.1, second: time.2)
    }

    /// `Sun Nov  6 08:49:37 1994`.
    mutating func asctimeDate() -> Int64? {
        index = 0
        guard name(in: HTTPDate.shortDayNames) != nil, literal(" "), let month = name(in: HTTPDate.monthNames),
              literal(" ") else { return nil }
        let day: Int
        if literal(" "), let single = digits(1) {
            day = single
        } else if let double = digits(2) {
            day = double
        } else {
            return nil
        }
        guard literal(" "), let time = timeOfDay(), literal(" "), let year = digits(4), index == bytes.count else { return nil }
        return HTTPDate.seconds(year: year, month: month + 1, day: day, hour: time.0, minute: time.1, second: time.2)
    }

    /// `HH:MM:SS`.
    private mutating func timeOfDay() -> (Int, Int, Int)? {
        guard let hour = digits(2), literal(":"), let minute = digits(2), literal(":"), let second = digits(2) else { return nil }
        return (hour, minute, second)
    }

    /// Exactly `count` decimal digits as a number.
    private mutating func digits(_ count: Int) -> Int? {
        guard bytes.count - index >= count else { return nil }
        var value = 0
        for byte in bytes[index..<(index + count)] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        index += count
        return value
    }

    /// Consumes `text` if the bytes continue with it exactly (RFC 9110 §5.6.7: HTTP-date is case-sensitive).
    private mutating func literal(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        let start = index
        let matches = text.withUTF8Buffer { expected in
            expected.elementsEqual(bytes[start..<(start + count)])
        }
        if matches { index += count }
        return matches
    }

    /// The index of the name in `names` that the bytes continue with, consumed.
    private mutating func name(in names: [String]) -> Int? {
        for (position, candidate) in names.enumerated() {
            let utf8 = candidate.utf8
            if bytes.count - index >= utf8.count, utf8.elementsEqual(bytes[index..<(index + utf8.count)]) {
                index += utf8.count
                return position
            }
        }
        return nil
    }
}

import Glibc
import Testing
@testable import WSProtocol
@testable import WSPlatform

/// SPEC §3 table: how a child ended → the close code and reason the browser sees; code − 4000
/// equals what a shell shows in `$?`. (`WSPlatform.` because Swift Testing has an `ExitStatus` too.)
@Suite("Exit status to close code")
struct ExitStatusTests {
    /// One row of the table.
    struct Row: CustomTestStringConvertible, Sendable {
        let status: WSPlatform.ExitStatus
        let code: UInt16
        let reason: String
        let logValue: String
        var testDescription: String { "\(status) → \(code) \(reason.debugDescription)" }
    }

    static let rows: [Row] = [
        Row(status: .exited(0), code: 1000, reason: "", logValue: "0"),
        Row(status: .exited(1), code: 4001, reason: "exit 1", logValue: "1"),
        Row(status: .exited(3), code: 4003, reason: "exit 3", logValue: "3"),
        Row(status: .exited(127), code: 4127, reason: "exit 127", logValue: "127"),
        Row(status: .exited(255), code: 4255, reason: "exit 255", logValue: "255"),
        Row(status: .signalled(SIGINT), code: 4130, reason: "signal 2 (SIGINT)", logValue: "signal 2"),
        Row(status: .signalled(SIGKILL), code: 4137, reason: "signal 9 (SIGKILL)", logValue: "signal 9"),
        Row(status: .signalled(SIGSEGV), code: 4139, reason: "signal 11 (SIGSEGV)", logValue: "signal 11"),
        Row(status: .signalled(SIGPIPE), code: 4141, reason: "signal 13 (SIGPIPE)", logValue: "signal 13"),
        Row(status: .signalled(SIGTERM), code: 4143, reason: "signal 15 (SIGTERM)", logValue: "signal 15"),
        Row(status: .signalled(SIGSYS), code: 4159, reason: "signal 31 (SIGSYS)", logValue: "signal 31"),
    ]

    @Test("SPEC §3: exit 0 → 1000 \"\", exit N → 4000+N \"exit N\", signal S → 4128+S \"signal S (NAME)\"", arguments: rows)
    func table(_ row: Row) {
        #expect(row.status.closeCode == CloseCode(row.code))
        #expect(row.status.closeReason == row.reason)
        #expect(row.status.logValue == row.logValue)
    }

    @Test("SPEC §3: every exit status and signal maps into 4000–4255, valid on the wire, reason within a control frame")
    func everyStatusIsValid() {
        var codes = Set<UInt16>()
        for code in Int32(1)...255 {
            let status = WSPlatform.ExitStatus.exited(code)
            #expect(status.closeCode.rawValue == 4000 + UInt16(code))
            codes.insert(status.closeCode.rawValue)
        }
        for signal in Int32(1)...127 {
            let status = WSPlatform.ExitStatus.signalled(signal)
            #expect(status.closeCode.rawValue == 4128 + UInt16(signal))
            // RFC 6455 §5.5: a close payload is at most 125 bytes, 2 of them the code.
            #expect(status.closeReason.utf8.count <= 123)
            #expect(status.closeReason.hasPrefix("signal \(signal) (SIG"), "\(status.closeReason)")
        }
        #expect(codes.count == 255)
        for status in [WSPlatform.ExitStatus.exited(0), .exited(255), .signalled(1), .signalled(127)] {
            // RFC 6455 §7.4.2: 4000–4999 are for applications; 1000 is normal closure.
            #expect(status.closeCode.isValidOnWire, "\(status.closeCode)")
        }
    }

    @Test("SPEC §3: a real-time signal without a conventional name still gets a readable reason")
    func unnamedSignal() {
        let status = WSPlatform.ExitStatus.signalled(40)
        #expect(status.closeCode == CloseCode(4168))
        #expect(status.closeReason == "signal 40 (SIG40)")
    }
}

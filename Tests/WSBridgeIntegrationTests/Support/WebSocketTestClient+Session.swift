import Glibc

extension WebSocketTestClient {
    /// Reads the first message of a fixture, its pid (`echo $$`), as text in line mode.
    func receivePID(timeout: Duration = defaultTimeout) throws -> pid_t {
        let message = try receiveMessage(timeout: timeout)
        guard case .text(let text) = message, let pid = pid_t(text), pid > 1 else {
            throw TestClientError.protocolViolation("expected the fixture's pid as the first message, got \(message)")
        }
        return pid
    }

    /// Reads a pid line from raw (binary) output: bytes up to the first newline. Bytes after it
    /// are returned, since raw mode may deliver them in the same message.
    func receiveRawPID(timeout: Duration = defaultTimeout) throws -> (pid: pid_t, rest: [UInt8]) {
        let deadline = Deadline(after: timeout)
        var bytes: [UInt8] = []
        while !bytes.contains(0x0A) {
            let message = try receiveMessage(timeout: deadline.remaining)
            guard case .binary(let chunk) = message else {
                throw TestClientError.protocolViolation("expected binary pid output in raw mode, got \(message)")
            }
            bytes += chunk
        }
        let newline = bytes.firstIndex(of: 0x0A)!
        guard let pid = pid_t(String(decoding: bytes[..<newline], as: UTF8.self)), pid > 1 else {
            throw TestClientError.protocolViolation("expected a pid line, got \(bytes.prefix(40))")
        }
        return (pid, Array(bytes[(newline + 1)...]))
    }

    /// Starts the close handshake with `code` and returns every data message received before the
    /// server's close, and that close. Then waits for the TCP connection to end (RFC 6455 §7.1.1:
    /// the server closes the TCP connection first).
    func closeHandshake(code: UInt16 = 1000, timeout: Duration = .seconds(10)) throws -> (messages: [TestMessage], close: TestMessage) {
        let deadline = Deadline(after: timeout)
        try sendClose(code: code)
        var messages: [TestMessage] = []
        while true {
            let message = try receiveMessage(timeout: deadline.remaining)
            if case .close = message {
                let trailing = try waitForEndOfStream(timeout: deadline.remaining)
                // As a browser does once the server's FIN arrives (RFC 6455 §7.1.1).
                close()
                guard trailing.isEmpty else {
                    throw TestClientError.protocolViolation("\(trailing.count) bytes after the server's close frame")
                }
                return (messages, message)
            }
            messages.append(message)
        }
    }
}

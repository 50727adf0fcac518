import Glibc

extension WebSocketTestClient {
    /// How sending a streamed frame ended.
    struct StreamOutcome {
        /// Payload bytes the server accepted (the socket took them).
        var sentPayloadBytes: Int
        /// The socket took nothing for the whole stall timeout before the frame was sent.
        var isStalled: Bool
    }

    /// Sends one masked frame of `length` payload bytes without ever holding it whole, as a client
    /// streaming a large upload does: `fill(offset, chunk)` writes the payload bytes that start at
    /// `offset` into `chunk` (its length a multiple of 4 but for the last), which is then masked
    /// and sent. Stops when every byte is sent, or, with `stallTimeout`, once the socket has taken
    /// nothing for that long (the server stopped reading: backpressure). Throws at `timeout`.
    func streamFrame(
        opcode: UInt8, length: Int, chunkBytes: Int = 256 * 1024, stallTimeout: Duration? = nil,
        timeout: Duration = .seconds(60), fill: (_ offset: Int, _ chunk: inout [UInt8]) -> Void
    ) throws -> StreamOutcome {
        precondition(chunkBytes % 8 == 0, "chunks keep the masking key's phase and whole words")
        let deadline = Deadline(after: timeout)
        let mask = Self.randomMask()
        // RFC 6455 §5.2: FIN, the opcode, MASK and the 64-bit length (the frames sent here are large).
        precondition(length > 0xFFFF, "a streamed frame uses the 64-bit length")
        var header: [UInt8] = [0x80 | opcode, 0x80 | 127]
        for shift in stride(from: 56, through: 0, by: -8) { header.append(UInt8(truncatingIfNeeded: UInt64(length) >> UInt64(shift))) }
        header += mask
        try sendRaw(header, timeout: deadline.remaining)
        // The masking key repeated over a 64-bit word: chunks start at phase 0, so whole words XOR.
        var keyWord: UInt64 = 0
        withUnsafeMutableBytes(of: &keyWord) { for index in 0..<8 { $0[index] = mask[index % 4] } }
        var chunk = [UInt8](repeating: 0, count: chunkBytes)
        var offset = 0
        while offset < length {
            let count = min(chunkBytes, length - offset)
            if chunk.count != count { chunk = [UInt8](repeating: 0, count: count) }
            fill(offset, &chunk)
            chunk.withUnsafeMutableBytes { raw in
                var index = 0
                while index + 8 <= count {
                    raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: index, as: UInt64.self) ^ keyWord,
                                   toByteOffset: index, as: UInt64.self)
                    index += 8
                }
                while index < count {
                    raw[index] ^= mask[index % 4]
                    index += 1
                }
            }
            var written = 0
            while written < count {
                let wait = stallTimeout.map { min($0, deadline.remaining) } ?? deadline.remaining
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&pfd, 1, Deadline(after: wait).pollMilliseconds)
                if ready < 0 {
                    if errno == EINTR { continue }
                    throw TestClientError.system("poll", errno)
                }
                if ready == 0 {
                    if deadline.hasPassed { throw TestClientError.timedOut("the server to take a \(length)-byte frame (\(offset + written) sent)") }
                    return StreamOutcome(sentPayloadBytes: offset + written, isStalled: true)
                }
                let sent = chunk.withUnsafeBytes { raw in
                    send(fd, raw.baseAddress! + written, count - written, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                }
                if sent > 0 {
                    written += sent
                } else if sent < 0, errno != EAGAIN, errno != EWOULDBLOCK, errno != EINTR {
                    throw TestClientError.system("send", errno)
                }
            }
            offset += count
        }
        return StreamOutcome(sentPayloadBytes: length, isStalled: false)
    }
}

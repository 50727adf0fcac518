import WSPlatform

/// The messages between the server and its spawner process (see `SpawnerProcess`), one per
/// SOCK_SEQPACKET datagram, so a message never needs reassembly. Pure encoding, no I/O.
///
/// Integers are little-endian; a string is a UInt32 byte count and its UTF-8 bytes. A spawn
/// request ends with its terminal: a byte (0 none, 1 `--pty`, 2 `--pty=tty`), then for a
/// terminal its columns and rows as UInt16s.
public enum SpawnMessage: Sendable, Equatable {
    /// Server → spawner: start this child. The request id comes back with the answer.
    case spawn(id: UInt64, request: SpawnRequest)
    /// Spawner → server: the child runs; its stdin, stdout, stderr and pidfd come as SCM_RIGHTS.
    case spawned(id: UInt64, pid: Int32)
    /// Spawner → server: the child could not be started.
    case failed(id: UInt64, message: String)
    /// Spawner → server: a child it started has ended.
    /// `id` is the request that started it: the report may overtake the answer to that request
    /// (it comes on another socket), and the server keeps it until the answer arrives.
    case exited(id: UInt64, pid: Int32, status: ExitStatus)
    /// Server → spawner: the child exited (its pidfd turned readable) and /proc did not show its
    /// status; report it now, without waiting for Foundation, which reaps only once every
    /// descendant has closed its internal socket.
    case queryExit(pid: Int32)
    /// Spawner → server: warmed up and taking requests (a request sent before this would wait
    /// for the spawner's whole startup instead of going to a spawner that is ready).
    case ready
    /// Server → spawner: the sessions of these children are over and their groups gone (or
    /// survived SIGKILL), so the spawner stops counting them among the groups to end if the
    /// server dies. Sent in batches (`Spawner.forget`), not one datagram per session.
    case release(pids: [Int32])

    private enum Tag: UInt8 {
        case spawn = 1, spawned = 2, failed = 3, exitedWithCode = 4, killedBySignal = 5, queryExit = 6, ready = 7, release = 8
    }

    /// The datagram for this message.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        switch self {
        case .spawn(let id, let request):
            bytes.append(Tag.spawn.rawValue)
            Self.append(id, to: &bytes)
            Self.append(request.executable, to: &bytes)
            Self.append(request.workingDirectory, to: &bytes)
            Self.append(UInt32(request.arguments.count), to: &bytes)
            for argument in request.arguments { Self.append(argument, to: &bytes) }
            Self.append(UInt32(request.environment.count), to: &bytes)
            for (name, value) in request.environment.sorted(by: { $0.key < $1.key }) {
                Self.append(name, to: &bytes)
                Self.append(value, to: &bytes)
            }
            if let terminal = request.terminal {
                bytes.append(terminal.mode == .program ? 1 : 2)
                Self.append(UInt16(terminal.size.columns), to: &bytes)
                Self.append(UInt16(terminal.size.rows), to: &bytes)
            } else {
                bytes.append(0)
            }
        case .spawned(let id, let pid):
            bytes.append(Tag.spawned.rawValue)
            Self.append(id, to: &bytes)
            Self.append(UInt32(bitPattern: pid), to: &bytes)
        case .failed(let id, let message):
            bytes.append(Tag.failed.rawValue)
            Self.append(id, to: &bytes)
            Self.append(message, to: &bytes)
        case .queryExit(let pid):
            bytes.append(Tag.queryExit.rawValue)
            Self.append(UInt32(bitPattern: pid), to: &bytes)
        case .ready:
            bytes.append(Tag.ready.rawValue)
        case .release(let pids):
            bytes.append(Tag.release.rawValue)
            Self.append(UInt32(pids.count), to: &bytes)
            for pid in pids { Self.append(UInt32(bitPattern: pid), to: &bytes) }
        case .exited(let id, let pid, let status):
            switch status {
            case .exited(let code):
                bytes.append(Tag.exitedWithCode.rawValue)
                Self.append(id, to: &bytes)
                Self.append(UInt32(bitPattern: pid), to: &bytes)
                Self.append(UInt32(bitPattern: code), to: &bytes)
            case .signalled(let signal):
                bytes.append(Tag.killedBySignal.rawValue)
                Self.append(id, to: &bytes)
                Self.append(UInt32(bitPattern: pid), to: &bytes)
                Self.append(UInt32(bitPattern: signal), to: &bytes)
            }
        }
        return bytes
    }

    /// Decodes one datagram; nil for anything malformed (the two ends are the same binary, so that
    /// means a bug or a stray writer, and the message is dropped).
    public static func decode(_ bytes: ArraySlice<UInt8>) -> SpawnMessage? {
        var reader = Reader(bytes: bytes)
        guard let tagByte = reader.byte(), let tag = Tag(rawValue: tagByte) else { return nil }
        switch tag {
        case .spawn:
            guard let id = reader.uint64(), let executable = reader.string(), let directory = reader.string(),
                  let argumentCount = reader.uint32(), argumentCount <= 100_000 else { return nil }
            var arguments: [String] = []
            for _ in 0..<argumentCount {
                guard let argument = reader.string() else { return nil }
                arguments.append(argument)
            }
            guard let variableCount = reader.uint32(), variableCount <= 100_000 else { return nil }
            var environment: [String: String] = [:]
            for _ in 0..<variableCount {
                guard let name = reader.string(), let value = reader.string() else { return nil }
                environment[name] = value
            }
            var terminal: TerminalSetup?
            switch reader.byte() {
            case 0:
                break
            case let modeByte? where modeByte == 1 || modeByte == 2:
                guard let columns = reader.uint16(), let rows = reader.uint16(),
                      let size = TerminalSize(columns: Int(columns), rows: Int(rows)) else { return nil }
                terminal = TerminalSetup(mode: modeByte == 1 ? .program : .tty, size: size)
            default:
                return nil
            }
            guard reader.isAtEnd else { return nil }
            return .spawn(id: id, request: SpawnRequest(executable: executable, arguments: arguments,
                                                        environment: environment, workingDirectory: directory,
                                                        terminal: terminal))
        case .spawned:
            guard let id = reader.uint64(), let pid = reader.uint32(), reader.isAtEnd else { return nil }
            return .spawned(id: id, pid: Int32(bitPattern: pid))
        case .failed:
            guard let id = reader.uint64(), let message = reader.string(), reader.isAtEnd else { return nil }
            return .failed(id: id, message: message)
        case .queryExit:
            guard let pid = reader.uint32(), reader.isAtEnd else { return nil }
            return .queryExit(pid: Int32(bitPattern: pid))
        case .ready:
            return reader.isAtEnd ? .ready : nil
        case .release:
            guard let count = reader.uint32(), Int(count) * 4 == reader.bytes.count else { return nil }
            var pids: [Int32] = []
            pids.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let pid = reader.uint32() else { return nil }
                pids.append(Int32(bitPattern: pid))
            }
            return .release(pids: pids)
        case .exitedWithCode, .killedBySignal:
            guard let id = reader.uint64(), let pid = reader.uint32(), let value = reader.uint32(), reader.isAtEnd else { return nil }
            let number = Int32(bitPattern: value)
            return .exited(id: id, pid: Int32(bitPattern: pid), status: tag == .exitedWithCode ? .exited(number) : .signalled(number))
        }
    }

    private static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func append(_ value: UInt16, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func append(_ text: String, to bytes: inout [UInt8]) {
        append(UInt32(text.utf8.count), to: &bytes)
        bytes.append(contentsOf: text.utf8)
    }

    private struct Reader {
        var bytes: ArraySlice<UInt8>

        var isAtEnd: Bool { bytes.isEmpty }

        mutating func byte() -> UInt8? { bytes.popFirst() }

        mutating func uint16() -> UInt16? {
            guard bytes.count >= 2 else { return nil }
            return UInt16(bytes.removeFirst()) | UInt16(bytes.removeFirst()) << 8
        }

        mutating func uint32() -> UInt32? {
            guard bytes.count >= 4 else { return nil }
            var value: UInt32 = 0
            for shift in stride(from: 0, to: 32, by: 8) { value |= UInt32(bytes.removeFirst()) << shift }
            return value
        }

        mutating func uint64() -> UInt64? {
            guard let low = uint32(), let high = uint32() else { return nil }
            return UInt64(high) << 32 | UInt64(low)
        }

        mutating func string() -> String? {
            guard let count = uint32(), bytes.count >= Int(count) else { return nil }
            let text = String(decoding: bytes.prefix(Int(count)), as: UTF8.self)
            bytes.removeFirst(Int(count))
            return text
        }
    }
}

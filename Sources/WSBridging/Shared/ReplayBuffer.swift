import WSProtocol

/// The latest output of a shared session (SPEC §13, `--linger`): whole messages, oldest dropped
/// first, at most `capacity` payload bytes in all. A client that joins the session gets them
/// first, then the live stream, so that one back from a dropped network misses nothing of what
/// the buffer still holds.
public struct ReplayBuffer: Sendable {
    /// A message as it went to the clients.
    public struct Message: Sendable, Equatable {
        public var opcode: Opcode
        public var payload: [UInt8]
        public init(opcode: Opcode, payload: [UInt8]) {
            self.opcode = opcode
            self.payload = payload
        }
    }

    /// The most payload bytes kept.
    public let capacity: Int
    private var messages: [Message] = []
    /// Messages before this index are dropped (compacted from time to time, not on every drop).
    private var head = 0
    public private(set) var byteCount = 0

    /// An empty buffer keeping at most `capacity` bytes.
    public init(capacity: Int) { self.capacity = capacity }

    /// The messages kept, oldest first.
    public var contents: ArraySlice<Message> { messages[head...] }

    /// Keeps a message, dropping the oldest ones it does not fit beside. A message larger than
    /// the whole buffer is not kept, and neither is anything before it.
    public mutating func append(opcode: Opcode, payload: ArraySlice<UInt8>) {
        guard payload.count <= capacity else {
            removeAll()
            return
        }
        while byteCount + payload.count > capacity {
            byteCount -= messages[head].payload.count
            head += 1
        }
        if head > 64 && head * 2 > messages.count {
            messages.removeFirst(head)
            head = 0
        }
        messages.append(Message(opcode: opcode, payload: Array(payload)))
        byteCount += payload.count
    }

    public mutating func removeAll() {
        messages.removeAll()
        head = 0
        byteCount = 0
    }
}

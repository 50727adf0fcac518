import WSProtocol

/// Holds the stdin bytes of an inbound message that arrives in pieces until it is whole, as long as
/// it fits one pipe write, so that a small message reaches the child in one `write(2)`: `--binary
/// cat` then echoes it as one message, as websocketd does (its TestEDGE008 sends 10,000 bytes in
/// 4 KiB fragments and expects them back as one message). A larger message is passed through as it
/// comes, under the stdin buffer's watermark (SPEC §7), since no single write could carry it.
struct InboundMessageHold: Sendable {
    /// The largest message held until whole: the default capacity of a Linux pipe (pipe(7)), the
    /// most one write to an empty pipe can carry.
    static let maxHeldBytes = 65_536

    /// The bytes held of the message in progress.
    private var held = ByteBuffer()
    /// The message in progress outgrew the hold: its bytes go straight to stdin until its end.
    private var isPassingThrough = false

    /// Bytes held now (for memory accounting and tests).
    var heldCount: Int { held.readableCount }

    /// Bytes allocated for the hold (for tests of memory use).
    var capacity: Int { held.capacity }

    /// Starts passing the message in progress through at once, when its length is known to be
    /// more than the hold takes (a message sent as one large frame).
    mutating func passThrough(into stdin: inout ByteBuffer) {
        flushHeld(into: &stdin)
        isPassingThrough = true
    }

    /// Adds bytes of the message in progress: held while the message still fits the hold, otherwise
    /// written to `stdin` after what was held.
    mutating func append<Bytes: Collection>(contentsOf bytes: Bytes, into stdin: inout ByteBuffer) where Bytes.Element == UInt8 {
        if !isPassingThrough && held.readableCount + bytes.count > Self.maxHeldBytes {
            flushHeld(into: &stdin)
            isPassingThrough = true
        }
        if isPassingThrough {
            stdin.append(contentsOf: bytes)
        } else {
            held.append(contentsOf: bytes)
        }
    }

    /// Adds one byte of the message in progress (see `append(contentsOf:into:)`).
    mutating func append(_ byte: UInt8, into stdin: inout ByteBuffer) {
        withUnsafeBytes(of: byte) { append(contentsOf: $0, into: &stdin) }
    }

    /// The message is complete: writes what is held to `stdin` and gets ready for the next one.
    mutating func endMessage(into stdin: inout ByteBuffer) {
        flushHeld(into: &stdin)
        isPassingThrough = false
    }

    /// Drops the message in progress (the session is failing).
    mutating func reset() {
        held.clear()
        isPassingThrough = false
    }

    /// Frees the hold's storage while it holds nothing, so idle sessions cost little memory.
    mutating func releaseIdleMemory() {
        held.releaseCapacityIfEmpty(keeping: 0)
    }

    private mutating func flushHeld(into stdin: inout ByteBuffer) {
        guard !held.isEmpty else { return }
        stdin.append(held)
        held.clear()
    }
}

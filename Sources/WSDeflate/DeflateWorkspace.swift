/// What the inflaters and deflaters of one event loop's connections share, so that memory follows
/// the messages in flight rather than the connections open (SPEC §6: an idle compressed
/// connection should cost little more than a plain one):
///
/// - the buffers that inflated fragments and compressed payloads are written to: each is
///   consumed (copied into a stdin or socket buffer) before the loop inflates or compresses
///   anything else, so one of each per loop serves every connection, instead of 64 KiB of
///   output per connection that, once freed, glibc kept as fragments (measured: 1,000 idle
///   compressed connections cost 109 KiB each, 29 of them the deflaters' state);
/// - the inflate streams of connections whose client starts every message afresh
///   (client_no_context_takeover): such a stream holds nothing between messages, so it is taken
///   at a message's first piece and given back at its end.
///
/// Not thread-safe: one per event loop, used on its thread only.
public final class DeflateWorkspace {
    /// At most this many idle inflate streams are kept per window size (about 7 KiB plus the
    /// window each): enough for the messages that arrive together on one loop.
    static let maxIdleStreams = 4

    /// Where inflated fragments are written.
    let inflateOutput = SharedBytes()
    /// Where compressed payloads are written.
    let deflateOutput = SharedBytes()
    private var idleStreams: [Int: [InflateStream]] = [:]

    /// Creates an empty workspace; it allocates as its connections need.
    public init() {}

    /// An idle inflate stream with a window of `windowBits`, or a new one (nil when zlib cannot
    /// allocate one).
    func takeInflateStream(windowBits: Int) -> InflateStream? {
        if let stream = idleStreams[windowBits]?.popLast() { return stream }
        return InflateStream.make(windowBits: windowBits)
    }

    /// Idle streams kept for `windowBits` (for tests).
    func idleStreamCount(windowBits: Int) -> Int { idleStreams[windowBits]?.count ?? 0 }

    /// Takes back a stream whose message ended (it is reset here); frees it when enough wait.
    func giveBack(_ stream: InflateStream) {
        guard idleStreams[stream.windowBits, default: []].count < Self.maxIdleStreams else { return }
        stream.reset()
        idleStreams[stream.windowBits, default: []].append(stream)
    }
}

/// A byte buffer held by reference, so several owners can write into the same storage.
final class SharedBytes {
    var bytes: [UInt8] = []
    init() {}
}

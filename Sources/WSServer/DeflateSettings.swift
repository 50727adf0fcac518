import WSProtocol
import WSDeflate

/// permessage-deflate as this server runs it (`--permessage-deflate`, SPEC §6): what it agrees to
/// when a client offers compression, and how each session's compressor is built.
public struct DeflateSettings: Sendable, Equatable {
    /// What the server asks for within what the client allows.
    public var policy: DeflatePolicy
    /// zlib's memLevel for the server's compressor (1...9): its hash tables take 2^(memLevel+9) bytes.
    public var memoryLevel: Int
    /// Messages shorter than this go out uncompressed (RSV1 clear) while the server keeps its
    /// context: with the window of earlier messages even 8 bytes shrink (to 5.5 on average, 16 to
    /// 6.3, small JSON lines, window 12), below that nothing is gained.
    public var minimumMessageBytes: Int
    /// The same when every message starts afresh (`server_no_context_takeover`): a fresh deflate
    /// stream makes a message of 16 bytes 18, of 24 about the same, of 32 and more 24 or less.
    public var minimumFreshMessageBytes: Int

    /// Creates the settings.
    public init(policy: DeflatePolicy, memoryLevel: Int, minimumMessageBytes: Int, minimumFreshMessageBytes: Int) {
        self.policy = policy
        self.memoryLevel = memoryLevel
        self.minimumMessageBytes = minimumMessageBytes
        self.minimumFreshMessageBytes = minimumFreshMessageBytes
    }

    /// The defaults, chosen by measurement (`WSBRIDGE_DEFLATE_MEASURE=1 swift test --filter
    /// DeflateMeasurement`: heap per idle stream, ratio and speed on 4 KiB JSON and 200-byte
    /// lines). Outbound, the server keeps its context with a 4 KiB window and memLevel 5: 38 KiB
    /// per connection, the ratio of 15/8 on 4 KiB messages (0.159 against 0.158) at a seventh of
    /// its memory, and 200-byte lines shrink to 0.23 of their size against 0.55 without context.
    /// Inbound, the client is asked to start every message afresh, so that the inflater (40 KiB
    /// with a 32 KiB window) exists only while a message arrives: clients of a stdio bridge send
    /// short commands, which gain little from a shared window. An idle compressed connection
    /// then costs about 39 KiB more than a plain one (SPEC §6 asks ≤ 64 KiB).
    public static let standard = DeflateSettings(
        policy: DeflatePolicy(serverMaxWindowBits: 12, clientMaxWindowBits: 15,
                              requestsClientNoContextTakeover: true, serverNoContextTakeover: false),
        memoryLevel: 5, minimumMessageBytes: 8, minimumFreshMessageBytes: 32)

    /// The agreed parameters for a request's `Sec-WebSocket-Extensions` field lines, or nil to
    /// decline (no offer, or none this server can honour; a malformed field declines too: the
    /// connection still opens, uncompressed).
    func negotiate(_ headerValues: [String]) -> DeflateParameters? {
        guard !headerValues.isEmpty, let offers = ExtensionOffer.parse(headerValues) else { return nil }
        return PerMessageDeflateNegotiation.negotiate(offers, policy: policy)
    }

    /// The inflater for messages the client compresses under `parameters`.
    func makeInflater(_ parameters: DeflateParameters, maxMessageBytes: Int?, workspace: DeflateWorkspace) -> MessageInflater {
        // A zlib client told 8 compresses with 9 (zlib cannot write raw window-8 streams); a
        // window of 9 inflates both.
        MessageInflater(windowBits: max(9, parameters.clientMaxWindowBits),
                        resetsAfterEachMessage: parameters.clientNoContextTakeover, maxMessageBytes: maxMessageBytes,
                        workspace: workspace)
    }

    /// The shortest message worth compressing under `parameters`.
    func minimumCompressedBytes(_ parameters: DeflateParameters) -> Int {
        parameters.serverNoContextTakeover ? minimumFreshMessageBytes : minimumMessageBytes
    }

    /// The deflater for messages the server sends under `parameters`.
    func makeDeflater(_ parameters: DeflateParameters, workspace: DeflateWorkspace) -> MessageDeflater {
        MessageDeflater(windowBits: parameters.serverMaxWindowBits, memoryLevel: memoryLevel,
                        resetsAfterEachMessage: parameters.serverNoContextTakeover, workspace: workspace)
    }
}

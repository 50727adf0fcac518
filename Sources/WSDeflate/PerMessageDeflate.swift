/// Constants of the permessage-deflate extension (RFC 7692) shared by both directions.
public enum PerMessageDeflate {
    /// The four bytes a sync flush ends with (an empty stored block's LEN and NLEN), which a sender
    /// removes from each message and a receiver appends again before inflating (RFC 7692 §7.2.1,
    /// §7.2.2).
    public static let messageTail: [UInt8] = [0x00, 0x00, 0xff, 0xff]

    /// The window sizes a deflate stream of ours can use: zlib refuses a raw stream with an 8-bit
    /// window (deflateInit2 answers Z_STREAM_ERROR), so 9 is the least we can offer to compress with.
    public static let deflateWindowBits = 9...15

    /// The window sizes a peer may compress with (RFC 7692 §7.1.2.1): zlib inflates all of them.
    public static let inflateWindowBits = 8...15
}

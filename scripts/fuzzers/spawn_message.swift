// libFuzzer target: the server ↔ spawner datagram decoder (SpawnMessage). Checks, for any bytes:
// decoding never traps or allocates past the datagram, and a datagram that decodes re-encodes to
// one that decodes to the same message (the encoding is canonical up to the environment's order,
// which encoding sorts, and repeated variable names, which the decoded dictionary merges).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let message = SpawnMessage.decode(bytes[...]) else { return 0 }
    let again = message.encoded()
    precondition(SpawnMessage.decode(again[...]) == message, "\(message) did not survive its own encoding")
    // The re-encoding of a decoded message is stable: encoding it once more gives the same bytes.
    precondition(SpawnMessage.decode(again[...])?.encoded() == again, "the encoding of \(message) is not canonical")
    // A message without strings has one encoding: a decoder that accepted a byte too many or too
    // few would give bytes that differ from the input. (Strings are decoded with invalid UTF-8
    // repaired, so theirs may differ.)
    switch message {
    case .spawn, .failed:
        break
    case .spawned, .exited, .queryExit, .ready, .release:
        precondition(again == bytes, "\(message) decoded from \(bytes) but encodes to \(again)")
    }
    return 0
}

/// `ExitStatus.closeReason` names signals through the platform layer, which this pure build leaves
/// out; the decoder never asks for it.
enum Syscalls {
    static func signalName(_ signal: Int32) -> String { "SIG\(signal)" }
}

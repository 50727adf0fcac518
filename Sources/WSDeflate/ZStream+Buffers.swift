import CZlib

extension UnsafeMutablePointer<z_stream> {
    /// Points the stream at `input` and `output` for one call (zlib keeps no pointer into either
    /// between calls); answers the counts given, from which the caller derives what was consumed
    /// and produced.
    func point(at input: UnsafeRawBufferPointer, _ output: UnsafeMutableRawBufferPointer) -> (input: UInt32, output: UInt32) {
        let inputCount = UInt32(clamping: input.count)
        let outputCount = UInt32(clamping: output.count)
        pointee.next_in = UnsafeMutablePointer<UInt8>(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        pointee.avail_in = inputCount
        pointee.next_out = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
        pointee.avail_out = outputCount
        return (inputCount, outputCount)
    }
}

import WSProtocol

/// The stdout side every framing codec shares: a buffer the session reads the child's stdout
/// into, which the codec turns into messages.
protocol StdoutBuffering {
    /// Stdout bytes not yet turned into messages.
    var stdout: ByteBuffer { get set }
}

extension StdoutBuffering {
    /// Stdout bytes held.
    var bufferedStdoutCount: Int { stdout.readableCount }

    /// Bytes allocated for stdout (for tests of memory use).
    var stdoutCapacity: Int { stdout.capacity }

    /// Lets `body` read stdout straight into the buffer; returns what `body` returned.
    mutating func readStdout(minimumWritable: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        var result = 0
        stdout.writeWithUnsafeMutableBytes(minimumWritable: minimumWritable) { space in
            result = body(space)
            return Swift.max(0, result)
        }
        return result
    }

    /// Appends stdout bytes.
    mutating func appendStdout(_ bytes: UnsafeRawBufferPointer) {
        stdout.append(bytes)
    }

    /// Frees the stdout buffer's storage while it holds nothing, so idle sessions cost little memory.
    mutating func releaseIdleMemory() {
        stdout.releaseCapacityIfEmpty(keeping: 0)
    }
}

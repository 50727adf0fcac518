import Glibc

extension Syscalls {
    /// Unmaps this process's resident pages of its own executable's code (the `r-xp` mappings of
    /// the file `/proc/self/exe` names) with `MADV_DONTNEED`. The pages stay in the page cache,
    /// and any that run again fault back in from it (a minor fault, no I/O). Only code is touched:
    /// it is never written, so dropping a page loses nothing; writable and relocated read-only
    /// pages (RELRO) would lose their contents and are left alone. Returns the bytes advised.
    @discardableResult
    public static func releaseExecutableCodePages() -> Int {
        var pathBuffer = [CChar](repeating: 0, count: 4096)
        let pathLength = readlink("/proc/self/exe", &pathBuffer, pathBuffer.count - 1)
        guard pathLength > 0 else { return 0 }
        let executable = Array(pathBuffer[0..<pathLength].map { UInt8(bitPattern: $0) })
        guard let maps = readWholeFile("/proc/self/maps") else { return 0 }
        var released = 0
        // "start-end perms offset dev inode path", one mapping a line (proc(5)).
        for line in maps.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6, Array(fields[1]) == Array("r-xp".utf8),
                  Array(fields[5].drop { $0 == UInt8(ascii: " ") }) == executable else { continue }
            let range = fields[0].split(separator: UInt8(ascii: "-"))
            guard range.count == 2, let start = UInt(String(decoding: range[0], as: UTF8.self), radix: 16),
                  let end = UInt(String(decoding: range[1], as: UTF8.self), radix: 16), end > start,
                  let address = UnsafeMutableRawPointer(bitPattern: start) else { continue }
            if madvise(address, Int(end - start), MADV_DONTNEED) == 0 { released += Int(end - start) }
        }
        return released
    }

    /// The contents of a file that `fstat` cannot size (procfs), read to its end.
    private static func readWholeFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { return contents }
            contents.append(contentsOf: chunk[0..<count])
        }
    }
}

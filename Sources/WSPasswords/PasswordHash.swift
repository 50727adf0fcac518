import CCrypt

/// Checks a password against a crypt(3) hash (bcrypt, SHA-crypt) with the system's libcrypt.
///
/// A check is slow on purpose (bcrypt at cost 10 takes tens of milliseconds), so it runs off the
/// event loops (`PasswordChecker` in WSServer). `crypt_r`'s working area is 32 KiB, allocated
/// per call rather than kept, so idle threads hold none.
public enum PasswordHash {
    /// Whether `password` hashes to `hash`, compared in constant time.
    public static func verify(_ password: [UInt8], against hash: String) -> Bool {
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer {
            // The area held the password: cleared before it goes back to the allocator.
            UnsafeMutableRawPointer(data).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<crypt_data>.size)
            data.deallocate()
        }
        UnsafeMutableRawPointer(data).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<crypt_data>.size)
        var phrase = password.map { CChar(bitPattern: $0) }
        // crypt(3) reads a C string: a password with a NUL byte cannot be what was hashed.
        guard !phrase.contains(0) else { return false }
        phrase.append(0)
        defer { for index in phrase.indices { phrase[index] = 0 } }
        guard let result = crypt_r(phrase, hash, data) else { return false }
        let computed = Array(UnsafeRawBufferPointer(start: result, count: strlenBounded(result, CRYPT_OUTPUT_SIZE)))
        let expected = Array(hash.utf8)
        // libxcrypt returns "*0" or "*1" for a setting it cannot use: never equal to a real hash.
        guard computed.count == expected.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(computed, expected) { difference |= a ^ b }
        return difference == 0
    }

    private static func strlenBounded(_ text: UnsafePointer<CChar>, _ limit: Int32) -> Int {
        var count = 0
        while count < Int(limit), text[count] != 0 { count += 1 }
        return count
    }
}

// swift-tools-version:6.0
import PackageDescription

// The targets are layers, each importing only the ones below it:
//   WSProtocol  pure codecs, bytes in and events out: RFC 6455, HTTP/1.1, CGI responses, ByteBuffer
//   WSPlatform  the platform seam: syscalls, sockets, epoll, signals, process status, the
//               transport protocol (the only target that imports CLinuxSystem)
//   WSTLS       the TLS transport and its configuration (the only target that imports OpenSSL)
//   WSPasswords password hashes checked with libcrypt (the only target that imports it)
//   WSDeflate   permessage-deflate's inflate and deflate stages over zlib (the only target that
//               imports it)
//   WSBridging  the child-process side: framings, session lifecycle, environment, spawn protocol,
//               the spawner process, teardown
//   WSServer    event loops, listeners, HTTP connections, CGI, static files, WebSocket sessions,
//               the spawner pool, logging
//   WSCLI       options, their parser, help text, the launcher
// Release builds check exclusive access statically only. The dynamic checks (a call into the
// runtime and a thread-local lookup for every access to a class's stored property that is
// mutated in place) took about a tenth of the server's CPU on the message path: in a perf
// profile of `scripts/bench`'s TLS text 64 B × 32 row, swift_beginAccess, swift_endAccess,
// AccessSet::insert and SwiftTLSContext::get together made 10 % of the server's samples. Debug
// builds, which the test suite runs, keep them, so a conflicting access still traps there.
let releaseChecks: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "wsbridge",
    products: [
        .executable(name: "wsbridge", targets: ["wsbridge"]),
    ],
    targets: [
        // epoll and eventfd headers, which the Glibc module leaves out (no library is linked).
        .systemLibrary(name: "CLinuxSystem"),
        // The system's OpenSSL (libssl-dev), for TLS.
        .systemLibrary(name: "COpenSSL"),
        // The system's libcrypt (libcrypt-dev), for password hashes.
        .systemLibrary(name: "CCrypt"),
        // The system's zlib (zlib1g-dev), for permessage-deflate.
        .systemLibrary(name: "CZlib"),
        .target(name: "WSProtocol", swiftSettings: releaseChecks),
        .target(
            name: "WSPlatform",
            dependencies: ["WSProtocol", .target(name: "CLinuxSystem", condition: .when(platforms: [.linux]))],
            swiftSettings: releaseChecks
        ),
        // The libraries are named here rather than in the module maps: debug builds link them
        // shared, release builds link them in (see the executable target).
        .target(name: "WSTLS", dependencies: ["WSProtocol", "WSPlatform", "COpenSSL"], swiftSettings: releaseChecks,
                linkerSettings: [.linkedLibrary("ssl", .when(configuration: .debug)), .linkedLibrary("crypto", .when(configuration: .debug))]),
        .target(name: "WSPasswords", dependencies: ["CCrypt"],
                linkerSettings: [.linkedLibrary("crypt", .when(configuration: .debug))]),
        .target(name: "WSDeflate", dependencies: ["WSProtocol", "CZlib"], swiftSettings: releaseChecks,
                linkerSettings: [.linkedLibrary("z", .when(configuration: .debug))]),
        .target(name: "WSBridging", dependencies: ["WSProtocol", "WSPlatform"], swiftSettings: releaseChecks),
        .target(name: "WSServer", dependencies: ["WSProtocol", "WSPlatform", "WSBridging", "WSTLS", "WSPasswords", "WSDeflate"],
                swiftSettings: releaseChecks),
        .target(name: "WSCLI", dependencies: ["WSPlatform", "WSBridging", "WSServer", "WSTLS"]),
        .executableTarget(
            name: "wsbridge",
            dependencies: ["WSCLI", "WSBridging", "WSPlatform"],
            // Release builds are position-dependent, as Go links websocketd: a PIE's 1.7 MB of
            // relocations are read at every start and dirty 0.9 MB of pointer tables in each
            // process (the server and every spawner), which an idle server pays in full.
            // Measured (`scripts/bench`, idle PSS of the server and its spawner): 16.0 MiB as a
            // PIE, 12.0 MiB position-dependent. The stack, heap and shared libraries stay
            // randomized; the binary's own code loads at a fixed address.
            //
            // OpenSSL, libcrypt and zlib are linked in statically there too (`-l:libNAME.a`, Debian's
            // own archives), as the Swift runtime and Foundation are: shared, they were loaded,
            // relocated and set up in the server and in every spawner, TLS or not (idle PSS 14.9
            // MiB instead of 13.4 in scripts/bench). The price: a Debian security update of OpenSSL
            // or zlib reaches wsbridge when it is rebuilt, as for any statically linked program.
            linkerSettings: [.unsafeFlags(["-Xclang-linker", "-no-pie",
                                           "-Xlinker", "-l:libssl.a", "-Xlinker", "-l:libcrypto.a", "-Xlinker", "-l:libcrypt.a",
                                           "-Xlinker", "-l:libz.a"],
                                          .when(platforms: [.linux], configuration: .release))]
        ),
        // What both test targets share (a seeded generator), so neither keeps a copy.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "WSBridgeCoreTests",
            dependencies: ["WSProtocol", "WSPlatform", "WSTLS", "WSPasswords", "WSDeflate", "WSBridging", "WSServer", "WSCLI",
                           "TestSupport"]
        ),
        .testTarget(
            name: "WSBridgeIntegrationTests",
            dependencies: ["WSCLI", "TestSupport"],
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

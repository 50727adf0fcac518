// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "wsbridge",
    products: [
        .executable(name: "wsbridge", targets: ["wsbridge"]),
    ],
    targets: [
        // epoll and eventfd headers, which the Glibc module leaves out (no library is linked).
        .systemLibrary(name: "CLinuxSystem"),
        .target(
            name: "WSBridgeCore",
            dependencies: [.target(name: "CLinuxSystem", condition: .when(platforms: [.linux]))]
        ),
        .executableTarget(name: "wsbridge", dependencies: ["WSBridgeCore"]),
        .testTarget(name: "WSBridgeCoreTests", dependencies: ["WSBridgeCore"]),
        .testTarget(
            name: "WSBridgeIntegrationTests",
            dependencies: ["WSBridgeCore"],
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

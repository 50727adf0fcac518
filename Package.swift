// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "wsbridge",
    products: [
        .executable(name: "wsbridge", targets: ["wsbridge"]),
    ],
    targets: [
        .target(name: "WSBridgeCore"),
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

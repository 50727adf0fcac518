import Foundation
import WSBridging
import WSCLI
import WSPlatform

// The spawner process is this same program started with an internal argument and --closems
// (see SpawnerProcess).
if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == SpawnerProcess.argument {
    ShutdownSignals.clearInheritedMask()
    SpawnerProcess.run(socketFD: 0, closeMilliseconds: Int(CommandLine.arguments[2]) ?? 0)
}

do {
    switch try Launcher.parse(Array(CommandLine.arguments.dropFirst())) {
    case .print(let text):
        print(text)
        exit(0)
    case .run(let options):
        exit(Launcher.run(options))
    }
} catch {
    exit(Launcher.report(error))
}

/// A connection a server shutdown must reach.
protocol RegisteredConnection: AnyObject {
    /// Ends the connection as SPEC §3 says for a server shutdown.
    func shutdown()
}

extension HTTPConnection: RegisteredConnection {}
extension WebSocketSession: RegisteredConnection {}
extension CGIRequest: RegisteredConnection {}

/// The connections of one event loop, so that a shutdown can reach every one of them, and the
/// loop's spawner. Touched only on its loop's thread.
final class ConnectionRegistry {
    private var connections: [ObjectIdentifier: any RegisteredConnection] = [:]
    /// Start this loop's children.
    let spawners: [Spawner]

    init(spawners: [Spawner]) {
        precondition(!spawners.isEmpty, "a loop needs a spawner")
        self.spawners = spawners
    }

    /// The spawner with the fewest live children: the one whose next spawn is cheapest.
    var leastLoadedSpawner: Spawner {
        spawners.min { $0.load < $1.load } ?? spawners[0]
    }

    func add(_ connection: any RegisteredConnection) { connections[ObjectIdentifier(connection)] = connection }
    func remove(_ connection: any RegisteredConnection) { connections[ObjectIdentifier(connection)] = nil }

    /// Closes connections that have not upgraded, sends 1001 to every session and ends every CGI
    /// request (SPEC §3).
    func shutdownAll() {
        for connection in Array(connections.values) { connection.shutdown() }
    }
}

/// A connection a server shutdown must reach.
protocol RegisteredConnection: AnyObject {
    /// Ends the connection as SPEC §3 says for a server shutdown.
    func shutdown()
}

extension HTTPConnection: RegisteredConnection {}
extension WebSocketSession: RegisteredConnection {}
extension CGIRequest: RegisteredConnection {}

/// The connections of one event loop, so that a shutdown can reach every one of them, and the
/// server's spawners. Touched only on its loop's thread.
final class ConnectionRegistry {
    private var connections: [ObjectIdentifier: any RegisteredConnection] = [:]
    /// Start every loop's children.
    let spawners: SpawnerPool

    init(spawners: SpawnerPool) {
        self.spawners = spawners
    }

    func add(_ connection: any RegisteredConnection) { connections[ObjectIdentifier(connection)] = connection }
    func remove(_ connection: any RegisteredConnection) { connections[ObjectIdentifier(connection)] = nil }

    /// Closes connections that have not upgraded, sends 1001 to every session and ends every CGI
    /// request (SPEC §3).
    func shutdownAll() {
        for connection in Array(connections.values) { connection.shutdown() }
    }
}

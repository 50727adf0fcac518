/// The connections of one event loop, so that a shutdown can reach every one of them.
/// Touched only on its loop's thread.
final class ConnectionRegistry {
    private var httpConnections: [ObjectIdentifier: HTTPConnection] = [:]
    private var sessions: [ObjectIdentifier: WebSocketSession] = [:]

    func add(_ connection: HTTPConnection) { httpConnections[ObjectIdentifier(connection)] = connection }
    func remove(_ connection: HTTPConnection) { httpConnections[ObjectIdentifier(connection)] = nil }
    func add(_ session: WebSocketSession) { sessions[ObjectIdentifier(session)] = session }
    func remove(_ session: WebSocketSession) { sessions[ObjectIdentifier(session)] = nil }

    /// Closes connections that have not upgraded and sends 1001 to every session (SPEC §3).
    func shutdownAll() {
        for connection in Array(httpConnections.values) { connection.shutdown() }
        for session in Array(sessions.values) { session.shutdown() }
    }
}

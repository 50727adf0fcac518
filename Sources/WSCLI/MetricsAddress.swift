/// Where `--metrics` listens: a host (127.0.0.1 unless given) and a port (0: any free one).
public struct MetricsAddress: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(_ host: String, _ port: Int) {
        self.host = host
        self.port = port
    }
}

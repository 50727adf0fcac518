import Synchronization
import WSProtocol
import WSPlatform
import WSTLS
import WSBridging

/// What every connection needs to know about the server: the settings, the logger,
/// and the counters shared across event loops.
public final class ServerContext: Sendable {
    /// The settings.
    public let configuration: ServerConfiguration
    /// Writes log lines.
    public let logger: Logger
    private let nextConnectionID = Atomic<UInt64>(0)
    private let liveSessionCount = Atomic<Int>(0)
    private let liveSharedChildCount = Atomic<Int>(0)
    private let owedShutdownAnswerCount = Atomic<Int>(0)
    private let shuttingDown = Atomic<Bool>(false)
    private let childSlotsInUse = Atomic<Int>(0)
    private let liveChildGroups = Mutex<Set<Int32>>([])

    /// `--basicauth`'s checks, off the event loops.
    let passwordChecker = PasswordChecker()
    /// What `--metrics` shows (SPEC §14), counted whether or not it is served.
    let metrics = ServerMetrics()
    /// The shared children of `--broadcast` and `--sessions` (SPEC §13), by name.
    let sharedSessions = SharedSessionDirectory()
    /// Event-stream sessions by id, for the POSTs that feed them (SPEC §12).
    let eventStreams = EventStreamDirectory()

    /// Creates the context.
    public init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let perAddress = configuration.maxSessionsPerAddress
        sessionSlots = perAddress > 0 ? PerClientSlots(perClient: perAddress) : nil
    }

    /// How many connections were accepted so far: unchanged between two looks means none came.
    var connectionsAccepted: UInt64 { nextConnectionID.load(ordering: .relaxed) }

    /// A new connection id, unique for the server's lifetime.
    public func makeConnectionID() -> UInt64 {
        nextConnectionID.add(1, ordering: .relaxed).newValue
    }

    /// Sessions (upgraded connections) not yet fully ended.
    public var liveSessions: Int { liveSessionCount.load(ordering: .acquiring) }

    /// Counts a session in.
    public func sessionStarted() { liveSessionCount.add(1, ordering: .releasing) }

    /// Counts a session out.
    public func sessionEnded() { liveSessionCount.subtract(1, ordering: .releasing) }

    /// Shared children (SPEC §13) not yet ended: a drain waits for their ladders too.
    public var liveSharedChildren: Int { liveSharedChildCount.load(ordering: .acquiring) }
    func sharedChildStarted() { liveSharedChildCount.add(1, ordering: .releasing) }
    func sharedChildEnded() { liveSharedChildCount.subtract(1, ordering: .releasing) }

    /// Connections accepted before a shutdown whose request is still to be answered 503: a drain
    /// waits for them too.
    public var owedShutdownAnswers: Int { owedShutdownAnswerCount.load(ordering: .acquiring) }
    func shutdownAnswerOwed() { owedShutdownAnswerCount.add(1, ordering: .releasing) }
    func shutdownAnswerSettled() { owedShutdownAnswerCount.subtract(1, ordering: .releasing) }

    /// Takes one of the `--maxforks` slots for a session that will start a child; false when all
    /// are taken (the upgrade then gets 429 before any process starts, SPEC §5).
    public func reserveChildSlot() -> Bool {
        let limit = configuration.maxChildren
        guard limit > 0 else {
            childSlotsInUse.add(1, ordering: .relaxed)
            return true
        }
        var current = childSlotsInUse.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = childSlotsInUse.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives a slot back once its session has ended.
    public func releaseChildSlot() {
        childSlotsInUse.subtract(1, ordering: .releasing)
    }

    /// `--authcmd` hooks running (SPEC §11: each is a process), bounded in all and per client
    /// address: a flood of requests cannot start a flood of hooks.
    let hookSlots = PerClientSlots(total: 64, perClient: 4)

    /// Live sessions per client address, for `--maxconnsperip` (nil: no bound).
    let sessionSlots: PerClientSlots?

    /// Records a running child's process group, so that a forced exit can still end it.
    public func childStarted(_ groupID: Int32) { _ = liveChildGroups.withLock { $0.insert(groupID) } }

    /// Forgets a child's group once its session has ended it.
    public func childEnded(_ groupID: Int32) { _ = liveChildGroups.withLock { $0.remove(groupID) } }

    /// SIGKILL to every child group still running: a second signal, or a shutdown past its
    /// deadline, exits at once but leaves no process behind (SPEC §3).
    public func killRemainingChildGroups() {
        for group in liveChildGroups.withLock({ $0 }) { Syscalls.signalGroup(group, Syscalls.forceKill) }
    }

    /// Whether a graceful shutdown has begun.
    public var isShuttingDown: Bool { shuttingDown.load(ordering: .acquiring) }

    /// Marks the start of a graceful shutdown.
    public func beginShutdown() { shuttingDown.store(true, ordering: .releasing) }
}

/// The settings a running server uses, derived from `Options`.
public struct ServerConfiguration: Sendable {
    /// What runs for a connection: one command, or the `--dir` script its URL names.
    public enum Command: Sendable {
        /// `wsbridge COMMAND ARGS...`: the absolute path and the arguments.
        case single(executable: String, arguments: [String])
        /// `wsbridge --dir=DIR`.
        case directory(ScriptRouter)
    }

    /// What runs for a connection.
    public var command: Command
    /// How messages map to stdin and stdout.
    public var framing: FramingMode
    /// The largest inbound message and outbound line or record; nil = no limit.
    public var maxMessageBytes: Int?
    /// Added to each step of the teardown ladder.
    public var closeMilliseconds: Int
    /// Parent variables the child keeps.
    public var passEnv: [String]
    /// Live children at most (`--maxforks`); 0 = unlimited.
    public var maxChildren = 1024
    /// Each stdout and stderr line goes to the client as JSON tagged with its stream (`--passstderr`).
    public var passesStderr = false
    /// `--pty` (SPEC §12): each child's stdin, stdout and stderr are one pseudo-terminal set up
    /// so; nil: pipes. CGI scripts keep pipes.
    public var terminal: TerminalMode?
    /// Extra headers on the 101 (`--header` and `--header-ws`).
    public var webSocketHeaders = HTTPHeaders()
    /// Extra headers on every other answer (`--header` and `--header-http`).
    public var plainHTTPHeaders = HTTPHeaders()
    /// Subprotocols offered by `--subprotocol`, in the server's list order.
    public var subprotocols: [String] = []
    /// `--permessage-deflate` (SPEC §6): what the server agrees to when a client offers
    /// compression; nil when off.
    public var deflate: DeflateSettings?
    /// Ping interval (`--pingms`); 0 = off. A client silent for twice this gets close 1001.
    public var pingMilliseconds = 0
    /// `--staticdir`: files for plain GET and HEAD requests.
    public var staticFiles: StaticFiles?
    /// `--cgidir`: CGI/1.1 scripts for plain requests.
    public var cgiScripts: ScriptRouter?
    /// `--devconsole`: plain GET and HEAD get the built-in console page.
    public var devConsole = false
    /// `--reverselookup`: REMOTE_HOST from reverse DNS.
    public var reverseLookup = false
    /// `--sameorigin` and `--origin`.
    public var originPolicy = OriginPolicy()
    /// The parent's environment, read once at startup.
    public var parentEnvironment: [String: String]
    /// Stop reading the socket while this many bytes wait for the child's stdin.
    public var stdinHighWatermark = 256 * 1024
    /// Resume reading the socket once the stdin buffer is down to this.
    public var stdinLowWatermark = 64 * 1024
    /// Stop reading stdout while this many bytes wait for the socket.
    public var socketHighWatermark = 256 * 1024
    /// Resume reading stdout once the socket buffer is down to this.
    public var socketLowWatermark = 64 * 1024
    /// Bytes read per read(2) from the socket or a pipe.
    public var readChunkBytes = 64 * 1024
    /// How long a client may take to send its request head (SPEC §5).
    public var headTimeoutMilliseconds = 10_000
    /// How long a CGI script may take to finish its answer (504 before its head, a cut body after).
    public var cgiTimeoutMilliseconds = 60_000
    /// How long to wait for the client's answer to our close frame before closing the socket.
    public var closeAnswerTimeoutMilliseconds = 2_000
    /// How long the session's last frames wait for a client that reads none of them before the
    /// connection is dropped (restarted whenever the client takes bytes): a client that stops
    /// reading after the child ended would otherwise hold its connection forever. As nginx's
    /// `send_timeout`, but only once the session is ending: while the child runs, a paused
    /// reader only pauses the child (backpressure).
    public var flushStallMilliseconds = 30_000
    /// `--trustedproxy` (SPEC §11): the peers whose forwarding headers name the client.
    public var trustedProxies = TrustedProxies()
    /// `--basepath` (SPEC §11): the prefix every request path must start with, removed before
    /// routing; nil for none.
    public var basePath: String?
    /// `--token` and friends (SPEC §11): who may come in.
    public var access = AccessPolicy()
    /// `--authcmd` (SPEC §11): the hook run for every request; nil for none.
    public var authCommand: AuthCommand?

    /// The program `--authcmd` names, resolved in PATH, with its arguments.
    public struct AuthCommand: Sendable {
        public var executable: String
        public var arguments: [String]
        public init(executable: String, arguments: [String]) {
            self.executable = executable
            self.arguments = arguments
        }
    }
    /// SPEC §13: how clients share children.
    public enum Sharing: Sendable, Equatable {
        /// `--broadcast`: every client of a script shares its one child.
        case broadcast
        /// `--sessions`: clients naming the same `?session=` share one child; others get their own.
        case named
    }
    /// `--broadcast` or `--sessions`; nil: one child per connection.
    public var sharing: Sharing?
    /// `--linger`: how long a shared child outlives its last client (and keeps its latest output
    /// for the next one).
    public var lingerMilliseconds = 0
    /// `--clientqueue`: the most bytes of a shared child's output waiting for one client; past it
    /// the client is closed with 1013.
    public var clientQueueBytes = 1 << 20
    /// SPEC §13: the latest output a lingering shared session keeps for a client that comes back.
    public static let replayBytes = 256 * 1024

    /// `--maxconnsperip` (SPEC §11): live sessions per client address at most; 0 is unlimited.
    public var maxSessionsPerAddress = 0
    /// `--ssl` (SPEC §10): the TLS context every TCP listener's connections start with, reloaded
    /// on SIGHUP; nil serves plain HTTP.
    package var tls: TLSContextStore?

    /// Creates a configuration.
    public init(command: Command, framing: FramingMode, maxMessageBytes: Int?,
                closeMilliseconds: Int, passEnv: [String], parentEnvironment: [String: String]) {
        self.command = command
        self.framing = framing
        self.maxMessageBytes = maxMessageBytes
        self.closeMilliseconds = closeMilliseconds
        self.passEnv = passEnv
        self.parentEnvironment = parentEnvironment
    }
}

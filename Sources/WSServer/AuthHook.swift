import WSProtocol
import WSPlatform
import WSBridging

/// `--authcmd=COMMAND` (SPEC §11), like nginx's `auth_request`: run for a request before anything
/// else is decided, with the request's CGI environment (SPEC §4), stdin closed and a deadline.
/// Exit 0 lets the request in, and each stdout line `NAME=value` (NAME of upper-case letters,
/// digits and `_`) adds that variable to the child's environment; exit 1 answers 401; any other
/// exit, a signal or the deadline answers 403; a hook that cannot start, 503. Its stderr is
/// logged. Once it has exited, or the deadline passed, the ladder ends whatever is left of its
/// process group, and the verdict is given once the group is gone.
final class AuthHook: EventHandler, RegisteredConnection {
    /// How long the hook may take (SPEC §11).
    static let deadlineNanoseconds: UInt64 = 5_000_000_000
    /// Stdout beyond this is not read for variables (the hook is still waited for).
    static let maxOutputBytes = 64 * 1024

    enum Verdict: Equatable {
        case allowed(variables: [String: String])
        case refused(HTTPStatus)
    }

    private unowned let loop: EventLoop
    private let context: ServerContext
    private let registry: ConnectionRegistry
    private let request: SpawnRequest
    private let logFields: [(key: String, value: String)]
    private var done: ((Verdict) -> Void)?
    /// Runs once, when the hook's run is over (its group gone): gives back its slot.
    private var ended: (() -> Void)?

    private var child: ChildProcess?
    private var pipes = ChildPipes()
    private var exitFD: Int32 = -1
    private var exitRegistration: EventLoop.Registration?
    private var teardown: TeardownRunner?
    private var deadline: TimerQueue.TimerID?
    private var output: [UInt8] = []
    private var exitStatus: ExitStatus?
    private var timedOut = false
    private var isGroupGone = false
    private var isFinished = false

    static let exitSource: UInt8 = 4

    /// Prepares a run of `command` for a request whose environment is `environment`; `done`
    /// runs once on `loop` with the verdict.
    init(command: ServerConfiguration.AuthCommand, environment: [String: String], logFields: [(key: String, value: String)],
         loop: EventLoop, context: ServerContext, registry: ConnectionRegistry, ended: @escaping () -> Void,
         done: @escaping (Verdict) -> Void) {
        self.loop = loop
        self.ended = ended
        self.context = context
        self.registry = registry
        self.logFields = logFields
        self.done = done
        request = SpawnRequest(executable: command.executable, arguments: command.arguments, environment: environment,
                               workingDirectory: WebSocketSession.directory(of: command.executable))
    }

    func start() {
        registry.add(self)
        deadline = loop.schedule(afterNanoseconds: Self.deadlineNanoseconds) { [weak self] in self?.deadlinePassed() }
        registry.spawners.spawn(request, on: loop) { [self] result in spawned(result) }
    }

    /// The request is gone (its connection closed) or the server is shutting down: no verdict
    /// is needed any more, but the hook's group is still ended.
    func shutdown() {
        done = nil
        endGroup()
    }

    private func spawned(_ result: Result<ChildProcess, SpawnError>) {
        switch result {
        case .failure(let error):
            context.logger.log(.error, "AUTHCMD FAILED TO START", fields: logFields + [("error", error.message)])
            isGroupGone = true
            give(.refused(.serviceUnavailable))
            finishIfDone()
        case .success(let child):
            self.child = child
            context.childStarted(child.pid)
            pipes.adopt(child, on: loop, for: self)
            pipes.closeStdin(on: loop)
            exitFD = child.exitFD
            if exitFD >= 0 { exitRegistration = loop.register(exitFD, handler: self, source: Self.exitSource, interest: .read) }
            let hook = WeakSendable(self)
            let loop = self.loop
            child.whenExitReported { loop.execute { hook.value?.checkExit() } }
            teardown = TeardownRunner(loop: loop, child: child, closeMilliseconds: context.configuration.closeMilliseconds,
                                      closeStdin: {}, finished: { [weak self] _ in self?.groupEnded() })
            if done == nil { endGroup() }
            pump()
        }
    }

    func handle(_ events: PollEvents, source: UInt8) {
        if source == Self.exitSource {
            checkExit()
        } else {
            pipes.becameReady(source: source)
        }
        pump()
    }

    private func checkExit() {
        guard exitStatus == nil, let child else { return }
        if let status = child.exitStatus(pidFD: exitFD) {
            exitStatus = status
            if let exitRegistration { loop.deregister(exitRegistration) }
            exitRegistration = nil
            // Whatever it left running (a `cmd &`) goes now; the verdict follows the group's end.
            endGroup()
            teardown?.checkNow()
        } else {
            child.spawner.queryExit(of: child.pid)
        }
        pump()
    }

    private func pump() {
        readStdout()
        _ = pipes.readStderrLines(maxReads: 8, on: loop) { [self] line in
            context.logger.log(.error, "authcmd stderr", fields: logFields + [("line", line)])
        }
        decideIfReady()
    }

    private func readStdout() {
        while pipes.stdoutFD >= 0, pipes.stdoutReadable {
            switch loop.readThroughScratch(pipes.stdoutFD, { bytes in
                let room = Self.maxOutputBytes - output.count
                if room > 0 { output.append(contentsOf: bytes.prefix(room)) }
            }) {
            case .bytes: continue
            case .wouldBlock: pipes.stdoutReadable = false
            case .endOfFile, .failed: pipes.closeStdout(on: loop)
            }
        }
    }

    /// The verdict, once the hook exited and its output ended (or the deadline passed).
    private func decideIfReady() {
        guard done != nil else { return }
        if timedOut {
            context.logger.log(.error, "authcmd took longer than 5 s; refusing", fields: logFields)
            give(.refused(.forbidden))
            return
        }
        guard let exitStatus, pipes.stdoutFD < 0 else { return }
        switch exitStatus {
        case .exited(0): give(.allowed(variables: Self.variables(in: output)))
        case .exited(1): give(.refused(.unauthorized))
        default:
            context.logger.log(.error, "authcmd refused the request", fields: logFields + [("exit", exitStatus.logValue)])
            give(.refused(.forbidden))
        }
    }

    private func give(_ verdict: Verdict) {
        guard let done else { return }
        self.done = nil
        done(verdict)
        finishIfDone()
    }

    private func deadlinePassed() {
        deadline = nil
        guard done != nil else { return }
        timedOut = true
        endGroup()
        decideIfReady()
    }

    private func endGroup() {
        if let teardown { teardown.start() } else if child == nil { finishIfDone() }
    }

    private func groupEnded() {
        isGroupGone = true
        pump()
        finishIfDone()
    }

    private func finishIfDone() {
        guard !isFinished, done == nil, isGroupGone else { return }
        isFinished = true
        pipes.closeAll(on: loop)
        loop.close(&exitFD, &exitRegistration)
        teardown?.cancel()
        if let deadline { loop.cancel(deadline) }
        if let child {
            context.childEnded(child.pid)
            child.spawner.forget(child.pid)
        }
        registry.remove(self)
        ended?()
        ended = nil
    }

    /// `NAME=value` lines with NAME of A–Z, 0–9 and `_` (starting with a letter or `_`); other
    /// lines are ignored. Control characters in a value become spaces, as in every variable
    /// wsbridge sets (SPEC §4).
    static func variables(in output: [UInt8]) -> [String: String] {
        var variables: [String: String] = [:]
        for line in output.split(separator: UInt8(ascii: "\n")) {
            let text = String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            let name = text[..<equals]
            guard let first = name.unicodeScalars.first, first == "_" || ("A"..."Z").contains(first),
                  name.unicodeScalars.allSatisfy({ $0 == "_" || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }) else { continue }
            let value = text[text.index(after: equals)...].unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : Character($0) }
            variables[String(name)] = String(value)
        }
        return variables
    }
}

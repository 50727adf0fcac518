import Dispatch
import Synchronization
import WSPlatform
import WSDeflate

/// Something that owns fds registered with an event loop and reacts to their readiness.
/// `source` tells which of the owner's fds is ready (a connection owns its socket and three pipes).
public protocol EventHandler: AnyObject {
    /// Called on the loop's thread when one of the handler's fds is ready.
    func handle(_ events: PollEvents, source: UInt8)
}

/// One thread's event loop: a poller, the handlers of the fds registered with it, timers, and a
/// queue through which other threads hand it work. Everything it owns is touched only on its
/// thread, which is why the class is `@unchecked Sendable`: only `execute(_:)` crosses threads.
public final class EventLoop: @unchecked Sendable {
    private let poller: any Poller
    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var timers = TimerQueue()
    private let wakeFD: Int32
    private let inbox = Mutex<[@Sendable () -> Void]>([])
    private var pendingPumps: [() -> Void] = []
    private var isStopping = false
    /// One read buffer shared by every connection of the loop: small reads land here and only the
    /// bytes that came are copied to the connection, so a quiet connection holds no 64 KiB buffer.
    /// Never written before a read fills it, so a loop that reads little (the spawner pool's
    /// loop reads nothing through it) does not pay for untouched pages.
    public var scratch = [UInt8](unsafeUninitializedCapacity: 64 * 1024) { _, count in count = 64 * 1024 }
    /// permessage-deflate's buffers and idle inflate streams, shared by this loop's sessions.
    lazy var deflateWorkspace = DeflateWorkspace()

    private struct Slot {
        var handler: (any EventHandler)?
        var generation: UInt32
    }

    /// A registration's identity, to deregister it later.
    public struct Registration: Equatable, Sendable {
        fileprivate var slot: Int
        fileprivate var generation: UInt32
        /// The fd registered.
        public let fd: Int32
    }

    /// Creates a loop polling with `poller`.
    public init(poller: any Poller) {
        self.poller = poller
        wakeFD = Syscalls.makeEventFD()
        precondition(wakeFD >= 0, "eventfd failed")
        poller.register(wakeFD, token: UInt64.max, interest: .read)
    }

    deinit { Syscalls.close(wakeFD) }

    /// Registers `fd` for `handler`; events arrive as `handler.handle(_:source:)` with `source`.
    public func register(_ fd: Int32, handler: any EventHandler, source: UInt8, interest: PollInterest) -> Registration {
        let index: Int
        if let free = freeSlots.popLast() {
            index = free
            slots[index].handler = handler
        } else {
            index = slots.count
            slots.append(Slot(handler: handler, generation: 0))
        }
        let generation = slots[index].generation
        let token = UInt64(generation) << 40 | UInt64(index) << 8 | UInt64(source)
        poller.register(fd, token: token, interest: interest)
        return Registration(slot: index, generation: generation, fd: fd)
    }

    /// Stops events for a registration whose fd stays open. Events already fetched for it in the
    /// current batch are dropped by the generation check.
    public func deregister(_ registration: Registration) {
        poller.deregister(registration.fd)
        releaseSlot(of: registration)
    }

    /// Hands a registration to another handler (a connection that becomes a WebSocket session or
    /// a CGI request) without a syscall. The new handler gets no fresh readiness edge, so it must
    /// start out assuming its fd is readable and writable, and events keep the source the fd was
    /// registered with.
    public func transfer(_ registration: Registration, to handler: any EventHandler) -> Registration {
        precondition(slots[registration.slot].generation == registration.generation, "stale registration")
        slots[registration.slot].handler = handler
        return registration
    }

    private func releaseSlot(of registration: Registration) {
        guard slots[registration.slot].generation == registration.generation else { return }
        slots[registration.slot].handler = nil
        slots[registration.slot].generation &+= 1
        freeSlots.append(registration.slot)
    }

    /// Reads `transport` into the loop's scratch buffer and hands `append` the bytes that came.
    func readThroughScratch(_ transport: any Transport, _ append: (UnsafeRawBufferPointer) -> Void) -> Syscalls.IOResult {
        scratch.withUnsafeMutableBytes { raw in
            let result = transport.read(into: raw)
            if case .bytes(let count) = result { append(UnsafeRawBufferPointer(rebasing: raw[0..<count])) }
            return result
        }
    }

    /// Reads `fd` into the loop's scratch buffer and hands `append` the bytes that came.
    public func readThroughScratch(_ fd: Int32, _ append: (UnsafeRawBufferPointer) -> Void) -> Syscalls.IOResult {
        scratch.withUnsafeMutableBytes { raw in
            let result = Syscalls.read(fd, into: raw)
            if case .bytes(let count) = result { append(UnsafeRawBufferPointer(rebasing: raw[0..<count])) }
            return result
        }
    }

    /// Closes `fd` if it is open and forgets its registration, leaving -1 and no registration
    /// behind. Closing the last fd of an open file removes it from epoll (epoll(7)); every fd the
    /// loop watches is the only one of its file (sockets from accept, pipe ends whose spawner
    /// copy is closed), and a stray event for a copy elsewhere fails the generation check.
    public func close(_ fd: inout Int32, _ registration: inout Registration?) {
        guard fd >= 0 else { return }
        if let registration { releaseSlot(of: registration) }
        registration = nil
        Syscalls.close(fd)
        fd = -1
    }

    /// Closes `fd` and forgets its registration (see `close(_:_:)`), for an fd held in a constant.
    public func close(_ fd: Int32, registeredAs registration: Registration?) {
        if let registration { releaseSlot(of: registration) }
        Syscalls.close(fd)
    }

    /// Calls `continuation` on this loop with `peer`'s reverse-DNS name (REMOTE_HOST, SPEC §4),
    /// looked up on another thread because the lookup blocks; at once with nil when `isEnabled`
    /// is false (no `--reverselookup`).
    func withRemoteHost(of peer: SocketAddress, isEnabled: Bool, _ continuation: @escaping (String?) -> Void) {
        guard isEnabled else {
            continuation(nil)
            return
        }
        let box = UncheckedSendable(continuation)
        DispatchQueue.global().async {
            let name = Syscalls.reverseLookup(peer)
            self.execute { box.value(name) }
        }
    }

    /// Runs `work` on this loop's thread soon; callable from any thread.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        inbox.withLock { $0.append(work) }
        Syscalls.signalEventFD(wakeFD)
    }

    /// Runs `work` on this loop after the current batch of events, before waiting again (used to
    /// continue work that stopped early for fairness, or that readiness alone would not resume).
    public func executeSoon(_ work: @escaping () -> Void) {
        pendingPumps.append(work)
    }

    /// Runs `work` once `delay` nanoseconds from now, unless cancelled.
    @discardableResult
    public func schedule(afterNanoseconds delay: UInt64, _ work: @escaping () -> Void) -> TimerQueue.TimerID {
        timers.schedule(at: Syscalls.monotonicNanoseconds() + delay, work)
    }

    /// Cancels a timer that has not fired yet.
    public func cancel(_ timer: TimerQueue.TimerID) {
        timers.cancel(timer)
    }

    /// Makes `run()` return after the current iteration.
    public func stop() {
        execute { [unowned self] in self.isStopping = true }
    }

    /// Runs the loop on the calling thread until `stop()`.
    public func run() {
        while !isStopping {
            let timeout: Int32
            if !pendingPumps.isEmpty {
                timeout = 0
            } else if let next = timers.nextDeadline {
                let now = Syscalls.monotonicNanoseconds()
                timeout = next <= now ? 0 : Int32(min((next - now + 999_999) / 1_000_000, 60_000))
            } else {
                timeout = -1
            }
            poller.wait(timeoutMilliseconds: timeout) { token, events in
                if token == UInt64.max {
                    Syscalls.drainEventFD(wakeFD)
                    return
                }
                let index = Int((token >> 8) & 0xFFFF_FFFF)
                let generation = UInt32(truncatingIfNeeded: token >> 40)
                guard index < slots.count, slots[index].generation & 0xFF_FFFF == generation & 0xFF_FFFF,
                      let handler = slots[index].handler else { return }
                handler.handle(events, source: UInt8(truncatingIfNeeded: token))
            }
            let work = inbox.withLock { queue -> [@Sendable () -> Void] in
                let taken = queue
                queue.removeAll(keepingCapacity: true)
                return taken
            }
            for item in work { item() }
            if !pendingPumps.isEmpty {
                let pumps = pendingPumps
                pendingPumps.removeAll(keepingCapacity: true)
                for pump in pumps { pump() }
            }
            for action in timers.takeDue(now: Syscalls.monotonicNanoseconds()) { action() }
        }
    }
}

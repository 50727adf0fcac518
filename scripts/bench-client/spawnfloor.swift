// The floor under a spawn, measured in one process: what Foundation's `Process.run()` costs
// against a bare `posix_spawn` with the same file actions (stdin, stdout and stderr on pipes, a
// process group of its own; only the chdir is left out, as Swift's Glibc does not export it),
// both starting /bin/true. The Foundation side does what wsbridge's spawner does: no termination
// handler (Foundation would start a thread for every exit to run one), the exit watched without
// reaping, Foundation reaping on its own threads. wsbridge must spawn through Foundation, so its
// spawn rows cannot beat the first numbers; websocketd (Go) pays about the posix_spawn ones.
// Prints `key value` lines for scripts/bench:
//   floor_foundation_cpu_ms   CPU of the whole process (the caller and Foundation's threads) per spawn
//   floor_foundation_caller_cpu_ms   of that, the thread that calls `run()`
//   floor_foundation_run_ms   wall time of one `run()` call
//   floor_posix_cpu_ms, floor_posix_run_ms   the same for posix_spawn
// Usage: spawnfloor [SPAWNS_PER_BLOCK] [BLOCKS]   (blocks alternate Foundation, posix_spawn)
import Foundation
import Glibc

let perBlock = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 100 : 100
let blocks = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 3 : 3
let executable = "/bin/true"

/// CPU time of the whole process, or with `RUSAGE_THREAD` of the calling thread only.
func cpuMilliseconds(_ who: Int32 = RUSAGE_SELF.rawValue) -> Double {
    var usage = rusage()
    getrusage(who, &usage)
    let seconds = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
    return seconds * 1e3 + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e3
}

func nowMilliseconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) * 1e3 + Double(time.tv_nsec) / 1e6
}

/// Three close-on-exec pipes: the child's stdin, stdout and stderr.
func makePipes() -> [Int32] {
    var fds: [Int32] = []
    for _ in 0..<3 {
        var pair: [Int32] = [-1, -1]
        guard pipe(&pair) == 0 else { fatalError("pipe: \(errno)") }
        for fd in pair { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        fds += pair
    }
    return fds
}

/// Waits for the child to exit without reaping it (Foundation reaps its own).
func awaitExit(_ pid: pid_t) {
    var info = siginfo_t()
    while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
}

let environment = (0..<25).reduce(into: [String: String]()) { $0["VARIABLE_\($1)"] = "value \($1)" }

let threadUsage: Int32 = 1  // RUSAGE_THREAD, which Swift's Glibc does not export

func foundationBlock() -> (cpu: Double, caller: Double, run: Double) {
    var runTime = 0.0
    let cpu0 = cpuMilliseconds(), caller0 = cpuMilliseconds(threadUsage)
    for _ in 0..<perBlock {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: "/", isDirectory: true)
        let fds = makePipes()
        process.standardInput = FileHandle(fileDescriptor: fds[0], closeOnDealloc: false)
        process.standardOutput = FileHandle(fileDescriptor: fds[3], closeOnDealloc: false)
        process.standardError = FileHandle(fileDescriptor: fds[5], closeOnDealloc: false)
        let start = nowMilliseconds()
        do { try process.run() } catch { fatalError("run: \(error)") }
        runTime += nowMilliseconds() - start
        fds.forEach { close($0) }
        awaitExit(process.processIdentifier)
    }
    let caller = cpuMilliseconds(threadUsage) - caller0
    usleep(100_000)  // Foundation's threads finish reaping
    return (cpuMilliseconds() - cpu0, caller, runTime)
}

let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
let argv: [UnsafeMutablePointer<CChar>?] = [strdup(executable), nil]

func posixBlock() -> (cpu: Double, run: Double) {
    var runTime = 0.0
    let cpu0 = cpuMilliseconds()
    for _ in 0..<perBlock {
        let fds = makePipes()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fds[3], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[5], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        var pid: pid_t = 0
        let start = nowMilliseconds()
        guard posix_spawn(&pid, executable, &actions, &attributes, argv, envp) == 0 else { fatalError("posix_spawn") }
        runTime += nowMilliseconds() - start
        fds.forEach { close($0) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attributes)
    }
    return (cpuMilliseconds() - cpu0, runTime)
}

_ = foundationBlock()  // warm-up: Foundation starts its monitoring threads on the first run()
var foundation = (cpu: 0.0, caller: 0.0, run: 0.0), posix = (cpu: 0.0, run: 0.0)
for _ in 0..<blocks {
    let f = foundationBlock()
    foundation.cpu += f.cpu
    foundation.caller += f.caller
    foundation.run += f.run
    let p = posixBlock()
    posix.cpu += p.cpu
    posix.run += p.run
}
let spawns = Double(perBlock * blocks)
print(String(format: "floor_foundation_cpu_ms %.3f", foundation.cpu / spawns))
print(String(format: "floor_foundation_caller_cpu_ms %.3f", foundation.caller / spawns))
print(String(format: "floor_foundation_run_ms %.3f", foundation.run / spawns))
print(String(format: "floor_posix_cpu_ms %.3f", posix.cpu / spawns))
print(String(format: "floor_posix_run_ms %.3f", posix.run / spawns))

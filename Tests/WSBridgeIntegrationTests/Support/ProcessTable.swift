import Foundation
import Glibc

/// One process as `/proc/PID/stat` shows it (proc(5)).
struct ProcessEntry: Equatable, CustomStringConvertible {
    /// Its process id.
    var pid: pid_t
    /// The one-letter state: `R`, `S`, `D`, `T`, `Z` (zombie), ...
    var state: Character
    /// Its parent's pid.
    var parent: pid_t
    /// Its process group.
    var group: pid_t
    /// The command name (at most 15 bytes, as the kernel keeps it).
    var command: String

    /// Whether it has exited and waits to be reaped.
    var isZombie: Bool { state == "Z" }

    /// A zombie whose parent is init: reaping it is init's job, not the server's. This machine's
    /// init reaps orphans only every second or so, and `kill(pid, 0)` succeeds on a zombie, so a
    /// killed grandchild whose shell parent died first lingers here for a while.
    var isOrphanedZombie: Bool { isZombie && parent == 1 }

    /// Short form for failure messages.
    var description: String { "\(pid)(\(command) \(state) ppid=\(parent) pgid=\(group))" }
}

/// Reads the process table from /proc, to find a session's processes, zombies included, by
/// group or parent, and to count a process's open files (SPEC §3 "Nothing leaks").
enum ProcessTable {
    /// The entry of `pid`, or nil when no such process exists (reaped or never there).
    static func entry(_ pid: pid_t) -> ProcessEntry? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        return parse(pid: pid, stat: text)
    }

    /// `pid (comm) S ppid pgrp ...`: the command may hold spaces and parentheses, so the fields
    /// after it are found from the last `)`.
    private static func parse(pid: pid_t, stat: String) -> ProcessEntry? {
        guard let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
        let command = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count >= 3, let state = fields[0].first, let parent = pid_t(fields[1]), let group = pid_t(fields[2]) else {
            return nil
        }
        return ProcessEntry(pid: pid, state: state, parent: parent, group: group, command: command)
    }

    /// Every process now, in no particular order.
    static func all() -> [ProcessEntry] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { name in pid_t(name).flatMap(entry) }
    }

    /// The processes whose command line holds `text`, orphaned zombies left out, with their
    /// command lines (a test's children name its run in an argument).
    static func processes(mentioning text: String) -> [String] {
        all().compactMap { entry in
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry.pid)/cmdline") else { return nil }
            let commandLine = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return commandLine.contains(text) && !entry.isOrphanedZombie ? "\(entry) \(commandLine)" : nil
        }
    }

    /// The processes whose parent is `pid`, zombies included.
    static func children(of pid: pid_t) -> [ProcessEntry] {
        all().filter { $0.parent == pid }
    }

    /// The processes of the given groups that the server is still answerable for: every member
    /// except zombies already handed to init.
    static func remainingMembers(ofGroups groups: Set<pid_t>) -> [ProcessEntry] {
        all().filter { groups.contains($0.group) && !$0.isOrphanedZombie }
    }

    /// Whether `pid` no longer exists, or only as a zombie that init will reap.
    static func isGone(_ pid: pid_t) -> Bool {
        guard let entry = entry(pid) else { return true }
        return entry.isOrphanedZombie
    }

    /// Polls until no process of `groups` remains (see `remainingMembers`); returns what is left
    /// after `timeout`, empty on success.
    static func waitUntilGroupsGone(_ groups: Set<pid_t>, timeout: Duration) -> [ProcessEntry] {
        var left: [ProcessEntry] = []
        _ = Deadline.poll(for: timeout, every: .milliseconds(20)) {
            left = remainingMembers(ofGroups: groups)
            return left.isEmpty
        }
        return left
    }

    /// The number of open file descriptors of `pid`, or nil when it cannot be read.
    static func openFileCount(_ pid: pid_t) -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
    }

    /// The resident memory of `pid` in KiB (VmRSS), or nil when it cannot be read.
    static func residentKiB(_ pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }

    /// The server's spawner process (SPEC §3: children start in a helper the server forks at
    /// launch): the child of `serverPID` started with `--wsbridge-internal-spawner`.
    static func spawners(of serverPID: pid_t) -> [pid_t] {
        children(of: serverPID).filter { entry in
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry.pid)/cmdline") else { return false }
            return data.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == "--wsbridge-internal-spawner" }
        }.map(\.pid)
    }

    /// The children of every spawner of the server: the sessions' children. A spawner's warm-up
    /// child (`/bin/true`, run once as it starts) is not one: counted, it made a baseline taken
    /// just after launch one too high on a loaded machine.
    /// A child still between its spawn and its exec shows the spawner's own command line; the
    /// warm-up is caught there too (seen once: 1 child at the baseline, 0 after).
    /// And once it has exited, until its spawner reaps it, it is a zombie with no command line
    /// at all, only its name (seen once more: /healthz's "no process" check found it).
    static func spawnedChildren(of serverPID: pid_t) -> [ProcessEntry] {
        spawners(of: serverPID).flatMap { children(of: $0) }.filter { !isSpawnerWarmUp($0) }
    }

    private static func isSpawnerWarmUp(_ entry: ProcessEntry) -> Bool {
        if entry.state == "Z" && entry.command == "true" { return true }
        guard let data = FileManager.default.contents(atPath: "/proc/\(entry.pid)/cmdline") else { return false }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return arguments == ["/bin/true"] || arguments.contains("--wsbridge-internal-spawner")
            || (arguments.isEmpty && entry.command == "true")
    }
}

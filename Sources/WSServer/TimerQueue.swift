/// Deadlines of one event loop: a binary min-heap of (deadline, id) with cancellation by id.
/// Cancelled timers are dropped lazily when they reach the top.
public struct TimerQueue {
    /// Identifies a scheduled timer.
    public struct TimerID: Hashable, Sendable {
        fileprivate let value: UInt64
    }

    private var heap: [(deadline: UInt64, id: UInt64)] = []
    private var work: [UInt64: () -> Void] = [:]
    private var nextID: UInt64 = 0

    /// Creates an empty queue.
    public init() {}

    /// The earliest live deadline, if any.
    public var nextDeadline: UInt64? {
        mutating get {
            dropCancelledTop()
            return heap.first?.deadline
        }
    }

    /// Schedules `action` at the monotonic time `deadline` (nanoseconds).
    public mutating func schedule(at deadline: UInt64, _ action: @escaping () -> Void) -> TimerID {
        nextID += 1
        work[nextID] = action
        heap.append((deadline, nextID))
        siftUp(heap.count - 1)
        return TimerID(value: nextID)
    }

    /// Cancels a timer; a no-op if it already fired.
    public mutating func cancel(_ timer: TimerID) {
        work[timer.value] = nil
    }

    /// Removes and returns every live timer due at `now`, in deadline order. The caller runs them
    /// after this mutation ends, since a timer's work may schedule or cancel timers.
    public mutating func takeDue(now: UInt64) -> [() -> Void] {
        var due: [() -> Void] = []
        while let top = heap.first, top.deadline <= now {
            popTop()
            if let action = work.removeValue(forKey: top.id) { due.append(action) }
        }
        return due
    }

    private mutating func dropCancelledTop() {
        while let top = heap.first, work[top.id] == nil { popTop() }
    }

    private mutating func popTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var index = 0
        while true {
            let left = 2 * index + 1, right = left + 1
            var smallest = index
            if left < heap.count && heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count && heap[right].deadline < heap[smallest].deadline { smallest = right }
            if smallest == index { return }
            heap.swapAt(index, smallest)
            index = smallest
        }
    }

    private mutating func siftUp(_ start: Int) {
        var index = start
        while index > 0 {
            let parent = (index - 1) / 2
            if heap[parent].deadline <= heap[index].deadline { return }
            heap.swapAt(parent, index)
            index = parent
        }
    }
}

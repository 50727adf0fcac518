/// Feeds events to a lifecycle machine (STYLE.md "State machines") and carries out the actions it
/// returns, in order. An event that an action causes (stdin drained at once, a flush that
/// completes, a client that detaches while the session closes it) waits until the actions of the
/// event before it are all done, so that they run in the order the machine gave. One per
/// connection or session; loop-confined.
final class EventFeeder<Event> {
    private var pending: [Event] = []
    private var isFeeding = false

    /// Queues `event`; unless an event is being handled already, handles it and every event its
    /// actions cause with `handle` (which runs the machine and its actions), until `isFinished`.
    func feed(_ event: Event, isFinished: () -> Bool, handle: (Event) -> Void) {
        guard !isFinished() else { return }
        pending.append(event)
        guard !isFeeding else { return }
        isFeeding = true
        while !pending.isEmpty && !isFinished() {
            handle(pending.removeFirst())
        }
        pending.removeAll()
        isFeeding = false
    }
}

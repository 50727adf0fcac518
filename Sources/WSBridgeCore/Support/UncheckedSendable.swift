/// Carries a loop-confined value through a `@Sendable` closure that runs on that same loop.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A weak `UncheckedSendable`, for a closure the object itself (indirectly) holds.
struct WeakSendable<Value: AnyObject>: @unchecked Sendable {
    weak var value: Value?
    init(_ value: Value) { self.value = value }
}

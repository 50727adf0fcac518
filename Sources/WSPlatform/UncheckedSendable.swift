/// Carries a loop-confined value through a `@Sendable` closure that runs on that same loop.
package struct UncheckedSendable<Value>: @unchecked Sendable {
    package let value: Value
    package init(_ value: Value) { self.value = value }
}

/// A weak `UncheckedSendable`, for a closure the object itself (indirectly) holds.
package struct WeakSendable<Value: AnyObject>: @unchecked Sendable {
    package weak var value: Value?
    package init(_ value: Value) { self.value = value }
}

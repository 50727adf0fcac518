import Testing

/// The suites whose bounds are tight timings (a 200 ms close handshake, a 1 s ladder, a 500 ms
/// exit) and the churn that saturates the machine: nested here so they run one test at a time
/// and the 2,000-session churn never runs beside a 200 ms bound on a two-core machine.
@Suite("Lifecycle timing", .serialized)
struct LifecycleTimingTests {}

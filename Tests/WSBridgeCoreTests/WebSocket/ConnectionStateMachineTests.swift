import Testing
@testable import WSProtocol

/// A server's protocol side without sockets: client bytes go through the decoder and the state
/// machine, and the bytes the server would send come out. Like the bridge, it answers the peer's
/// close only later (at `finish()`), so frames that follow the close meet the `closeReceived` state.
struct SessionSimulator {
    /// What a session produced.
    struct Outcome: Equatable {
        /// The fragments delivered to the child, payloads copied.
        var delivered: [MessageFragment] = []
        /// The bytes the server sent: pongs and its close frame.
        var wire: [UInt8] = []
        /// The protocol errors that failed the connection.
        var errors: [WebSocketError] = []
        /// The peer's close as reported.
        var peerClose: ConnectionStateMachine.FrameAction?
    }

    private var decoder = FrameDecoder(maxPayloadBytes: nil)
    private(set) var machine: ConnectionStateMachine
    private var outcome = Outcome()
    private var output = ByteBuffer()
    private var isTCPClosed = false
    /// The pieces so far of a streamed frame, joined.
    private var streamedFragment: MessageFragment?
    /// A streamed frame's head arrived and its last piece has not.
    private var isFrameInProgress = false

    init(maxMessageBytes: Int? = nil) {
        machine = ConnectionStateMachine(maxMessageBytes: maxMessageBytes)
    }

    mutating func receive(_ bytes: ArraySlice<UInt8>) {
        guard !isTCPClosed else { return }
        decoder.append(contentsOf: bytes)
        do throws(WebSocketError) {
            while let event = try decoder.next() {
                let action = try machine.received(event)
                if case .payload(_, let isFrameEnd) = event { isFrameInProgress = !isFrameEnd }
                switch action {
                case .deliver(let fragment):
                    deliver(fragment)
                case .sendPong(let payload):
                    FrameEncoder.append(opcode: .pong, payload: payload, to: &output)
                case .none:
                    break
                case .peerClosed(let code, let reason):
                    outcome.peerClose = .peerClosed(code: code, reason: reason)
                case .closeCompleted:
                    isTCPClosed = true
                    return
                }
            }
        } catch {
            outcome.errors.append(error)
            send(machine.fail(error))
            isTCPClosed = true
        }
    }

    /// Records a delivered fragment. The pieces of a streamed frame are joined into the one fragment
    /// the whole frame would have given, so every split of the input gives the same outcome; a frame
    /// cut short by an error delivers nothing here (the bridge has passed its valid start on).
    private mutating func deliver(_ fragment: MessageFragment) {
        if var joined = streamedFragment {
            joined.payload += fragment.payload
            joined.isLast = fragment.isLast
            streamedFragment = joined
        } else {
            streamedFragment = MessageFragment(kind: fragment.kind, payload: Array(fragment.payload)[...],
                                               isFirst: fragment.isFirst, isLast: fragment.isLast,
                                               messageLength: fragment.messageLength)
        }
        guard !isFrameInProgress, let joined = streamedFragment else { return }
        outcome.delivered.append(joined)
        streamedFragment = nil
    }

    /// Ends the input: answers a pending peer close and returns what happened.
    mutating func finish() -> Outcome {
        if case .closeReceived = machine.state { send(machine.answerPeerClose()) }
        outcome.wire = Array(output.readableBytes)
        return outcome
    }

    private mutating func send(_ action: ConnectionStateMachine.CloseAction) {
        switch action {
        case .send(let code, let reason): FrameEncoder.appendClose(code: code, reason: reason, to: &output)
        case .none: break
        }
    }

    /// Runs `bytes` whole, byte by byte and split at every index; expects one outcome and returns it.
    static func runEverySplit(_ bytes: [UInt8], maxMessageBytes: Int? = nil,
                              sourceLocation: SourceLocation = #_sourceLocation) -> Outcome {
        func run(_ chunks: [ArraySlice<UInt8>]) -> Outcome {
            var session = SessionSimulator(maxMessageBytes: maxMessageBytes)
            for chunk in chunks { session.receive(chunk) }
            return session.finish()
        }
        let whole = run([bytes[...]])
        #expect(run(bytes.indices.map { bytes[$0...$0] }) == whole, "byte by byte", sourceLocation: sourceLocation)
        for split in 0...bytes.count {
            #expect(run([bytes[..<split], bytes[split...]]) == whole, "split at \(split)", sourceLocation: sourceLocation)
        }
        return whole
    }
}

/// Client frames, masked, for the simulator.
enum Client {
    static func frame(_ opcode: Opcode, _ payload: [UInt8], final: Bool = true) -> [UInt8] {
        var buffer = ByteBuffer()
        FrameEncoder.appendMasked(opcode: opcode, isFinal: final, payload: payload, maskingKey: (0x11, 0x22, 0x33, 0x44), to: &buffer)
        return Array(buffer.readableBytes)
    }

    static func text(_ text: String, final: Bool = true) -> [UInt8] { frame(.text, Array(text.utf8), final: final) }

    static func close(_ code: UInt16?, _ reason: [UInt8] = []) -> [UInt8] {
        frame(.close, code.map { [UInt8($0 >> 8), UInt8($0 & 0xFF)] + reason } ?? [])
    }
}

@Suite("ConnectionStateMachine")
struct ConnectionStateMachineTests {
    static let normalClose = hex("88 02 03 e8")

    /// The close frame failing with `error` puts on the wire.
    static func closeWire(_ error: WebSocketError) -> [UInt8] { closeFrameBytes(failingWith: error) }

    @Test("RFC 6455 §5.4-§5.5: pings between fragments are answered, the message still arrives (Autobahn 5.6-5.8)")
    func pingsBetweenFragments() {
        let bytes = Client.text("fragment1", final: false) + Client.frame(.ping, Array("ping payload".utf8))
            + Client.frame(.continuation, Array("fragment2".utf8), final: false) + Client.frame(.pong, [1, 2])
            + Client.frame(.continuation, Array("fragment3".utf8)) + Client.close(1000)
        let outcome = SessionSimulator.runEverySplit(bytes)
        #expect(outcome.delivered.map { Array($0.payload) } == ["fragment1", "fragment2", "fragment3"].map { Array($0.utf8) })
        #expect(outcome.delivered.map(\.kind) == [.text, .text, .text])
        #expect(outcome.wire == hex("8a 0c") + Array("ping payload".utf8) + Self.normalClose)
        #expect(outcome.errors.isEmpty)
    }

    @Test("RFC 6455 §5.4: a continuation with no message in progress fails with 1002 (Autobahn 5.9)")
    func continuationWithoutStart() {
        let bytes = Client.frame(.continuation, Array("fragment2".utf8)) + Client.text("fragment3")
        let outcome = SessionSimulator.runEverySplit(bytes)
        let error = WebSocketError.protocolError("continuation frame without a message in progress")
        #expect(outcome.errors == [error])
        #expect(outcome.delivered.isEmpty)
        #expect(outcome.wire == Self.closeWire(error))
        #expect(outcome.wire.prefix(4) == [0x88, UInt8(2 + error.reason.utf8.count), 0x03, 0xEA])
    }

    @Test("RFC 6455 §5.5.1: a message then a close is delivered, then the close echoed (Autobahn 7.1.1)")
    func messageThenClose() {
        let outcome = SessionSimulator.runEverySplit(Client.text("Hello World") + Client.close(1000))
        #expect(outcome.delivered == [MessageFragment(kind: .text, payload: Array("Hello World".utf8)[...], isFirst: true, isLast: true)])
        #expect(outcome.peerClose == .peerClosed(code: .normalClosure, reason: ""))
        #expect(outcome.wire == Self.normalClose)
    }

    @Test("RFC 6455 §1.4: frames after the peer's close are discarded, no pong, 1000 echoed (Autobahn 7.1.2-7.1.4)", arguments: [
        Client.close(1000), Client.frame(.ping, Array("out of band ping".utf8)), Client.text("out of band text"),
        Client.frame(.continuation, [0xFF]), Client.frame(.close, [0x03]),
    ])
    func afterPeerClose(following: [UInt8]) {
        let outcome = SessionSimulator.runEverySplit(Client.close(1000) + following)
        #expect(outcome.delivered.isEmpty)
        #expect(outcome.errors.isEmpty)
        #expect(outcome.wire == Self.normalClose)
    }

    @Test("RFC 6455 §5.5.1: a close in the middle of a fragmented message closes cleanly (Autobahn 7.1.5)")
    func closeMidMessage() {
        let bytes = Client.text("fragment1", final: false) + Client.close(1000) + Client.frame(.continuation, Array("fragment2".utf8))
        let outcome = SessionSimulator.runEverySplit(bytes)
        #expect(outcome.delivered.count == 1)
        #expect(outcome.errors.isEmpty)
        #expect(outcome.wire == Self.normalClose)
    }

    @Test("RFC 6455 §5.5.1: close payload sizes (Autobahn 7.3.1-7.3.6)", arguments: [
        (Client.close(nil), hex("88 00")),
        (Client.frame(.close, [0x03]), closeFrameBytes(failingWith: .protocolError("close frame with a 1-byte payload"))),
        (Client.close(1000), hex("88 02 03 e8")),
        (Client.close(1000, Array("Hello World!".utf8)), hex("88 02 03 e8")),
        (Client.close(1000, [UInt8](repeating: 0x2A, count: 123)), hex("88 02 03 e8")),
        (hex("88 fe 00 7e"), closeFrameBytes(failingWith: .protocolError("control frame payload of 126 bytes"))),
    ])
    func closePayloadSizes(bytes: [UInt8], wire: [UInt8]) {
        #expect(SessionSimulator.runEverySplit(bytes).wire == wire)
    }

    @Test("RFC 6455 §8.1: a close reason that is not UTF-8 gets 1007 (Autobahn 7.5.1)")
    func invalidReason() {
        let reason = hex("ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64")
        let outcome = SessionSimulator.runEverySplit(Client.close(1000, reason))
        #expect(outcome.errors == [.invalidUTF8])
        #expect(outcome.wire.prefix(4) == [0x88, UInt8(2 + WebSocketError.invalidUTF8.reason.utf8.count), 0x03, 0xEF])
    }

    @Test("RFC 6455 §5.5.1: valid codes are echoed (Autobahn 7.7.1-7.7.13)", arguments: [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] as [UInt16])
    func validCodesEchoed(code: UInt16) {
        let outcome = SessionSimulator.runEverySplit(Client.close(code, Array("reason".utf8)))
        #expect(outcome.peerClose == .peerClosed(code: CloseCode(code), reason: "reason"))
        #expect(outcome.wire == [0x88, 0x02, UInt8(code >> 8), UInt8(code & 0xFF)])
    }

    @Test("RFC 6455 §7.4: invalid codes get 1002 (Autobahn 7.9.1-7.9.9, 7.13.1-7.13.2)", arguments: [
        0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] as [UInt16])
    func invalidCodes(code: UInt16) {
        let outcome = SessionSimulator.runEverySplit(Client.close(code))
        #expect(outcome.errors == [.protocolError("invalid close code \(code)")])
        #expect(outcome.wire.prefix(4).dropFirst(2) == [0x03, 0xEA])
    }

    @Test("SPEC §1: a message over --maxframesize gets 1009 on the wire")
    func messageTooBig() {
        let outcome = SessionSimulator.runEverySplit(Client.frame(.binary, [1, 2, 3], final: false) + Client.frame(.continuation, [4, 5]),
                                                     maxMessageBytes: 4)
        #expect(outcome.delivered.count == 1)
        #expect(outcome.errors == [.messageTooBig(limit: 4)])
        #expect(outcome.wire.prefix(4).dropFirst(2) == [0x03, 0xF1])
    }

    @Test("RFC 6455 §7.1.2-§7.1.4: our close, data meanwhile discarded, the peer's close completes it")
    func serverInitiatedClose() throws {
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        #expect(machine.close(code: CloseCode(4001), reason: "exit 1") == .send(code: CloseCode(4001), reason: "exit 1"))
        #expect(machine.state == .closeSent)
        #expect(machine.close(code: .goingAway, reason: "") == .none)
        // Invalid UTF-8, a ping and a stray continuation: all discarded, none an error.
        #expect(try machine.receivedFrame(Frame(opcode: .text, payload: [0xFF])) == .none)
        #expect(try machine.receivedFrame(Frame(opcode: .ping, payload: [1])) == .none)
        #expect(try machine.receivedFrame(Frame(opcode: .continuation, payload: [1])) == .none)
        #expect(try machine.receivedFrame(Frame(opcode: .close, payload: [0x0F, 0xA1])) == .closeCompleted)
        #expect(machine.state == .closed)
        #expect(try machine.receivedFrame(Frame(opcode: .text, payload: [0x41])) == .none)
        #expect(machine.answerPeerClose() == .none)
        #expect(machine.fail(.invalidUTF8) == .none)
    }

    @Test("a failure sends its close once; later closes and failures send nothing")
    func failOnce() {
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        let error = WebSocketError.protocolError("unmasked client frame")
        #expect(machine.fail(error) == .send(code: .protocolError, reason: "unmasked client frame"))
        #expect(machine.state == .closeSent)
        #expect(machine.fail(.invalidUTF8) == .none)
        #expect(machine.close(code: .normalClosure, reason: "") == .none)
        var buffer = ByteBuffer()
        FrameEncoder.appendClose(code: .protocolError, reason: "", to: &buffer)
        #expect(Array(buffer.readableBytes) == hex("88 02 03 ea"))
    }

    @Test("after the peer's close: close() answers with our code, fail() with the error's, then nothing more")
    func closingAfterPeerClose() throws {
        var byClose = ConnectionStateMachine(maxMessageBytes: nil)
        #expect(try byClose.receivedFrame(Frame(opcode: .close, payload: [0x03, 0xE9])) == .peerClosed(code: .goingAway, reason: ""))
        #expect(byClose.state == .closeReceived(code: .goingAway))
        #expect(byClose.close(code: CloseCode(4000), reason: "") == .send(code: CloseCode(4000), reason: ""))
        #expect(byClose.state == .closed)
        #expect(byClose.answerPeerClose() == .none)

        var byFail = ConnectionStateMachine(maxMessageBytes: nil)
        #expect(try byFail.receivedFrame(Frame(opcode: .close, payload: [])) == .peerClosed(code: nil, reason: ""))
        #expect(byFail.fail(.protocolError("garbage")) == .send(code: .protocolError, reason: "garbage"))
        #expect(byFail.state == .closed)
        #expect(byFail.answerPeerClose() == .none)
    }

    @Test("RFC 6455 §5.5.1: an empty close is answered with an empty close")
    func emptyCloseEchoed() throws {
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        #expect(try machine.receivedFrame(Frame(opcode: .close, payload: [])) == .peerClosed(code: nil, reason: ""))
        #expect(machine.answerPeerClose() == .send(code: nil, reason: ""))
        #expect(machine.state == .closed)
    }

    @Test("RFC 6455 §5.5.2-§5.5.3: a ping gets its payload back, a pong nothing")
    func pingPong() throws {
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        #expect(try machine.receivedFrame(Frame(opcode: .ping, payload: Array("abc".utf8))) == .sendPong(Array("abc".utf8)[...]))
        #expect(try machine.receivedFrame(Frame(opcode: .pong, payload: [9])) == .none)
        #expect(machine.state == .open)
    }

    @Test("RFC 6455 §5.5: control frames handed in directly are still checked")
    func controlFramesChecked() {
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        #expect(throws: WebSocketError.protocolError("fragmented or oversized control frame")) {
            try machine.receivedFrame(Frame(isFinal: false, opcode: .ping, payload: []))
        }
        #expect(throws: WebSocketError.protocolError("fragmented or oversized control frame")) {
            try machine.receivedFrame(Frame(opcode: .ping, payload: [UInt8](repeating: 0, count: 126)))
        }
    }
}

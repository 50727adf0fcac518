#!/usr/bin/env python3
"""A restart behind --reuseport (SPEC §15), as an operator does it, under a stream of clients.

Run in a network namespace of its own (`unshare -n`): it brings loopback up, sets
net.ipv4.tcp_migrate_req there (never on the machine), starts instance A of wsbridge on a port,
and makes COUNT sequential WebSocket sessions against it (connect, upgrade, the child's greeting,
one echo, close). After a random number of them, a second thread starts instance B on the same
port, waits for its startup line, then sends SIGTERM to A and waits for A to exit, while the
sessions go on. At the end B gets SIGTERM too.

Every session ends in one of:
- ok: greeting, echo and the close handshake, from A or B (the greeting names the instance);
- drained: A's drain ended it as SPEC §3 says (close 1001, or 503 "shutting down" before the
  upgrade): a proper answer, not a failure;
- refused: connect() got ECONNREFUSED;
- failed: anything else (a reset, an EOF without a close frame, a timeout, wrong bytes).

Prints one JSON object on stdout. Usage:
  reuseport_restart.py WSBRIDGE CHILD_SCRIPT TAG_PREFIX COUNT MIGRATE(0|1) [SEED]
"""
import fcntl
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from wsbridge_instance import Instance, upgrade_request

PORT = 8080


def loopback_up():
    """`ip link set lo up`, without needing iproute2."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, siocgifflags, request))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, b""))


class Reader:
    """A socket's bytes, read ahead: the server may send its first frame with the 101."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def head(self):
        while b"\r\n\r\n" not in self.buffer:
            self._fill(f"EOF in the response head: {self.buffer!r}")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        return head

    def exactly(self, count):
        while len(self.buffer) < count:
            self._fill(f"EOF after {len(self.buffer)} of {count} bytes")
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def frame(self):
        first, second = self.exactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self.exactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self.exactly(8))[0]
        return first & 0x0F, self.exactly(length)

    def at_eof(self):
        return not self.buffer and not self.sock.recv(1)

    def _fill(self, message):
        chunk = self.sock.recv(4096)
        if not chunk:
            raise EOFError(message)
        self.buffer += chunk


def send_frame(sock, opcode, payload):
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)


class Drained(Exception):
    pass


def session(number):
    """One session; returns the instance that served it, raises Drained or another error."""
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    try:
        sock.sendall(upgrade_request(f"127.0.0.1:{PORT}"))
        reader = Reader(sock)
        status = reader.head().split(b"\r\n", 1)[0]
        if b" 503 " in status:
            raise Drained("503 before the upgrade")
        if b" 101 " not in status:
            raise RuntimeError(f"status {status!r}")

        def expect_text():
            opcode, payload = reader.frame()
            if opcode == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                if code == 1001:
                    raise Drained("close 1001")
                raise RuntimeError(f"close {code} {payload[2:]!r}")
            if opcode != 1:
                raise RuntimeError(f"opcode {opcode}")
            return payload.decode()

        served = expect_text()
        message = f"message {number}"
        send_frame(sock, 1, message.encode())
        echoed = expect_text()
        if echoed != message:
            raise RuntimeError(f"echo {echoed!r} for {message!r}")
        send_frame(sock, 8, struct.pack("!H", 1000))
        opcode, payload = reader.frame()
        if opcode != 8:
            raise RuntimeError(f"opcode {opcode} instead of the close answer")
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        # After our close, cat ends and the child's exit (0) or a draining server's 1001 answers it.
        if code not in (1000, 1001):
            raise RuntimeError(f"close answer {code}")
        if not reader.at_eof():
            raise RuntimeError("bytes after the close frame")
        return served
    finally:
        sock.close()


def main():
    binary, script, prefix, count, migrate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else random.randrange(1 << 32)
    rng = random.Random(seed)
    loopback_up()
    with open("/proc/sys/net/ipv4/tcp_migrate_req", "w") as setting:
        setting.write(migrate)

    arguments = [f"--port={PORT}", "--address=127.0.0.1", "--reuseport", script]
    old = Instance(binary, arguments + [prefix + "-A"], prefix + "-A")
    if not old.listening.wait(15):
        print(json.dumps({"error": "A did not start", "stderr": old.lines}))
        return 1
    replace_after = rng.randrange(count // 10, count // 3)
    events = {}

    def replace():
        new = Instance(binary, arguments + [prefix + "-B"], prefix + "-B")
        events["B"] = new
        if not new.listening.wait(15):
            events["error"] = "B did not start"
            return
        events["B listening at"] = len(outcomes)
        time.sleep(rng.uniform(0, 0.3))
        events["SIGTERM at"] = len(outcomes)
        old.process.send_signal(signal.SIGTERM)
        try:
            events["A exit"] = old.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            events["A exit"] = "still running after 15 s"
        events["A exited at"] = len(outcomes)

    outcomes = []
    failures = []
    replacer = None
    deadline = time.monotonic() + 240
    for number in range(count):
        if number == replace_after:
            replacer = threading.Thread(target=replace)
            replacer.start()
        if time.monotonic() > deadline:
            failures.append({"session": number, "error": "the run took over 240 s"})
            break
        try:
            outcomes.append(session(number))
        except ConnectionRefusedError:
            outcomes.append("refused")
        except Drained as ended:
            outcomes.append("drained: " + str(ended))
        except Exception as error:  # every other ending is a failure, with its reason
            outcomes.append("failed")
            failures.append({"session": number, "error": f"{type(error).__name__}: {error}"})
    replacer.join()
    new = events.get("B")
    exited_at = events.get("A exited at", len(outcomes))
    result = {
        "seed": seed,
        "migrate": migrate,
        "sessions": len(outcomes),
        "replaceAfter": replace_after,
        "events": {k: v for k, v in events.items() if k != "B"},
        "servedByA": outcomes.count(prefix + "-A"),
        "servedByB": outcomes.count(prefix + "-B"),
        "servedByAAfterItsExit": outcomes[exited_at:].count(prefix + "-A"),
        "drained": [o for o in outcomes if o.startswith("drained")],
        "refused": outcomes.count("refused"),
        "failed": failures,
        "stderrA": old.lines[-20:],
    }
    if new is not None:
        new.process.send_signal(signal.SIGTERM)
        try:
            result["B exit"] = new.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            new.process.kill()
            result["B exit"] = "still running after 15 s"
        result["stderrB"] = new.lines[-20:]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One wsbridge server run by a test driver (reuseport_restart.py, nginx_cluster.py,
redis_fanout.py): its stderr collected line by line, its startup line awaited, its port read from
that line, and its end by SIGTERM with the exit status reported."""
import base64
import os
import signal
import socket
import struct
import subprocess
import threading


def upgrade_request(host, path="/"):
    """A WebSocket upgrade request (RFC 6455 §4.1) with a fresh random key, as bytes."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


async def read_frame(reader):
    """One unmasked frame from a server (RFC 6455 §5.2) off an asyncio stream: its first byte
    (FIN, RSV, opcode) and its payload."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", await reader.readexactly(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", await reader.readexactly(8))[0]
    return first, await reader.readexactly(length)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Instance:
    """`binary ARGUMENTS`, with `--loglevel=info` so that the startup line is logged."""

    def __init__(self, binary, arguments, tag):
        self.tag = tag
        self.lines = []
        self.port = None
        self.listening = threading.Event()
        self.process = subprocess.Popen([binary, "--loglevel=info"] + arguments,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self):
        for raw in self.process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if "listening on 127.0.0.1:" in line and self.port is None:
                self.port = int(line.split("listening on 127.0.0.1:")[1].split(";")[0])
                self.listening.set()

    def wait_listening(self, seconds=15):
        if not self.listening.wait(seconds):
            raise SystemExit(f"{self.tag} did not start: {self.lines}")

    def stop(self, seconds=15):
        """SIGTERM unless it already ended; its exit status (negative: the signal that ended it)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return f"still running after {seconds} s"

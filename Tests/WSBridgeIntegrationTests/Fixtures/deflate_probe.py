#!/usr/bin/env python3
"""A permessage-deflate peer (RFC 7692) for wsbridge's integration tests (SPEC §6), written with
Python's standard library only (socket, zlib), so that the server's compression is checked against
an implementation other than its own.

Each mode prints one JSON object on stdout; diagnostics go to stderr.

  offer    send an upgrade with the given Sec-WebSocket-Extensions lines (--extensions, repeatable),
           report the status and the answer's Sec-WebSocket-Extensions (null when absent)
  echo     negotiate, then send --count seeded random text messages (JSON-like lines of 0 B to
           8 KiB; compressed or not, whole or in fragments with pings between them) and check that
           every echo of line-framed `cat` comes back equal and in order; report wire and payload
           byte counts and how many echoes were compressed
  bomb     negotiate, then send one compressed text message that would inflate to --inflated-mib
           MiB of 'a', in frames of --frame-bytes, until the server stops reading or closes;
           report the bytes sent, the close code, and how long the server took
  bad      negotiate, then send one malformed message (--kind: invalid-utf8 inside compressed
           text, rsv1-continuation, corrupt deflate data) and report the close code
"""

import argparse
import base64
import json
import os
import random
import select
import socket
import struct
import sys
import time
import zlib

TAIL = b"\x00\x00\xff\xff"


def emit(**fields):
    sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
    sys.stdout.flush()


class Peer:
    def __init__(self, port, path, extensions, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inbound = b""
        self.wire_in = 0
        self.wire_out = 0
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"Sec-WebSocket-Extensions: {value}" for value in extensions]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.inbound:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed during the handshake")
            self.inbound += chunk
        head, self.inbound = self.inbound.split(b"\r\n\r\n", 1)
        head_lines = head.decode("latin-1").split("\r\n")
        self.status = int(head_lines[0].split(" ")[1])
        self.headers = {}
        for line in head_lines[1:]:
            name, _, value = line.partition(":")
            self.headers.setdefault(name.strip().lower(), []).append(value.strip())
        answers = self.headers.get("sec-websocket-extensions", [])
        self.extension = answers[0] if len(answers) == 1 else (None if not answers else answers)
        self.params = parse_params(self.extension) if isinstance(self.extension, str) else None

    # -- the agreed parameters, as a client applies them --
    def compressor_factory(self):
        bits = int(self.params.get("client_max_window_bits") or 15)
        return lambda: zlib.compressobj(6, zlib.DEFLATED, -max(bits, 9))

    def decompressor_factory(self):
        bits = int(self.params.get("server_max_window_bits") or 15)
        return lambda: zlib.decompressobj(-bits)

    # -- frames --
    def send_frame(self, opcode, payload, fin=True, rsv1=False):
        data = frame_bytes(opcode, payload, fin, rsv1)
        self.sock.sendall(data)
        self.wire_out += len(data)

    def read_exact(self, count):
        while len(self.inbound) < count:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("the server ended the connection")
            self.inbound += chunk
            self.wire_in += len(chunk)
        data, self.inbound = self.inbound[:count], self.inbound[count:]
        return data

    def read_frame(self):
        first, second = self.read_exact(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self.read_exact(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self.read_exact(8))[0]
        if second & 0x80:
            raise ValueError("the server masked a frame")
        return bool(first & 0x80), bool(first & 0x40), first & 0x0F, self.read_exact(length)

    def close_code(self, timeout):
        """Reads until the server's close frame; its code, or None if the stream ended first."""
        self.sock.settimeout(timeout)
        try:
            while True:
                _, _, opcode, payload = self.read_frame()
                if opcode == 8:
                    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        except (EOFError, ConnectionError, socket.timeout):
            return None


def xor_mask(payload, mask):
    count = len(payload)
    key = int.from_bytes(mask * 2, "little")
    words = count // 8
    data = bytearray(payload)
    view = memoryview(data)
    if words:
        ints = memoryview(bytearray(view[:words * 8])).cast("Q")
        for i in range(words):
            ints[i] ^= key
        view[:words * 8] = ints.cast("B")
    for i in range(words * 8, count):
        data[i] ^= mask[i % 4]
    return bytes(data)


def parse_params(value):
    parts = [part.strip() for part in value.split(";")]
    params = {}
    for part in parts[1:]:
        name, _, arg = part.partition("=")
        params[name.strip()] = arg.strip().strip('"') or True
    return params


def random_line(rng):
    kind = rng.randrange(4)
    if kind == 0:
        return "x" * rng.randrange(0, 40)
    if kind == 1:
        size = rng.randrange(64, 8192)
        fields = []
        while sum(len(f) for f in fields) < size:
            fields.append('{"ts":%d,"host":"web-%d","cpu":%.3f,"tags":["a","b"]}' % (
                1733150000000 + rng.randrange(10 ** 6), rng.randrange(9), rng.random()))
        return ",".join(fields)[:size]
    if kind == 2:
        return "".join(rng.choice("αβγ€😀 abc") for _ in range(rng.randrange(1, 600)))
    return "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randrange(100, 3000)))


def mode_echo(args, peer):
    if peer.params is None:
        emit(ok=False, error="not negotiated", extension=peer.extension)
        return
    rng = random.Random(args.seed)
    client_takeover = "client_no_context_takeover" not in peer.params
    server_takeover = "server_no_context_takeover" not in peer.params
    make_compressor = peer.compressor_factory()
    make_decompressor = peer.decompressor_factory()
    compressor = make_compressor()
    decompressor = make_decompressor()
    sent = []
    compressed_sent = 0
    for _ in range(args.count):
        text = random_line(rng)
        payload = text.encode()
        compress = rng.random() < 0.8
        if compress:
            if not client_takeover:
                compressor = make_compressor()
            data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
            assert data.endswith(TAIL)
            data = data[:-4]
            compressed_sent += 1
        else:
            data = payload
        pieces = 1 if rng.random() < 0.6 or len(data) < 4 else rng.randrange(2, 5)
        cuts = sorted(rng.sample(range(1, len(data)), pieces - 1)) if pieces > 1 else []
        bounds = [0] + cuts + [len(data)]
        for index in range(pieces):
            if index > 0 and rng.random() < 0.5:
                peer.send_frame(0x9, b"ping-%d" % index)
            peer.send_frame(0x1 if index == 0 else 0x0, data[bounds[index]:bounds[index + 1]],
                            fin=index == pieces - 1, rsv1=compress and index == 0)
        sent.append(text)
    received = []
    compressed_received = 0
    uncompressed_long = 0
    compressed_short = 0
    # wsbridge's thresholds (SPEC §6: short messages go out uncompressed): 8 bytes while it keeps
    # its context, 32 when each message starts afresh.
    threshold = 8 if server_takeover else 32
    payload_in = 0
    peer.sock.settimeout(args.timeout)
    message = b""
    message_compressed = False
    while len(received) < len(sent):
        fin, rsv1, opcode, payload = peer.read_frame()
        if opcode in (0x9, 0xA):
            continue
        if opcode == 0x8:
            emit(ok=False, error="closed early", code=struct.unpack("!H", payload[:2])[0] if payload else None,
                 received=len(received))
            return
        if opcode in (0x1, 0x2):
            message = b""
            message_compressed = rsv1
        elif rsv1:
            emit(ok=False, error="RSV1 on a continuation frame")
            return
        message += payload
        if not fin:
            continue
        if message_compressed:
            if not server_takeover:
                decompressor = make_decompressor()
            message = decompressor.decompress(message + TAIL)
            compressed_received += 1
            if len(message) < threshold:
                compressed_short += 1
        elif len(message) >= threshold:
            uncompressed_long += 1
        payload_in += len(message)
        received.append(message.decode())
    mismatches = [i for i, (a, b) in enumerate(zip(sent, received)) if a != b]
    peer.send_frame(0x8, struct.pack("!H", 1000))
    code = peer.close_code(args.timeout)
    emit(ok=not mismatches and code == 1000, sent=len(sent), received=len(received), mismatches=mismatches[:5],
         compressed_sent=compressed_sent, compressed_received=compressed_received,
         uncompressed_long=uncompressed_long, compressed_short=compressed_short, payload_in=payload_in, wire_in=peer.wire_in, close=code,
         extension=peer.extension)


def mode_bomb(args, peer):
    if peer.params is None:
        emit(ok=False, error="not negotiated", extension=peer.extension)
        return
    compressor = peer.compressor_factory()()
    block = b"a" * (1 << 20)
    pending = b""
    sent = 0
    frames = 0
    started = time.monotonic()
    peer.sock.setblocking(False)
    stalled_since = None
    closed_by_server = False
    produced = 0
    finished_input = False
    while True:
        while len(pending) < args.frame_bytes and not finished_input:
            if produced < args.inflated_mib:
                pending += compressor.compress(block)
                produced += 1
            else:
                pending += compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
                finished_input = True
        last = finished_input and len(pending) <= args.frame_bytes
        chunk, pending = pending[:args.frame_bytes], pending[args.frame_bytes:]
        data = frame_bytes(0x1 if frames == 0 else 0x0, chunk, fin=last, rsv1=frames == 0)
        offset = 0
        while offset < len(data):
            readable, writable, _ = select.select([peer.sock], [peer.sock], [], 0.2)
            if readable:
                closed_by_server = True
                break
            if writable:
                try:
                    offset += peer.sock.send(data[offset:])
                    stalled_since = None
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    closed_by_server = True
                    break
            elif stalled_since is None:
                stalled_since = time.monotonic()
            elif time.monotonic() - stalled_since > args.stall_seconds:
                break
        sent += offset
        frames += 1
        if closed_by_server or offset < len(data) or last:
            break
    stalled = not closed_by_server and stalled_since is not None
    peer.sock.setblocking(True)
    code = peer.close_code(args.timeout) if not stalled else None
    emit(ok=True, compressed_sent=sent, frames=frames, close=code, stalled=stalled,
         seconds=round(time.monotonic() - started, 3), extension=peer.extension)
    if stalled and args.hold:
        sys.stdin.read()


def frame_bytes(opcode, payload, fin, rsv1):
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + mask + xor_mask(payload, mask)


def mode_bad(args, peer):
    if peer.params is None:
        emit(ok=False, error="not negotiated", extension=peer.extension)
        return
    compressor = peer.compressor_factory()()
    if args.kind == "invalid-utf8":
        data = compressor.compress(b"valid start \xc3\x28 then invalid") + compressor.flush(zlib.Z_SYNC_FLUSH)
        peer.send_frame(0x1, data[:-4], rsv1=True)
    elif args.kind == "rsv1-continuation":
        data = compressor.compress(b"hello there") + compressor.flush(zlib.Z_SYNC_FLUSH)
        peer.send_frame(0x1, data[:4], fin=False, rsv1=True)
        peer.send_frame(0x0, data[4:-4], fin=True, rsv1=True)
    elif args.kind == "corrupt":
        peer.send_frame(0x1, b"\xff\xff\xff\xff\x00garbage", rsv1=True)
    else:
        raise SystemExit(f"unknown kind {args.kind}")
    emit(ok=True, close=peer.close_code(args.timeout), extension=peer.extension)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["offer", "echo", "bomb", "bad"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--extensions", action="append", default=[])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=20)
    parser.add_argument("--inflated-mib", type=int, default=1024)
    parser.add_argument("--frame-bytes", type=int, default=1024)
    parser.add_argument("--stall-seconds", type=float, default=2)
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--kind", default="invalid-utf8")
    args = parser.parse_args()
    peer = Peer(args.port, args.path, args.extensions, args.timeout)
    if args.mode == "offer":
        emit(ok=True, status=peer.status, extension=peer.extension)
    elif args.mode == "echo":
        mode_echo(args, peer)
    elif args.mode == "bomb":
        mode_bomb(args, peer)
    else:
        mode_bad(args, peer)


if __name__ == "__main__":
    main()

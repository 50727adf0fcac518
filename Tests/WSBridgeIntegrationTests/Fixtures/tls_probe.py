#!/usr/bin/env python3
"""A TLS peer for wsbridge's integration tests (SPEC §10), written with Python's standard library
only, so that the server's TLS is checked against an implementation other than its own.

Every mode prints JSON objects, one a line, on stdout; diagnostics go to stderr.

  handshake  connect, handshake, send one HTTP request, read the answer, report everything
             (version, cipher, ALPN, whether the server asked for a certificate, the status)
  relay      fd 0 is a connected stream socket: after the handshake (reported first) every byte
             read from fd 0 goes out over TLS and every byte of plaintext from the server comes
             back on fd 0, so the Swift WebSocket test client can talk wss:// through it
  hello      print one ClientHello as hex (for tests that send a part of it themselves)
  flood      upgrade to a WebSocket on --path, then send 64 KiB text lines in records of the
             maximum size (16 KiB of plaintext) until the server stops taking them;
             report, hold the connection until stdin ends, then close
  keyupdates TLS 1.3 KeyUpdate requests for --seconds, never reading the answers
             (--not-requested: KeyUpdates that ask for none)
  abandon    open --count connections and abandon each handshake at a random point (seeded)
"""

import argparse
import base64
import json
import os
import random
import select
import selectors
import socket
import ssl
import sys
import time
import warnings

# Asking for TLS 1.0 and 1.1 on purpose (to see them refused) is what the warning is about.
warnings.filterwarnings("ignore", category=DeprecationWarning)

VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def emit(**fields):
    sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
    sys.stdout.flush()


def make_context(args):
    """A client context as the options say; records every handshake message the server sends."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if args.cafile:
        context.load_verify_locations(args.cafile)
        context.check_hostname = bool(args.sni)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if args.min_version or args.max_version:
        # TLS 1.0 and 1.1 are refused by OpenSSL 3's default security level on the client side
        # too: lower it so that the old ClientHello really reaches the server.
        # The system's configuration may raise the minimum to TLS 1.2 as well.
        if args.max_version in ("1.0", "1.1"):
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            if not args.min_version:
                context.minimum_version = VERSIONS[args.max_version]
    if args.min_version:
        context.minimum_version = VERSIONS[args.min_version]
    if args.max_version:
        context.maximum_version = VERSIONS[args.max_version]
    if args.cert:
        context.load_cert_chain(args.cert, args.key)
    if args.alpn:
        context.set_alpn_protocols(args.alpn.split(","))
    received = []

    def record(connection, direction, version, content_type, message_type, data):
        if direction == "read" and content_type == ssl._TLSContentType.HANDSHAKE:
            received.append(int(message_type))

    # CPython's message callback (used by its own test suite) sees the handshake messages after
    # decryption, so a TLS 1.3 CertificateRequest shows as well as a TLS 1.2 one.
    context._msg_callback = record
    return context, received


def connect(args):
    deadline = time.monotonic() + args.timeout
    raw = socket.create_connection((args.host, args.port), timeout=args.timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return raw, deadline


def describe(tls, received):
    """The facts of an established connection."""
    peer = tls.getpeercert() or {}
    subject = dict(item[0] for item in peer.get("subject", ()))
    cipher = tls.cipher()
    return {
        "version": tls.version(),
        "cipher": cipher[0] if cipher else None,
        "alpn": tls.selected_alpn_protocol(),
        "certificate_requested": int(ssl._TLSMessageType.CERTIFICATE_REQUEST) in received,
        "peer_common_name": subject.get("commonName"),
        "peer_serial": peer.get("serialNumber"),
        "session_reused": tls.session_reused,
    }


def previous_session(context, args):
    """With --resume: a first connection whose session (a TLS 1.3 ticket arrives after the
    handshake, so one whole answer is read) the real connection then resumes."""
    if not args.resume:
        return None
    raw, deadline = connect(args)
    tls = context.wrap_socket(raw, server_hostname=args.sni)
    host = args.host_header if args.host_header is not None else (args.sni or args.host)
    tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    read_response(tls, deadline)
    session = tls.session
    tls.close()
    if args.pause:
        # Let the test change the server (a SIGHUP) between the two connections.
        emit(first=True, version=tls.version())
        sys.stdin.readline()
    return session


def read_response(tls, deadline):
    """One HTTP response: the head, then Content-Length bytes or everything up to the end."""
    data = b""
    while b"\r\n\r\n" not in data:
        tls.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = tls.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        tls.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = tls.recv(65536)
        except ssl.SSLZeroReturnError:
            break
        if not chunk:
            break
        body += chunk
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return {"status": status, "status_line": lines[0], "headers": headers, "body": body.decode("utf-8", "replace")}


def handshake_mode(args):
    context, received = make_context(args)
    try:
        session = previous_session(context, args)
        received.clear()
        raw, deadline = connect(args)
    except (ssl.SSLError, OSError) as error:
        emit(ok=False, stage="connect", error=f"{type(error).__name__}: {error}")
        return 1
    stage = "handshake"
    facts = {}
    try:
        tls = context.wrap_socket(raw, server_hostname=args.sni, session=session)
        facts = describe(tls, received)
        # TLS 1.3: the client finishes its handshake before the server has checked its
        # certificate; a refusal arrives as an alert on the first read.
        stage = "request"
        host = args.host_header if args.host_header is not None else (args.sni or args.host)
        request = f"GET {args.path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        tls.sendall(request.encode())
        response = read_response(tls, deadline)
        facts["certificate_requested"] = int(ssl._TLSMessageType.CERTIFICATE_REQUEST) in received
        emit(ok=True, response=response, **facts)
        tls.close()
        return 0
    except (ssl.SSLError, OSError) as error:
        facts["certificate_requested"] = int(ssl._TLSMessageType.CERTIFICATE_REQUEST) in received
        emit(ok=False, stage=stage, error=f"{type(error).__name__}: {error}", **facts)
        return 1


def relay_mode(args):
    plain = socket.socket(fileno=os.dup(0))
    context, received = make_context(args)
    try:
        session = previous_session(context, args)
        received.clear()
        raw, _ = connect(args)
        tls = context.wrap_socket(raw, server_hostname=args.sni, session=session)
    except (ssl.SSLError, OSError) as error:
        emit(ok=False, error=f"{type(error).__name__}: {error}")
        return 1
    emit(ok=True, **describe(tls, received))
    ending = relay(tls, plain)
    emit(end=ending)
    return 0


def relay(tls, plain):
    """Copies both ways without blocking either: each direction reads only while the other side
    takes what it holds, so backpressure passes through. Returns how it ended."""
    limit = 256 * 1024
    tls.setblocking(False)
    plain.setblocking(False)
    to_tls = bytearray()
    to_plain = bytearray()
    # A TLS write that wanted to wait is retried with the same length (OpenSSL's rule).
    tls_attempt = 0
    tls_ended = plain_ended = False
    tls_shut = plain_shut = False
    ending = None
    selector = selectors.DefaultSelector()
    while True:
        # Server → client.
        while not tls_ended and len(to_plain) < limit:
            try:
                data = tls.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except ssl.SSLZeroReturnError:
                data = b""
            except (ssl.SSLError, OSError) as error:
                ending = ending or f"server side: {type(error).__name__}: {error}"
                data = b""
            if not data:
                tls_ended = True
                ending = ending or "server ended"
                break
            to_plain += data
        while to_plain:
            try:
                sent = plain.send(to_plain)
            except BlockingIOError:
                break
            except OSError as error:
                return f"client side: {error}"
            del to_plain[:sent]
        if tls_ended and not to_plain and not plain_shut:
            plain_shut = True
            try:
                plain.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        # Client → server.
        while not plain_ended and len(to_tls) < limit:
            try:
                data = plain.recv(65536)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                plain_ended = True
                break
            to_tls += data
        while to_tls and not tls_ended:
            size = tls_attempt or min(len(to_tls), 16384)
            try:
                sent = tls.send(to_tls[:size])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                tls_attempt = size
                break
            except (ssl.SSLError, OSError) as error:
                ending = ending or f"server side: {type(error).__name__}: {error}"
                tls_ended = True
                to_tls.clear()
                break
            tls_attempt = 0
            del to_tls[:sent]
        if plain_ended and not to_tls and not tls_shut:
            tls_shut = True
            # close_notify, then the TCP FIN; the server's answer may still arrive.
            try:
                tls.unwrap()
            except (ssl.SSLError, OSError, ValueError):
                pass
            try:
                socket.socket.shutdown(tls, socket.SHUT_WR)
            except OSError:
                pass
            if tls._sslobj is None:
                tls_ended = True
        if plain_ended and tls_ended and not to_plain:
            return ending or "both ended"
        interest_tls = (0 if tls_ended or len(to_plain) >= limit else selectors.EVENT_READ) | \
            (selectors.EVENT_WRITE if to_tls and not tls_ended else 0)
        interest_plain = (0 if plain_ended or len(to_tls) >= limit else selectors.EVENT_READ) | \
            (selectors.EVENT_WRITE if to_plain else 0)
        for sock, interest in ((tls, interest_tls), (plain, interest_plain)):
            try:
                selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            if interest:
                selector.register(sock, interest)
        if not selector.get_map():
            return ending or "stuck"
        selector.select(timeout=1.0)


def client_hello(context, sni):
    """The bytes of one ClientHello, made with memory BIOs (nothing is sent anywhere)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    connection = context.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        connection.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return connection, incoming, outgoing, outgoing.read()


def hello_mode(args):
    context, _ = make_context(args)
    _, _, _, hello = client_hello(context, args.sni)
    emit(hello=hello.hex())
    return 0


def flood_mode(args):
    context, received = make_context(args)
    try:
        raw, deadline = connect(args)
        tls = context.wrap_socket(raw, server_hostname=args.sni)
        key = base64.b64encode(os.urandom(16)).decode()
        tls.sendall((f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            tls.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = tls.recv(4096)
            if not chunk:
                raise OSError("the server ended the connection before its 101")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise OSError(f"no 101: {head[:200]!r}")
        # The fixture's first line, its pid: one unmasked text frame.
        while len(rest) < 2 or len(rest) < 2 + (rest[1] & 0x7F):
            tls.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = tls.recv(4096)
            if not chunk:
                raise OSError("the server ended the connection before the child's pid")
            rest += chunk
        pid = int(rest[2:2 + (rest[1] & 0x7F)].decode())
    except (ssl.SSLError, OSError, ValueError) as error:
        emit(ok=False, error=f"{type(error).__name__}: {error}")
        return 1
    # Text frames of 64 KiB, each a line of 65,527 bytes ending in a newline, masked with zeros:
    # sent in pieces of 16 KiB, each piece is one record of the largest size (RFC 8446 §5.1).
    payload = b"x" * 65527 + b"\n"
    frame = bytes([0x81, 0xFE]) + len(payload).to_bytes(2, "big") + bytes(4) + payload
    assert len(frame) == 4 * 16384
    records_of_frame = [frame[offset:offset + 16384] for offset in range(0, len(frame), 16384)]
    tls.setblocking(False)
    sent = records = 0
    started = time.monotonic()
    last_progress = started
    limit = args.flood_limit
    while sent < limit:
        try:
            count = tls.send(records_of_frame[records % 4])
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            if time.monotonic() - last_progress > args.stall:
                break
            select.select([], [tls], [], 0.05)
            continue
        except (ssl.SSLError, OSError) as error:
            emit(ok=False, pid=pid, sent=sent, records=records, error=f"{type(error).__name__}: {error}")
            return 1
        # A partial write does not happen: Python's SSLSocket.send writes a record whole.
        sent += count
        records += 1
        last_progress = time.monotonic()
    emit(ok=True, pid=pid, sent=sent, records=records, stalled=sent < limit,
         seconds=round(time.monotonic() - started, 3))
    # Hold the connection, every buffer full, until the test says (stdin ends). Then reset it:
    # a FIN would wait behind the megabytes still queued here for a window the server keeps
    # closed, so the server could not see the client leave (TCP, not wsbridge).
    sys.stdin.read()
    tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, (1).to_bytes(4, "little") + (0).to_bytes(4, "little"))
    socket.socket.close(tls)
    return 0


def keyupdates_mode(args):
    """TLS 1.3 KeyUpdate requests (RFC 8446 §4.6.3: each obliges the server to send a KeyUpdate
    of its own) sent for --seconds without reading anything back, after an upgrade on --path
    unless --path is empty. Python's ssl module cannot send a KeyUpdate, so this mode drives the
    system's libssl through ctypes (both in the standard library and the system)."""
    import ctypes
    import ctypes.util
    import struct
    libssl = ctypes.CDLL(ctypes.util.find_library("ssl") or "libssl.so.3", use_errno=True)
    pointer = ctypes.c_void_p
    libssl.TLS_client_method.restype = pointer
    libssl.SSL_CTX_new.restype = pointer
    libssl.SSL_CTX_new.argtypes = [pointer]
    libssl.SSL_CTX_ctrl.restype = ctypes.c_long
    libssl.SSL_CTX_ctrl.argtypes = [pointer, ctypes.c_int, ctypes.c_long, pointer]
    libssl.SSL_new.restype = pointer
    libssl.SSL_new.argtypes = [pointer]
    libssl.SSL_set_fd.argtypes = [pointer, ctypes.c_int]
    libssl.SSL_connect.argtypes = [pointer]
    libssl.SSL_write.argtypes = [pointer, ctypes.c_char_p, ctypes.c_int]
    libssl.SSL_read.argtypes = [pointer, ctypes.c_char_p, ctypes.c_int]
    libssl.SSL_key_update.argtypes = [pointer, ctypes.c_int]
    libssl.SSL_do_handshake.argtypes = [pointer]
    libssl.SSL_get_error.argtypes = [pointer, ctypes.c_int]
    context = libssl.SSL_CTX_new(libssl.TLS_client_method())
    libssl.SSL_CTX_ctrl(context, 123, 0x0304, None)  # SSL_CTX_set_min_proto_version(TLS1_3_VERSION)
    sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
    sock.settimeout(None)
    # Blocking, as libssl expects, but a write that the server leaves waiting gives up.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 2, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(args.timeout), 0))
    connection = libssl.SSL_new(context)
    libssl.SSL_set_fd(connection, sock.fileno())
    if libssl.SSL_connect(connection) != 1:
        emit(ok=False, error="the TLS 1.3 handshake failed")
        return 1
    pid = None
    if args.path:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        libssl.SSL_write(connection, request, len(request))
        data = b""
        buffer = ctypes.create_string_buffer(4096)
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < 2:
            count = libssl.SSL_read(connection, buffer, 4096)
            if count <= 0:
                emit(ok=False, error="no 101")
                return 1
            data += buffer.raw[:count]
        if not data.startswith(b"HTTP/1.1 101"):
            emit(ok=False, error=f"no 101: {data[:100]!r}")
            return 1
        rest = data.partition(b"\r\n\r\n")[2]
        pid = int(rest[2:2 + (rest[1] & 0x7F)].decode())
    updates = 0
    ending = "time"
    error = 0
    started = time.monotonic()
    while time.monotonic() - started < args.seconds:
        # SSL_KEY_UPDATE_REQUESTED (1), or with --not-requested SSL_KEY_UPDATE_NOT_REQUESTED (0):
        # those need no answer, so only the work of reading them is asked of the server.
        if libssl.SSL_key_update(connection, 0 if args.not_requested else 1) != 1:
            ending = "refused by libssl"
            break
        result = libssl.SSL_do_handshake(connection)
        if result != 1:
            error = libssl.SSL_get_error(connection, result)
            # SSL_ERROR_SYSCALL with EAGAIN: the send timeout (the server stopped reading).
            ending = "stalled" if ctypes.get_errno() in (11,) else "dropped"
            break
        updates += 1
        if args.pause_us:
            # Paced: each record reaches the server on its own, so every read there is short.
            time.sleep(args.pause_us / 1e6)
    emit(ok=True, pid=pid, updates=updates, ended=ending, ssl_error=error, seconds=round(time.monotonic() - started, 3))
    sock.close()
    return 0


def abandon_mode(args):
    """--count handshakes, each abandoned at a random point of a random flight; the seed makes
    the whole run repeatable. Each connection then ends with a FIN, a reset, or stays open for a
    moment first (a few at a time)."""
    rng = random.Random(args.seed)
    contexts = {}
    for version in ("1.2", "1.3"):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.maximum_version = VERSIONS[version]
        contexts[version] = context
    counts = {}
    lingering = []  # (close at, socket)
    started = time.monotonic()

    def count(key):
        counts[key] = counts.get(key, 0) + 1

    def reap(now, everything=False):
        keep = []
        for close_at, sock in lingering:
            if everything or close_at <= now:
                sock.close()
            else:
                keep.append((close_at, sock))
        lingering[:] = keep

    for index in range(args.count):
        version = rng.choice(("1.2", "1.3"))
        # 0: the ClientHello; 1: the client's second flight; 2: an HTTP request after the handshake.
        flight = rng.choice((0, 0, 1, 1, 2))
        fraction = rng.random()
        corrupt = rng.random() < 0.15
        read_first = rng.random() < 0.5
        ending = rng.choice(("fin", "reset", "linger"))
        linger_for = rng.uniform(0.0, 0.2)
        reap(time.monotonic())
        connection, incoming, outgoing, hello = client_hello(contexts[version], "localhost")
        sock = socket.create_connection((args.host, args.port), timeout=2.0)
        reached = "hello"
        try:
            if flight == 0:
                prefix = bytearray(hello[:int(len(hello) * fraction)])
                if corrupt and prefix:
                    prefix[rng.randrange(len(prefix))] ^= 1 << rng.randrange(8)
                sock.sendall(prefix)
            else:
                sock.sendall(hello)
                second = b""
                done = False
                # Feed the server's flight to the client until it answers (or finishes).
                while not second and not done:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionError("the server closed during its flight")
                    incoming.write(data)
                    try:
                        connection.do_handshake()
                        done = True
                    except ssl.SSLWantReadError:
                        pass
                    second = outgoing.read()
                reached = "second flight"
                if flight == 1:
                    prefix = bytearray(second[:int(len(second) * fraction)])
                    if corrupt and prefix:
                        prefix[rng.randrange(len(prefix))] ^= 1 << rng.randrange(8)
                    sock.sendall(prefix)
                else:
                    sock.sendall(second)
                    while not done:
                        data = sock.recv(65536)
                        if not data:
                            raise ConnectionError("the server closed before finishing")
                        incoming.write(data)
                        try:
                            connection.do_handshake()
                            done = True
                        except ssl.SSLWantReadError:
                            pass
                        sock.sendall(outgoing.read())
                    reached = "established"
                    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    connection.write(request[:int(len(request) * fraction)] or b"G")
                    data = outgoing.read()
                    sock.sendall(data[:max(1, int(len(data) * rng.random()))])
            if read_first:
                sock.settimeout(0.01)
                try:
                    sock.recv(65536)
                except (socket.timeout, OSError):
                    pass
        except (OSError, ssl.SSLError) as error:
            count(f"error at {reached}: {type(error).__name__}")
        count(f"flight {flight}")
        if ending == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, (1).to_bytes(4, "little") + (0).to_bytes(4, "little"))
            sock.close()
        elif ending == "linger" and len(lingering) < 32:
            lingering.append((time.monotonic() + linger_for, sock))
        else:
            sock.close()
        count(ending)
    reap(0, everything=True)
    emit(ok=True, seed=args.seed, count=args.count, seconds=round(time.monotonic() - started, 3), counts=counts)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("handshake", "relay", "hello", "flood", "keyupdates", "abandon"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sni", default=None, help="server name to send and check (none: no SNI, no name check)")
    parser.add_argument("--cafile", default=None, help="verify the server against these CAs (none: no verification)")
    parser.add_argument("--cert", default=None)
    parser.add_argument("--key", default=None)
    parser.add_argument("--alpn", default=None, help="comma-separated protocols to offer")
    parser.add_argument("--min-version", choices=sorted(VERSIONS), default=None)
    parser.add_argument("--max-version", choices=sorted(VERSIONS), default=None)
    parser.add_argument("--path", default="/")
    parser.add_argument("--host-header", default=None, help="Host of the request (default: the SNI, else the address)")
    parser.add_argument("--resume", action="store_true", help="resume the session of a first connection (handshake, relay)")
    parser.add_argument("--pause", action="store_true", help="with --resume: wait for a line on stdin before resuming")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--stall", type=float, default=0.5, help="flood: stop after this long without progress")
    parser.add_argument("--flood-limit", type=int, default=256 << 20, help="flood: stop after this many bytes")
    parser.add_argument("--seconds", type=float, default=10.0, help="keyupdates: how long to send them")
    parser.add_argument("--not-requested", action="store_true", help="keyupdates: ask for no KeyUpdate back")
    parser.add_argument("--pause-us", type=int, default=0, help="keyupdates: microseconds to wait after each one")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    modes = {"handshake": handshake_mode, "relay": relay_mode, "hello": hello_mode, "flood": flood_mode,
             "keyupdates": keyupdates_mode, "abandon": abandon_mode}
    return modes[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())

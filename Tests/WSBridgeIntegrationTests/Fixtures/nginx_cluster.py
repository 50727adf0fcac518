#!/usr/bin/env python3
"""Three wsbridge instances behind Debian's nginx with scripts/nginx/wsbridge.conf (SPEC §15).

Starts the instances (each child greets with its instance's tag and its REMOTE_ADDR, then echoes),
rewrites the example configuration for this run (the three upstream ports, the two listen
addresses, the certificate; each of those strings must appear in it exactly once, so that the
example cannot drift from what is tested) and runs nginx with it. Then, with Python's own TLS:

1. CLIENTS wss:// clients from 127.0.0.5 through nginx: each greeting names an instance and the
   client's own address; each echoes one message, then again after idling longer than nginx's
   proxy_read_timeout (cut to 2 s here): the instances' pings (--pingms=500) keep them open;
2. SIGKILL to one instance: its clients' connections end, every other client still echoes;
3. NEW more clients: every one lands on a survivor;
4. plain http gets a 301 to https.

Prints one JSON report on stdout. Usage:
  nginx_cluster.py WSBRIDGE NGINX EXAMPLE_CONF CERT KEY CHILD PREFIX CLIENTS NEW
"""
import asyncio
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

from wsbridge_instance import Instance, free_port, read_frame, upgrade_request

CLIENT_ADDRESS = "127.0.0.5"


def configuration(example, upstreams, http_port, https_port, cert, key, folder):
    text = open(example).read()
    replacements = {
        "server 127.0.0.1:8081;": f"server 127.0.0.1:{upstreams[0]};",
        "server 127.0.0.1:8082;": f"server 127.0.0.1:{upstreams[1]};",
        "server 127.0.0.1:8083;": f"server 127.0.0.1:{upstreams[2]};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "/etc/ssl/certs/example.org.pem": cert,
        "/etc/ssl/private/example.org.key": key,
        "proxy_read_timeout 120s;": "proxy_read_timeout 2s;",
    }
    for old, new in replacements.items():
        if text.count(old) != 1:
            raise SystemExit(f"{example} has {text.count(old)} copies of {old!r}; the test rewrites exactly one")
        text = text.replace(old, new)
    site = os.path.join(folder, "wsbridge.conf")
    with open(site, "w") as f:
        f.write(text)
    main = os.path.join(folder, "nginx.conf")
    temp = os.path.join(folder, "tmp")
    os.makedirs(temp)
    with open(main, "w") as f:
        f.write(f"""daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 4096;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 2048; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {site};
}}
""")
    return main


class Client:
    """One wss:// session through nginx. Like a browser, it reads all the time: a task answers
    every ping at once and queues text messages; the connection's end queues None."""

    def __init__(self, number):
        self.number = number
        self.reader = None
        self.writer = None
        self.greeting = None
        self.messages = asyncio.Queue()
        self.closed = asyncio.Event()

    async def open(self, port, context):
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost", local_addr=(CLIENT_ADDRESS, 0))
        self.writer.write(upgrade_request(f"localhost:{port}", f"/?client={self.number}"))
        head = await self.reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"client {self.number}: {head[:200]!r}")
        self.task = asyncio.get_running_loop().create_task(self._read())
        self.greeting = await self.text()

    async def _read(self):
        try:
            while True:
                first, payload = await read_frame(self.reader)
                opcode = first & 0x0F
                if opcode == 9:
                    self.send(10, payload)
                elif opcode == 1:
                    self.messages.put_nowait(payload.decode())
                elif opcode == 8:
                    self.messages.put_nowait(f"<close {payload[:2].hex()} {payload[2:].decode(errors='replace')}>")
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            self.closed.set()
            self.messages.put_nowait(None)

    async def text(self):
        message = await self.messages.get()
        if message is None or message.startswith("<close "):
            raise RuntimeError(f"client {self.number}: ended ({message})")
        return message

    def send(self, opcode, payload):
        if self.writer.is_closing():
            return
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        self.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    async def echo(self, text):
        self.send(1, text.encode())
        answer = await self.text()
        if answer != text:
            raise RuntimeError(f"client {self.number}: echo {answer!r} for {text!r}")

    async def ended(self):
        """True once the connection ends (EOF, a reset or a close frame)."""
        await self.closed.wait()
        return True

    async def close(self):
        try:
            self.send(8, struct.pack("!H", 1000))
            await self.writer.drain()
            await asyncio.wait_for(self.closed.wait(), 5)
        finally:
            self.writer.close()


async def scenario(instances, https_port, http_port, count, new_count, report):
    context = ssl.create_default_context(cafile=sys.argv[4])
    tags = [instance.tag for instance in instances]

    async def open_client(number):
        client = Client(number)
        await asyncio.wait_for(client.open(https_port, context), 20)
        return client

    clients = []
    for start in range(0, count, 50):  # in waves, as users arrive
        clients += await asyncio.gather(*(open_client(n) for n in range(start, min(start + 50, count))))
    report["greetingsSeen"] = sorted({c.greeting.split(" ", 1)[1] for c in clients})
    report["spread"] = {tag: sum(1 for c in clients if c.greeting.split(" ")[0] == tag) for tag in tags}
    await asyncio.wait_for(asyncio.gather(*(c.echo(f"hello {c.number}") for c in clients)), 30)
    await asyncio.sleep(3)
    idle = await asyncio.gather(*(asyncio.wait_for(c.echo(f"still here {c.number}"), 10) for c in clients),
                                return_exceptions=True)
    report["echoAfterIdle"] = sum(1 for r in idle if r is None)
    report["idleErrors"] = [repr(r) for r in idle if r is not None][:5]

    victim = instances[1]
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(10)
    on_victim = [c for c in clients if c.greeting.startswith(victim.tag + " ")]
    survivors = [c for c in clients if not c.greeting.startswith(victim.tag + " ")]
    ended = await asyncio.gather(*(asyncio.wait_for(c.ended(), 10) for c in on_victim), return_exceptions=True)
    report["victimClients"] = len(on_victim)
    report["victimClientsEnded"] = sum(1 for e in ended if e is True)
    results = await asyncio.gather(*(asyncio.wait_for(c.echo(f"after {c.number}"), 10) for c in survivors),
                                   return_exceptions=True)
    report["survivorClients"] = len(survivors)
    report["survivorClientsEchoing"] = sum(1 for r in results if r is None)
    report["survivorErrors"] = [repr(r) for r in results if r is not None][:5]

    late = await asyncio.gather(*(open_client(count + n) for n in range(new_count)), return_exceptions=True)
    opened = [c for c in late if isinstance(c, Client)]
    report["newClientErrors"] = [repr(c) for c in late if not isinstance(c, Client)][:5]
    report["newSpread"] = {tag: sum(1 for c in opened if c.greeting.split(" ")[0] == tag) for tag in tags}
    await asyncio.gather(*(c.echo("new") for c in opened))

    closing = await asyncio.gather(*(c.close() for c in survivors + opened), return_exceptions=True)
    report["closeErrors"] = [repr(r) for r in closing if r is not None][:5]

    reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
    writer.write(b"GET /page?x=1 HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n")
    report["plainHTTP"] = (await reader.readuntil(b"\r\n\r\n")).decode(errors="replace").split("\r\n")
    writer.close()


def main():
    binary, nginx, example, cert, key, child, prefix = sys.argv[1:8]
    count, new_count = int(sys.argv[8]), int(sys.argv[9])
    report = {}
    arguments = ["--port=0", "--address=127.0.0.1", "--trustedproxy=127.0.0.1", "--pingms=500", child]
    instances = [Instance(binary, arguments + [f"{prefix}-{n}"], f"{prefix}-{n}") for n in range(3)]
    folder = tempfile.mkdtemp(prefix="wsb-nginx-cluster-")
    server = None
    try:
        for instance in instances:
            instance.wait_listening()
        http_port, https_port = free_port(), free_port()
        main_conf = configuration(example, [i.port for i in instances], http_port, https_port, cert, key, folder)
        server = subprocess.Popen([nginx, "-p", folder, "-c", main_conf],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("nginx did not listen: " + open(os.path.join(folder, "error.log")).read())
                time.sleep(0.05)
        asyncio.run(asyncio.wait_for(scenario(instances, https_port, http_port, count, new_count, report), 180))
    finally:
        report["exits"] = {instance.tag: instance.stop() for instance in instances}
        if server is not None:
            server.send_signal(signal.SIGQUIT)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            report["nginxErrors"] = [l for l in open(os.path.join(folder, "error.log")).read().splitlines()
                                     if "[emerg]" in l or "[alert]" in l][:5]
        subprocess.run(["rm", "-rf", folder])
    print(json.dumps(report))


if __name__ == "__main__":
    main()

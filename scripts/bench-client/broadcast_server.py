#!/usr/bin/env python3
"""The fan-out rows' comparison server: what `wsbridge --broadcast COMMAND` does, written the usual
way with Python's `websockets` (asyncio, `websockets.asyncio.server.broadcast`).

usage: broadcast_server.py [--clientqueue=BYTES] COMMAND [ARGS...]

Listens on 127.0.0.1 on a free port, which it prints on stdout (one line). Every WebSocket client
shares one COMMAND: it starts with the first client and is ended when the last one leaves; each
line of its stdout (less the newline) goes to every client as a text message. `broadcast()` never
waits, so a client whose write buffer holds more than --clientqueue bytes (default 1 MiB, as
wsbridge's) is closed with 1013 "too slow" instead of growing without bound. SIGTERM or SIGINT
ends the server and the child's process group.
"""
import asyncio
import os
import signal
import sys

from websockets.asyncio.server import broadcast, serve
from websockets.frames import CloseCode

CHUNK = 64 * 1024


class Hub:
    def __init__(self, argv, clientqueue):
        self.argv = argv
        self.clientqueue = clientqueue
        self.clients = set()
        self.proc = None
        self.pump_task = None
        self.lock = asyncio.Lock()

    async def handler(self, ws):
        self.clients.add(ws)
        async with self.lock:
            if self.proc is None:
                self.proc = await asyncio.create_subprocess_exec(
                    *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                    start_new_session=True)
                self.pump_task = asyncio.create_task(self.pump(self.proc))
        try:
            await ws.wait_closed()
        finally:
            self.clients.discard(ws)
            if not self.clients:
                await self.stop_child()

    async def pump(self, proc):
        rest = b""
        read = proc.stdout.read
        while True:
            chunk = await read(CHUNK)
            if not chunk:
                break
            if proc is not self.proc:  # being stopped: read on to EOF (see stop_child), send nothing
                continue
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            clients = self.clients
            for line in lines:
                broadcast(clients, line, text=True)
            for ws in [c for c in clients if c.transport.get_write_buffer_size() > self.clientqueue]:
                clients.discard(ws)
                asyncio.create_task(ws.close(CloseCode.TRY_AGAIN_LATER, "too slow"))
        if rest and proc is self.proc:
            broadcast(self.clients, rest, text=True)

    async def stop_child(self):
        async with self.lock:
            proc, task = self.proc, self.pump_task
            self.proc = self.pump_task = None
            if proc is None:
                return
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            # The pump reads on to EOF: before Python 3.12, Process.wait() returns only once every
            # pipe is closed, and a reader paused on a full buffer never sees EOF.
            await task
            await proc.wait()


async def main():
    args = sys.argv[1:]
    clientqueue = 1 << 20
    if args and args[0].startswith("--clientqueue="):
        clientqueue = int(args.pop(0).split("=", 1)[1])
    if not args:
        sys.exit("usage: broadcast_server.py [--clientqueue=BYTES] COMMAND [ARGS...]")
    hub = Hub(args, clientqueue)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with serve(hub.handler, "127.0.0.1", 0, backlog=1024) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await stop
    await hub.stop_child()


if __name__ == "__main__":
    asyncio.run(main())

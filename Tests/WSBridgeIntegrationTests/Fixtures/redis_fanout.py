#!/usr/bin/env python3
"""Fan-out across instances through Redis pub/sub, with no client code of ours (SPEC §15).

Starts Debian's redis-server on a free loopback port (no persistence, its files in a temporary
folder) and three wsbridge instances, each running exactly the README's command:

  wsbridge --broadcast redis-cli --raw subscribe news

CLIENTS WebSocket clients connect, spread evenly over the instances. Publishing starts once every
client has heard a warm-up message (so each has joined its instance's shared child); then COUNT
messages go out through one `redis-cli` reading PUBLISH commands from stdin. Every client must
receive every one of them, in order. `--raw` prints each message as three lines (`message`, the
channel, the payload); clients keep the payloads they recognise.

Prints one JSON report on stdout. Usage:
  redis_fanout.py WSBRIDGE REDIS_SERVER REDIS_CLI PREFIX CLIENTS COUNT
"""
import asyncio
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

from wsbridge_instance import Instance, free_port, read_frame, upgrade_request


class Client:
    def __init__(self, number, instance):
        self.number = number
        self.instance = instance
        self.lines = []

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.instance.port)
        self.writer.write(upgrade_request(f"127.0.0.1:{self.instance.port}"))
        head = await self.reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"client {self.number}: {head[:200]!r}")

    async def line(self):
        first, payload = await read_frame(self.reader)
        if first & 0x0F != 1:
            raise RuntimeError(f"client {self.number}: opcode {first & 0x0F} {payload[:40]!r}")
        return payload.decode()

    async def until(self, predicate):
        while True:
            text = await self.line()
            self.lines.append(text)
            if predicate(text):
                return text

    async def close(self):
        mask = os.urandom(4)
        self.writer.write(bytes([0x88, 0x82]) + mask + bytes(b ^ mask[i] for i, b in enumerate(struct.pack("!H", 1000))))
        await self.writer.drain()
        try:
            while True:
                first, second = await self.reader.readexactly(2)
                await self.reader.readexactly(second & 0x7F)
                if first & 0x0F == 8:
                    return
        except asyncio.IncompleteReadError:
            return
        finally:
            self.writer.close()


def is_payload(text):
    return len(text) == 5 and text[0] == "m" and text[1:].isdigit()


def redis_cli(cli, port, arguments, stdin=None):
    return subprocess.run([cli, "-p", str(port)] + arguments, input=stdin, capture_output=True, text=True, timeout=60).stdout


async def scenario(instances, cli, redis_port, clients_count, count, report):
    clients = [Client(n, instances[n % len(instances)]) for n in range(clients_count)]
    for start in range(0, clients_count, 50):
        await asyncio.wait_for(asyncio.gather(*(c.open() for c in clients[start:start + 50])), 20)
    # Each instance's child subscribes once its first client joined.
    deadline = time.monotonic() + 15
    while redis_cli(cli, redis_port, ["pubsub", "numsub", "news"]).split() != ["news", str(len(instances))]:
        if time.monotonic() > deadline:
            raise RuntimeError("the children did not all subscribe: " + redis_cli(cli, redis_port, ["pubsub", "numsub", "news"]))
        await asyncio.sleep(0.05)

    # A client accepted by one loop may join its child on another a moment later: warm-up
    # messages until every client has heard one.
    warmed = asyncio.gather(*(c.until(lambda t: t.startswith("warm-up ")) for c in clients))
    warm_ups = 0
    while not warmed.done():
        warm_ups += 1
        redis_cli(cli, redis_port, ["publish", "news", f"warm-up {warm_ups}"])
        await asyncio.wait([warmed], timeout=0.1)
        if warm_ups > 200:
            raise RuntimeError("not every client heard a warm-up message in 200 tries")
    warmed.result()
    report["warmUps"] = warm_ups

    started = time.monotonic()
    commands = "".join(f"PUBLISH news m{n:04d}\n" for n in range(count))
    publisher = asyncio.get_running_loop().run_in_executor(None, lambda: redis_cli(cli, redis_port, [], stdin=commands))
    last = f"m{count - 1:04d}"
    heard = await asyncio.gather(*(asyncio.wait_for(c.until(lambda t: t == last), 60) for c in clients), return_exceptions=True)
    report["seconds"] = round(time.monotonic() - started, 3)
    answers = (await publisher).split()
    report["publishAnswers"] = sorted(set(answers))
    report["publishCount"] = len(answers)
    report["timeouts"] = sum(1 for h in heard if isinstance(h, BaseException))
    expected = [f"m{n:04d}" for n in range(count)]
    wrong = []
    for client in clients:
        got = [t for t in client.lines if is_payload(t)]
        if got != expected:
            missing = sorted(set(expected) - set(got))
            wrong.append({"client": client.number, "received": len(got), "missing": missing[:5],
                          "inOrder": got == sorted(got)})
    report["clientsWithAll"] = clients_count - len(wrong)
    report["wrong"] = wrong[:5]
    # What else --raw printed: the subscription's confirmation, and two lines before each payload.
    report["otherLines"] = sorted({t for c in clients for t in c.lines if not is_payload(t) and not t.startswith("warm-up ")})
    await asyncio.gather(*(c.close() for c in clients))


def main():
    binary, server, cli, prefix = sys.argv[1:5]
    clients_count, count = int(sys.argv[5]), int(sys.argv[6])
    folder = tempfile.mkdtemp(prefix="wsb-redis-")
    redis_port = free_port()
    # The children's command lines name the port: the test looks for any left behind.
    report = {"redisPort": redis_port}
    redis = subprocess.Popen([server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                              "--dir", folder, "--daemonize", "no"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    instances = []
    try:
        deadline = time.monotonic() + 10
        while redis_cli(cli, redis_port, ["ping"]).strip() != "PONG":
            if time.monotonic() > deadline or redis.poll() is not None:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        command = [cli, "-p", str(redis_port), "--raw", "subscribe", "news"]
        arguments = ["--port=0", "--address=127.0.0.1", "--broadcast"] + command
        instances = [Instance(binary, arguments, f"{prefix}-{n}") for n in range(3)]
        for instance in instances:
            instance.wait_listening()
        asyncio.run(asyncio.wait_for(scenario(instances, cli, redis_port, clients_count, count, report), 180))
        # Each shared child gets its ladder once its last client left (--linger=0).
        deadline = time.monotonic() + 10
        while redis_cli(cli, redis_port, ["pubsub", "numsub", "news"]).split() != ["news", "0"] and time.monotonic() < deadline:
            time.sleep(0.05)
        report["subscribersAfterClients"] = redis_cli(cli, redis_port, ["pubsub", "numsub", "news"]).split()
    finally:
        report["exits"] = {instance.tag: instance.stop() for instance in instances}
        redis.send_signal(signal.SIGTERM)
        try:
            redis.wait(10)
        except subprocess.TimeoutExpired:
            redis.kill()
            redis.wait()
        subprocess.run(["rm", "-rf", folder])
    print(json.dumps(report))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Drives headless Chromium against a running wsbridge through the DevTools protocol (issue 5).

Usage: browser_test.py CHROMIUM WSBRIDGE FIXTURE_DIR EXAMPLES_DIR
Starts two wsbridge servers (each killed by PID at the end), then checks, in a real browser:
  1. the --devconsole page: a line typed in the page comes back through a child (cat);
  2. a child that exits 3 shows close code 4003 with reason "exit 3" in the CloseEvent;
  3. a page served by --staticdir loads and talks to a script run by --dir.
Every wait has a deadline. Exit status 0 when every check passes.
"""
import asyncio, json, os, re, shutil, signal, subprocess, sys, tempfile, time, urllib.request

import websockets

DEADLINE = 20.0


def start_wsbridge(binary, args):
    process = subprocess.Popen([binary, "--port=0", "--address=127.0.0.1", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + DEADLINE
    while time.time() < deadline:
        line = process.stderr.readline()
        match = re.search(r"(?:ws|http)://127\.0\.0\.1:(\d+)/", line)
        if match:
            # Keep draining stderr so the server never blocks on a full pipe.
            asyncio.get_event_loop().run_in_executor(None, lambda: [_ for _ in process.stderr])
            return process, int(match.group(1))
        if process.poll() is not None:
            break
    raise RuntimeError("wsbridge did not start: " + " ".join(args))


class Page:
    def __init__(self, socket):
        self.socket = socket
        self.next_id = 0

    async def call(self, method, **params):
        self.next_id += 1
        ident = self.next_id
        await self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            reply = json.loads(await asyncio.wait_for(self.socket.recv(), DEADLINE))
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    async def evaluate(self, expression):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression, what):
        deadline = time.time() + DEADLINE
        while time.time() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what} ({expression})")

    async def open(self, url):
        await self.call("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'", f"{url} to load")


async def run(chromium, wsbridge, fixtures, examples):
    profile = tempfile.mkdtemp(prefix="wsbridge-chromium-")
    browser = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                "--disable-dev-shm-usage", "--remote-debugging-port=0", f"--user-data-dir={profile}",
                                "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers = []
    failures = []
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + DEADLINE
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if time.time() > deadline or browser.poll() is not None:
                raise RuntimeError("chromium did not start")
            await asyncio.sleep(0.1)
        debug_port = int(open(port_file).read().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json/list", timeout=DEADLINE))
        page_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        console, console_port = start_wsbridge(wsbridge, ["--devconsole", f"--dir={fixtures}"])
        site, site_port = start_wsbridge(wsbridge, [f"--staticdir={examples}", f"--dir={examples}"])
        servers = [console, site]
        async with websockets.connect(page_url, max_size=None) as socket:
            page = Page(socket)
            await page.call("Runtime.enable")

            async def check(name, body):
                try:
                    await body()
                    print(f"browser-test: ok   {name}")
                except Exception as error:  # report every check, then fail
                    failures.append(name)
                    print(f"browser-test: FAIL {name}: {error}")

            async def devconsole_echo():
                await page.open(f"http://127.0.0.1:{console_port}/echo.sh")
                await page.wait_for("document.querySelector('#status').dataset.state === 'open'", "the console to connect")
                await page.evaluate("window.devconsole.send('hello from chromium')")
                text = await page.wait_for(
                    "[...document.querySelectorAll('#log .received')].map(e => e.textContent).join('|')",
                    "the echoed line")
                assert text == "hello from chromium", f"received {text!r}"

            async def exit_status():
                await page.open(f"http://127.0.0.1:{console_port}/exit3.sh")
                await page.wait_for("document.querySelector('#status').dataset.state === 'open'", "the console to connect")
                await page.evaluate("window.devconsole.send('x')")
                closed = await page.wait_for(
                    "(e => e && {code: e.dataset.code, reason: e.dataset.reason, text: e.textContent})"
                    "(document.querySelector('#log .closed'))", "the close event")
                assert closed["code"] == "4003" and closed["reason"] == "exit 3", f"close event {closed}"
                received = await page.evaluate(
                    "[...document.querySelectorAll('#log .received')].map(e => e.textContent).join('|')")
                assert received == "bye x", f"received {received!r}"

            async def static_page_talks_to_script():
                await page.open(f"http://127.0.0.1:{site_port}/")
                title = await page.evaluate("document.title")
                assert title == "wsbridge example", f"title {title!r}"
                await page.evaluate("document.getElementById('name').value = 'Chromium'; "
                                    "document.getElementById('greet').click()")
                text = await page.wait_for(
                    "[...document.querySelectorAll('#log .received')].map(e => e.textContent)"
                    ".find(t => t.startsWith('Hello, Chromium!'))", "the greeting")
                assert text.startswith("Hello, Chromium!"), text

            await check("--devconsole: a line sent from the page comes back through cat", devconsole_echo)
            await check("--devconsole: exit 3 shows CloseEvent 4003 \"exit 3\"", exit_status)
            await check("--staticdir page talks to a --dir script", static_page_talks_to_script)
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
        browser.terminate()
        try:
            browser.wait(timeout=5)
        except subprocess.TimeoutExpired:
            browser.kill()
        shutil.rmtree(profile, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(run(*sys.argv[1:5])))

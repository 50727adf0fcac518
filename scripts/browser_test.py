#!/usr/bin/env python3
"""Drives headless Chromium against a running wsbridge through the DevTools protocol (issues 5, 11, 12, 14, 15).

Usage: browser_test.py CHROMIUM WSBRIDGE FIXTURE_DIR EXAMPLES_DIR
Needs the `openssl`, `certutil` (libnss3-tools) and `htpasswd` (apache2-utils) commands, and
FIXTURE_DIR's echo.sh (cat), exit3.sh, whoami.sh (prints REMOTE_USER, AUTH_TYPE,
HTTP_AUTHORIZATION and HTTP_COOKIE in one line) and reply.sh (answers each line with "reply: LINE",
"pid" with "pid: $$", and "quit" with "bye" and exit 0). Makes a throwaway test CA and a server certificate
for 127.0.0.1/localhost signed by it, and a throwaway NSS database that trusts that CA (Chromium
reads $HOME/.pki/nssdb, so Chromium runs with HOME in a temporary directory); no certificate error
is ignored. Makes an htpasswd file with one bcrypt user (`htpasswd -B`). Starts wsbridge servers
(each killed by PID at the end), then checks, in a real browser:
  1. the --devconsole page: a line typed in the page comes back through a child (cat);
  2. a child that exits 3 shows close code 4003 with reason "exit 3" in the CloseEvent;
  3. a page served by --staticdir loads and talks to a script run by --dir;
  4. over --ssl, an https:// page served by --staticdir (location.protocol "https:", certificate
     issued by the test CA) opens wss:// to cat, gets its message back and closes with 1000: CloseEvent
     1000, wasClean;
  5. over --ssl, a wss:// child that exits 3: CloseEvent 4003 "exit 3", wasClean;
  6. the --devconsole page over https:// connects with wss:// and shows the clean 4003 close;
  7. a server whose certificate comes from a CA that is not in the NSS database is refused
     (net::ERR_CERT_AUTHORITY_INVALID), so the checks above passed through a verified chain;
  8. --basicauth with an htpasswd file (bcrypt, `htpasswd -B`): the page is loaded once with a user
     and password (given as a user would, through the DevTools Fetch domain's answer to the browser's
     auth challenge, which also caches them); its WebSocket, which no DevTools answer helps, gets in
     with the cached credentials: the script sees REMOTE_USER and AUTH_TYPE=Basic, not the password;
  9. --basicauth without credentials, or with a wrong password: 401 with the Basic challenge;
 10. --token: the startup URL wsbridge printed, opened once, sets an HttpOnly SameSite=Strict cookie;
     the page's WebSocket, whose URL has no token, gets in by it, and so does a later page load;
 11. --token without the token or its cookie, or with a wrong token: 401;
 12. --token: a page on another port of the same host opens a WebSocket to wsbridge, which carries the
     cookie (cookies ignore ports and the two are the same site: a raw listener in its place shows the
     cookie in the handshake), and the Origin check refuses it with 403 (cross-site WebSocket hijacking).
 13. --sessions (SPEC §13) with the --devconsole page, opened at /?session=NAME in several tabs, a line
     typed in each as a person would (Input.insertText, then Enter): pages A and B name one random
     NAME (a UUID, as crypto.randomUUID() makes) and a viewer page adds &view=1. A types, and A, B and
     the viewer all see the reply; all three see one child's PID, while a page naming another NAME
     has a child of its own and sees nothing of theirs. The viewer's typed line gets CloseEvent 1008
     and reaches no child. After A's tab closes, B still talks to the same child; a page that joins
     then and a new viewer see B's "quit" answered and, when the child exits 0, CloseEvent 1000
     (wasClean) in every page of the session, the other session untouched. The same NAME then starts
     a new child (another PID);
 14. --broadcast with the --devconsole page: two tabs on the same path, without names, share one child
     (one PID; one types, both see the reply), and both get CloseEvent 1000 when it exits 0.
Checks 8 to 12 run in their own browser contexts (as incognito windows: no cookies, no cached
credentials), so nothing one of them leaves behind helps another; check 13's other NAME does too.
Every wait has a deadline. Exit status 0 when every check passes.
"""
import asyncio, contextlib, json, os, re, shutil, signal, subprocess, sys, tempfile, time, urllib.parse, urllib.request, uuid

import websockets

DEADLINE = 20.0
CA_NAME = "wsbridge browser-test CA"
# The --basicauth user of checks 8 and 9; the password has a space, a colon and non-ASCII letters,
# which Chromium sends as UTF-8 (the challenge says charset="UTF-8").
USER, PASSWORD = "ann", "correct horse: bätterý"
# What whoami.sh prints for a request wsbridge let in by the --token cookie: nothing of the secret.
NOBODY = "user= auth= authorization= cookie="

# The page of checks 4, 5 and 8 to 12, served by --staticdir. `?script=NAME&send=TEXT[&close=CODE]`
# opens wss://HOST/NAME (ws:// when the page came over http://; NAME is whoami.sh when not given;
# HOST is the page's own unless `host=HOST:PORT` names another), sends TEXT once open when given,
# closes with CODE after the first message when asked, and records what happened in `window.result`.
# Other parameters (the startup URL's `token`) are ignored.
TEST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wsbridge socket test</title></head>
<body>
<script>
  const params = new URLSearchParams(location.search);
  const result = window.result = {protocol: location.protocol, url: null, received: [], close: null, errors: 0};
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const host = params.get("host") || location.host;
  const socket = new WebSocket(scheme + host + "/" + (params.get("script") || "whoami.sh"));
  result.url = socket.url;
  socket.onopen = () => { if (params.has("send")) socket.send(params.get("send")); };
  socket.onmessage = event => {
    result.received.push(event.data);
    if (params.has("close")) socket.close(Number(params.get("close")));
  };
  socket.onerror = () => { result.errors += 1; };
  socket.onclose = event => { result.close = {code: event.code, reason: event.reason, wasClean: event.wasClean}; };
</script>
</body></html>
"""

# The permessage-deflate page (SPEC §6): 1 MiB of JSON and 50 short lines through `cat`, each echo
# compared in the page; what Chromium agreed is in socket.extensions.
# The Server-Sent Events page (SPEC §12): an EventSource on exit3.sh, whose stdin gets one line by a
# fetch POST naming the session; the page closes the EventSource at `event: exit` (else it would
# reconnect after `retry:`) and records everything in `window.result`.
SSE_PAGE = """<!doctype html>
<meta charset="utf-8"><title>wsbridge SSE test</title>
<script>
window.result = {messages: [], ids: [], errors: 0};
const source = new EventSource("/exit3.sh");
source.addEventListener("session", async (event) => {
  window.result.session = event.data;
  const answer = await fetch("/exit3.sh", {method: "POST", headers: {"X-WSBridge-Session": event.data},
                                           body: "from fetch\\n"});
  window.result.postStatus = answer.status;
});
source.onmessage = (event) => { window.result.messages.push(event.data); window.result.ids.push(event.lastEventId); };
source.addEventListener("exit", (event) => { window.result.exit = JSON.parse(event.data); source.close(); });
source.onerror = () => { if (!window.result.exit) window.result.errors += 1; };
</script>
"""


DEFLATE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wsbridge deflate test</title></head>
<body>
<script>
  const result = window.result = {extensions: null, sent: 0, matched: 0, mismatched: 0, close: null};
  const records = [];
  for (let i = 0; i < 17000; i++) {  // about 65 bytes each: 1.1 MB
    records.push({ts: 1733150000000 + i, host: "web-" + (i % 7), cpu: (i * 37 % 1000) / 1000, tags: ["a", "b"]});
  }
  const messages = [JSON.stringify(records)];
  result.bytes = messages[0].length;
  for (let i = 0; i < 50; i++) messages.push(JSON.stringify({line: i, text: "short message " + i}));
  const socket = new WebSocket("ws://" + location.host + "/echo.sh");
  socket.onopen = () => {
    result.extensions = socket.extensions;
    for (const message of messages) { socket.send(message); result.sent += 1; }
  };
  let next = 0;
  socket.onmessage = event => {
    if (event.data === messages[next]) result.matched += 1; else result.mismatched += 1;
    next += 1;
    if (next === messages.length) socket.close(1000);
  };
  socket.onclose = event => { result.close = {code: event.code, wasClean: event.wasClean}; };
</script>
</body></html>
"""


def tool(*args, cwd=None):
    """Runs a setup command (openssl, certutil); a failure raises with what the command said."""
    done = subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")


def openssl(*args, cwd):
    tool("openssl", *args, cwd=cwd)


def make_ca(directory, name, common_name):
    """A self-signed P-256 CA valid for two days: NAME.pem and NAME.key in DIRECTORY."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={common_name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory)


def make_server_cert(directory, name, ca):
    """A P-256 server certificate for 127.0.0.1 and localhost signed by CA: NAME.pem and NAME.key."""
    with open(os.path.join(directory, f"{name}.ext"), "w") as extensions:
        extensions.write("basicConstraints=critical,CA:FALSE\n"
                         "keyUsage=critical,digitalSignature\n"
                         "extendedKeyUsage=serverAuth\n"
                         "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                         "subjectKeyIdentifier=hash\n"
                         "authorityKeyIdentifier=keyid,issuer\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=127.0.0.1", cwd=directory)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-set_serial",
            str(int.from_bytes(os.urandom(8), "big")), "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
            cwd=directory)
    return os.path.join(directory, f"{name}.pem"), os.path.join(directory, f"{name}.key")


def trust_ca(home, ca_pem):
    """A new NSS database at HOME/.pki/nssdb (where Chromium on Linux looks) trusting CA_PEM for TLS servers."""
    database = os.path.join(home, ".pki", "nssdb")
    os.makedirs(database)
    for args in (["-N", "--empty-password"], ["-A", "-t", "C,,", "-n", CA_NAME, "-i", ca_pem]):
        tool("certutil", "-d", f"sql:{database}", *args)


def make_htpasswd(path, user, password):
    """An htpasswd file with USER's bcrypt hash, as `htpasswd -B` (apache2-utils) makes it."""
    tool("htpasswd", "-bcB", path, user, password)
    with open(path) as passwords:
        assert passwords.read().startswith(f"{user}:$2y$"), f"{path} holds no bcrypt hash"


def header(response, name):
    """A response header's value by its case-insensitive name (None when absent)."""
    return next((value for key, value in response.get("headers", {}).items() if key.lower() == name.lower()), None)


def remove_tree(path):
    """rmtree, again until it sticks: a Chromium helper can still write into the profile for a moment after
    the browser process has exited, and the directory is then not empty when rmtree reaches it."""
    deadline = time.time() + 5
    while True:
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path) or time.time() > deadline:
            return
        time.sleep(0.1)


def start_wsbridge(binary, args):
    process = subprocess.Popen([binary, "--port=0", "--address=127.0.0.1", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + DEADLINE
    said = []
    while time.time() < deadline:
        line = process.stderr.readline()
        said.append(line.strip())
        match = re.search(r"(?:wss?|https?)://127\.0\.0\.1:(\d+)/", line)
        if match:
            # Keep draining stderr so the server never blocks on a full pipe.
            asyncio.get_event_loop().run_in_executor(None, lambda: [_ for _ in process.stderr])
            return process, int(match.group(1)), line
        if process.poll() is not None:
            break
    process.kill()
    process.wait()
    raise RuntimeError("wsbridge did not start: " + " ".join(args) + ": " + " | ".join(filter(None, said)))


class Page:
    def __init__(self, socket):
        self.socket = socket
        self.next_id = 0
        self.documents = []  # the `response` of every Network.responseReceived for a Document
        # Event name -> coroutine function of the event's params, awaited as the event is read (while
        # some call waits for its reply: wait_for keeps calling). It answers with `post`, not `call`.
        self.handlers = {}
        self.posted = set()  # ids of the commands sent by `post`
        self.post_errors = []  # the error replies to them

    async def post(self, method, **params):
        """Sends a command without waiting for its reply (an event handler's answer); an error reply
        lands in post_errors."""
        self.next_id += 1
        self.posted.add(self.next_id)
        await self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))

    async def call(self, method, **params):
        self.next_id += 1
        ident = self.next_id
        await self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            reply = json.loads(await asyncio.wait_for(self.socket.recv(), DEADLINE))
            if reply.get("method") == "Network.responseReceived" and reply["params"].get("type") == "Document":
                self.documents.append(reply["params"]["response"])
            if reply.get("method") in self.handlers:
                await self.handlers[reply["method"]](reply["params"])
            if reply.get("id") in self.posted:
                self.posted.discard(reply["id"])
                if "error" in reply:
                    self.post_errors.append(reply["error"])
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

    async def navigate(self, url):
        """Page.navigate's result: `errorText` is set when the page could not load (say a certificate error)."""
        self.documents.clear()
        return await self.call("Page.navigate", url=url)

    async def open(self, url):
        result = await self.navigate(url)
        if result.get("errorText"):
            raise AssertionError(f"{url} did not load: {result['errorText']}")
        await self.wait_for("document.readyState === 'complete'", f"{url} to load")
        return self.documents[-1] if self.documents else None


async def run(chromium, wsbridge, fixtures, examples):
    scratch = tempfile.mkdtemp(prefix="wsbridge-browser-test-")
    profile, home, pki, www = (os.path.join(scratch, name) for name in ("profile", "home", "pki", "www"))
    browser = None
    servers = []
    failures = []
    try:
        for directory in (profile, home, pki, www):
            os.makedirs(directory)
        make_ca(pki, "ca", CA_NAME)
        make_ca(pki, "other-ca", "wsbridge browser-test untrusted CA")  # never trusted: check 7
        cert, key = make_server_cert(pki, "server", "ca")
        untrusted_cert, untrusted_key = make_server_cert(pki, "untrusted", "other-ca")
        trust_ca(home, os.path.join(pki, "ca.pem"))
        with open(os.path.join(www, "index.html"), "w") as page_file:
            page_file.write(TEST_PAGE)
        with open(os.path.join(www, "deflate.html"), "w") as page_file:
            page_file.write(DEFLATE_PAGE)
        with open(os.path.join(www, "sse.html"), "w") as page_file:
            page_file.write(SSE_PAGE)
        htpasswd = os.path.join(scratch, "users.htpasswd")
        make_htpasswd(htpasswd, USER, PASSWORD)

        browser = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                    "--disable-dev-shm-usage", "--remote-debugging-port=0",
                                    f"--user-data-dir={profile}", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HOME": home})
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + DEADLINE
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if time.time() > deadline or browser.poll() is not None:
                raise RuntimeError("chromium did not start")
            await asyncio.sleep(0.1)
        debug_port = int(open(port_file).read().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json/list", timeout=DEADLINE))
        page_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        version = json.load(urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json/version", timeout=DEADLINE))
        browser_url = version["webSocketDebuggerUrl"]

        def started(*args):
            """Starts a wsbridge; its port and startup line."""
            process, port, line = start_wsbridge(wsbridge, list(args))
            servers.append(process)
            return port, line

        def server(*args):
            return started(*args)[0]

        tls = ["--ssl", f"--sslcert={cert}", f"--sslkey={key}"]
        console_port = server("--devconsole", f"--dir={fixtures}")
        site_port = server(f"--staticdir={examples}", f"--dir={examples}")
        tls_site_port = server(*tls, f"--staticdir={www}", f"--dir={fixtures}")
        tls_console_port = server(*tls, "--devconsole", f"--dir={fixtures}")
        untrusted_port = server("--ssl", f"--sslcert={untrusted_cert}", f"--sslkey={untrusted_key}",
                                f"--staticdir={www}", f"--dir={fixtures}")
        basic_port = server(f"--basicauth={htpasswd}", f"--staticdir={www}", f"--dir={fixtures}")
        token_port, token_line = started("--token", f"--staticdir={www}", f"--dir={fixtures}")
        plain_port = server(f"--staticdir={www}", f"--dir={fixtures}")  # another origin on the same host
        deflate_port = server("--permessage-deflate", "--maxframesize=4194304", f"--staticdir={www}", f"--dir={fixtures}")
        startup = re.search(r"open (http://127\.0\.0\.1:(\d+)/\?token=([0-9a-f]{32}))(?:\s|$)", token_line)
        if not startup or int(startup.group(2)) != token_port:
            raise RuntimeError(f"--token: no startup URL with a 32-hex-digit token in: {token_line.strip()}")
        token_url, token = startup.group(1), startup.group(3)
        async with websockets.connect(page_url, max_size=None) as socket, \
                websockets.connect(browser_url, max_size=None) as browser_socket:
            page = Page(socket)
            browser_session = Page(browser_socket)
            await page.call("Runtime.enable")
            await page.call("Network.enable")

            async def check(name, body):
                started = time.monotonic()
                try:
                    await body()
                    print(f"browser-test: ok   {name} ({time.monotonic() - started:.2f} s)")
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

            async def event_source_round_trip():
                await page.open(f"http://127.0.0.1:{plain_port}/sse.html")
                result = await page.wait_for("window.result.exit && window.result", "event: exit")
                assert len(result.get("session", "")) == 32, f"session event {result.get('session')!r}"
                assert result.get("postStatus") == 204, f"POST answered {result.get('postStatus')}"
                assert result["messages"] == ["bye from fetch"], f"messages {result['messages']}"
                assert result["ids"] == ["1"], f"lastEventId {result['ids']}"
                assert result["exit"] == {"code": 4003, "reason": "exit 3"}, f"exit event {result['exit']}"
                assert result["errors"] == 0, f"{result['errors']} error event(s) before the exit"

            def assert_test_certificate(response, url):
                """The page came over TLS with the server certificate that the test CA issued."""
                assert response is not None, f"no Network.responseReceived for {url}"
                details = response.get("securityDetails") or {}
                assert details.get("issuer") == CA_NAME, f"certificate issuer {details.get('issuer')!r}"
                assert "127.0.0.1" in details.get("sanList", []), f"certificate names {details.get('sanList')}"
                assert details.get("protocol") in ("TLS 1.2", "TLS 1.3"), f"TLS version {details.get('protocol')!r}"

            async def open_wss_page(**query):
                """Loads the https:// test page, checks it came over TLS with the test CA's certificate, and
                returns its `window.result` once the WebSocket has closed."""
                url = f"https://127.0.0.1:{tls_site_port}/?{urllib.parse.urlencode(query)}"
                assert_test_certificate(await page.open(url), url)
                protocol = await page.evaluate("location.protocol")
                assert protocol == "https:", f"location.protocol {protocol!r}"
                result = await page.wait_for("window.result && window.result.close && window.result", "the CloseEvent")
                expected_url = f"wss://127.0.0.1:{tls_site_port}/{query['script']}"
                assert result["url"] == expected_url, f"WebSocket url {result['url']!r}"
                assert result["errors"] == 0, f"{result['errors']} error event(s): {result}"
                return result

            async def wss_echo():
                result = await open_wss_page(script="echo.sh", send="hello over wss", close=1000)
                assert result["received"] == ["hello over wss"], f"received {result['received']}"
                close = result["close"]
                assert close["code"] == 1000 and close["wasClean"] is True, f"CloseEvent {close}"

            async def wss_exit_status():
                result = await open_wss_page(script="exit3.sh", send="x")
                assert result["received"] == ["bye x"], f"received {result['received']}"
                close = result["close"]
                assert close == {"code": 4003, "reason": "exit 3", "wasClean": True}, f"CloseEvent {close}"

            async def devconsole_over_tls():
                url = f"https://127.0.0.1:{tls_console_port}/exit3.sh"
                assert_test_certificate(await page.open(url), url)
                protocol = await page.evaluate("location.protocol")
                assert protocol == "https:", f"location.protocol {protocol!r}"
                url = await page.evaluate("document.querySelector('#url').textContent")
                assert url == f"wss://127.0.0.1:{tls_console_port}/exit3.sh", f"console url {url!r}"
                await page.wait_for("document.querySelector('#status').dataset.state === 'open'", "the console to connect")
                await page.evaluate("window.devconsole.send('tls')")
                closed = await page.wait_for(
                    "(e => e && {code: e.dataset.code, reason: e.dataset.reason, clean: e.dataset.clean})"
                    "(document.querySelector('#log .closed'))", "the close event")
                assert closed == {"code": "4003", "reason": "exit 3", "clean": "true"}, f"close event {closed}"
                received = await page.evaluate(
                    "[...document.querySelectorAll('#log .received')].map(e => e.textContent).join('|')")
                assert received == "bye tls", f"received {received!r}"

            async def untrusted_ca_refused():
                result = await page.navigate(f"https://127.0.0.1:{untrusted_port}/")
                assert result.get("errorText") == "net::ERR_CERT_AUTHORITY_INVALID", f"navigation {result}"

            @contextlib.asynccontextmanager
            async def new_tab(isolated=False):
                """A tab, which goes away at the end unless closed before (its `target` closes it). With
                ISOLATED, in a new browser context (an incognito window: no cookies, no cached credentials),
                which goes away with everything in it; otherwise in the default one, beside `page`."""
                context = (await browser_session.call("Target.createBrowserContext"))["browserContextId"] \
                    if isolated else None
                target = None
                try:
                    target = (await browser_session.call("Target.createTarget", url="about:blank",
                                                         **({"browserContextId": context} if context else {})))["targetId"]
                    async with websockets.connect(f"ws://127.0.0.1:{debug_port}/devtools/page/{target}",
                                                  max_size=None) as tab_socket:
                        tab = Page(tab_socket)
                        tab.target = target
                        await tab.call("Runtime.enable")
                        await tab.call("Network.enable")
                        yield tab
                        assert not tab.post_errors, f"DevTools refused an answer: {tab.post_errors}"
                finally:
                    if context:
                        await browser_session.call("Target.disposeBrowserContext", browserContextId=context)
                    elif target:
                        with contextlib.suppress(RuntimeError):  # "No target with given id": closed already
                            await browser_session.call("Target.closeTarget", targetId=target)

            def isolated_tab():
                return new_tab(isolated=True)

            async def answer_auth(tab, answers):
                """Lets the tab's requests through and answers the browser's auth challenges in turn with
                ANSWERS (authChallengeResponse objects; CancelAuth once they run out), as a user typing in
                the browser's login box would. Returns the list the challenges are recorded in."""
                challenges = []

                async def auth_required(params):
                    challenges.append({**params["authChallenge"], "url": params["request"]["url"]})
                    answer = answers[len(challenges) - 1] if len(challenges) <= len(answers) \
                        else {"response": "CancelAuth"}
                    await tab.post("Fetch.continueWithAuth", requestId=params["requestId"],
                                   authChallengeResponse=answer)

                async def request_paused(params):
                    await tab.post("Fetch.continueRequest", requestId=params["requestId"])

                tab.handlers.update({"Fetch.authRequired": auth_required, "Fetch.requestPaused": request_paused})
                await tab.call("Fetch.enable", handleAuthRequests=True)
                return challenges

            def basic_challenge(url):
                return {"source": "Server", "origin": f"http://127.0.0.1:{basic_port}", "scheme": "basic",
                        "realm": "wsbridge", "url": url}

            async def basic_auth_websocket():
                async with isolated_tab() as tab:
                    challenges = await answer_auth(tab, [{"response": "ProvideCredentials", "username": USER,
                                                          "password": PASSWORD}])
                    url = f"http://127.0.0.1:{basic_port}/"
                    response = await tab.open(url)
                    assert response and response["status"] == 200, f"page status {response and response['status']}"
                    result = await tab.wait_for("window.result && window.result.close && window.result", "the CloseEvent")
                    assert result["url"] == f"ws://127.0.0.1:{basic_port}/whoami.sh", f"WebSocket url {result['url']!r}"
                    # One challenge, the page's: the WebSocket got in with what the browser cached for the
                    # origin, without a 401 of its own that DevTools answered.
                    assert challenges == [basic_challenge(url)], f"auth challenges {challenges}"
                    assert result["received"] == [f"user={USER} auth=Basic authorization= cookie="], \
                        f"received {result['received']}"
                    assert result["close"] == {"code": 1000, "reason": "", "wasClean": True}, \
                        f"CloseEvent {result['close']}"
                    assert result["errors"] == 0, f"{result['errors']} error event(s): {result}"

            async def basic_auth_refused():
                url = f"http://127.0.0.1:{basic_port}/"
                async with isolated_tab() as tab:
                    challenges = await answer_auth(tab, [])  # no credentials: the login box canceled
                    response = await tab.open(url)
                    assert response and response["status"] == 401, f"page status {response and response['status']}"
                    challenge = header(response, "WWW-Authenticate")
                    assert challenge == 'Basic realm="wsbridge", charset="UTF-8"', f"WWW-Authenticate {challenge!r}"
                    assert challenges == [basic_challenge(url)], f"auth challenges {challenges}"
                    assert await tab.evaluate("window.result === undefined"), "the test page ran"
                async with isolated_tab() as tab:
                    challenges = await answer_auth(tab, [{"response": "ProvideCredentials", "username": USER,
                                                          "password": PASSWORD + "x"}])
                    response = await tab.open(url)
                    assert response and response["status"] == 401, f"page status {response and response['status']}"
                    # The wrong password was refused with a new challenge, which was then canceled.
                    assert challenges == [basic_challenge(url)] * 2, f"auth challenges {challenges}"

            async def token_page_connects(tab, url):
                """Loads URL from the --token server; its WebSocket to whoami.sh (no token in its URL) gets in,
                and the script sees nothing of the secret."""
                response = await tab.open(url)
                assert response and response["status"] == 200, f"{url}: status {response and response['status']}"
                result = await tab.wait_for("window.result && window.result.close && window.result",
                                            f"the CloseEvent of {url}")
                assert result["url"] == f"ws://127.0.0.1:{token_port}/whoami.sh", f"WebSocket url {result['url']!r}"
                assert result["received"] == [NOBODY], f"{url}: received {result['received']}"
                assert result["close"] == {"code": 1000, "reason": "", "wasClean": True}, \
                    f"{url}: CloseEvent {result['close']}"
                assert result["errors"] == 0, f"{url}: {result['errors']} error event(s): {result}"

            async def token_cookie_websocket():
                async with isolated_tab() as tab:
                    await token_page_connects(tab, token_url)
                    cookies = (await tab.call("Network.getCookies", urls=[f"http://127.0.0.1:{token_port}/"]))["cookies"]
                    cookie = [{key: found.get(key) for key in ("name", "value", "path", "httpOnly", "sameSite")}
                              for found in cookies]
                    assert cookie == [{"name": "wsbridge_token", "value": token, "path": "/", "httpOnly": True,
                                       "sameSite": "Strict"}], f"cookies {cookies}"
                    await token_page_connects(tab, f"http://127.0.0.1:{token_port}/")  # later, by the cookie alone

            async def token_refused():
                async with isolated_tab() as tab:
                    for url in (f"http://127.0.0.1:{token_port}/", f"http://127.0.0.1:{token_port}/?token={'0' * 32}"):
                        response = await tab.open(url)
                        assert response and response["status"] == 401, f"{url}: status {response and response['status']}"
                        challenge = header(response, "WWW-Authenticate")
                        assert challenge == 'Bearer realm="wsbridge"', f"{url}: WWW-Authenticate {challenge!r}"
                        assert await tab.evaluate("window.result === undefined"), f"{url}: the test page ran"
                    cookies = (await tab.call("Network.getCookies", urls=[f"http://127.0.0.1:{token_port}/"]))["cookies"]
                    assert cookies == [], f"cookies {cookies}"

            async def token_other_origin_refused():
                other_origin = f"http://127.0.0.1:{plain_port}"
                async with isolated_tab() as tab:
                    await tab.open(token_url)  # the cookie
                    await tab.wait_for("window.result && window.result.close", "the startup page's CloseEvent")
                    heads = []

                    async def record_head(reader, writer):
                        heads.append((await reader.readuntil(b"\r\n\r\n")).decode("latin-1"))
                        writer.close()

                    # What the other origin's WebSocket sends, seen by a listener that answers nothing.
                    listener = await asyncio.start_server(record_head, "127.0.0.1", 0)
                    async with listener:
                        listener_port = listener.sockets[0].getsockname()[1]
                        await tab.open(f"{other_origin}/?host=127.0.0.1:{listener_port}")
                        await tab.wait_for("window.result && window.result.close", "the listener's CloseEvent")
                    assert len(heads) == 1, f"{len(heads)} handshake(s) reached the listener"
                    fields = [line.split(":", 1) for line in heads[0].split("\r\n")[1:] if ":" in line]
                    fields = {name.strip().lower(): value.strip() for name, value in fields}
                    assert fields.get("origin") == other_origin, f"Origin {fields.get('origin')!r}"
                    assert fields.get("cookie") == f"wsbridge_token={token}", \
                        f"the browser did not send the cookie to another port (Cookie {fields.get('cookie')!r}): " \
                        "the hijacking this check stages cannot happen in this browser"
                    handshake_errors = []

                    async def frame_error(params):
                        handshake_errors.append(params["errorMessage"])

                    tab.handlers["Network.webSocketFrameError"] = frame_error
                    await tab.open(f"{other_origin}/?host=127.0.0.1:{token_port}")
                    result = await tab.wait_for("window.result && window.result.close && window.result", "the CloseEvent")
                    assert result["url"] == f"ws://127.0.0.1:{token_port}/whoami.sh", f"WebSocket url {result['url']!r}"
                    assert result["received"] == [], f"received {result['received']}"
                    assert result["close"] == {"code": 1006, "reason": "", "wasClean": False}, \
                        f"CloseEvent {result['close']}"
                    deadline = time.time() + DEADLINE
                    while not handshake_errors and time.time() < deadline:  # events are read while a call waits
                        await tab.evaluate("0")
                        await asyncio.sleep(0.05)
                    assert handshake_errors == ["Error during WebSocket handshake: Unexpected response code: 403"], \
                        f"handshake errors {handshake_errors}"

            async def deflate_round_trip():
                await page.open(f"http://127.0.0.1:{deflate_port}/deflate.html")
                result = await page.wait_for("window.result.close && window.result", "the echoes and the close")
                assert result["extensions"].startswith("permessage-deflate"), f"extensions {result['extensions']!r}"
                assert result["bytes"] >= 1048576, f"the JSON message is {result['bytes']} bytes"
                assert result["matched"] == 51 and result["mismatched"] == 0, f"result {result}"
                assert result["close"] == {"code": 1000, "wasClean": True}, f"CloseEvent {result['close']}"

            # The --devconsole page's hooks (DevConsolePage.swift): the received messages, and the first
            # CloseEvent in its log.
            console_received = "[...document.querySelectorAll('#log .received')].map(e => e.textContent)"
            console_sent = "[...document.querySelectorAll('#log .sent')].map(e => e.textContent)"
            console_closed = ("(e => e && {code: Number(e.dataset.code), reason: e.dataset.reason, "
                              "wasClean: e.dataset.clean === 'true'})(document.querySelector('#log .closed'))")

            async def until(tab, expression, done, what):
                """Evaluates EXPRESSION in TAB until DONE holds for its value, which it returns; a timeout
                names the last value."""
                deadline = time.time() + DEADLINE
                while True:
                    value = await tab.evaluate(expression)
                    if done(value):
                        return value
                    if time.time() > deadline:
                        raise AssertionError(f"timed out waiting for {what}: last {value!r}")
                    await asyncio.sleep(0.05)

            async def console_connects(tab, url, who):
                """Loads the --devconsole page at URL in TAB and waits until its WebSocket is open."""
                response = await tab.open(url)
                assert response and response["status"] == 200, f"{who}: page status {response and response['status']}"
                state = await until(tab, "document.querySelector('#status').dataset.state",
                                    lambda state: state != "connecting", f"{who}'s console to connect")
                closed = await tab.evaluate(console_closed)
                assert state == "open", f"{who}: console {state}, CloseEvent {closed}"
                ws_url = await tab.evaluate("document.querySelector('#url').textContent")
                assert ws_url == "ws" + url[len("http"):], f"{who}: WebSocket url {ws_url!r}"

            async def type_line(tab, text, who):
                """Types TEXT in TAB's console and presses Enter, as a person at the keyboard would."""
                sent = len(await tab.evaluate(console_sent))
                await tab.call("Page.bringToFront")
                await tab.evaluate("document.getElementById('input').focus()")
                await tab.call("Input.insertText", text=text)
                await tab.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter",
                               windowsVirtualKeyCode=13, nativeVirtualKeyCode=13, text="\r")
                await tab.call("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter",
                               windowsVirtualKeyCode=13, nativeVirtualKeyCode=13)
                lines = await until(tab, console_sent, lambda lines: len(lines) > sent, f"{who}'s console to send {text!r}")
                assert lines[sent:] == [text], f"{who} sent {lines[sent:]}"

            async def received(tab, count, who):
                """TAB's received messages once there are COUNT of them."""
                return await until(tab, console_received, lambda lines: len(lines) >= count,
                                   f"{who} to receive {count} message(s)")

            async def closed_with(tab, expected, who):
                closed = await until(tab, console_closed, bool, f"{who}'s CloseEvent")
                assert closed == expected, f"{who}: CloseEvent {closed}, expected {expected}"

            def pid_line(line, who):
                assert re.fullmatch(r"pid: [0-9]+", line), f"{who}: {line!r} is no PID line"
                return line

            exit_0 = {"code": 1000, "reason": "", "wasClean": True}

            async def shared_session():
                port = server("--devconsole", "--sessions", os.path.join(fixtures, "reply.sh"))
                name, other = str(uuid.uuid4()), str(uuid.uuid4())  # as crypto.randomUUID(): 36 characters
                url = f"http://127.0.0.1:{port}/?session={name}"
                async with contextlib.AsyncExitStack() as tabs:
                    a, b, viewer = [await tabs.enter_async_context(new_tab()) for _ in range(3)]
                    elsewhere = await tabs.enter_async_context(isolated_tab())
                    await console_connects(a, url, "A")
                    await console_connects(b, url, "B")
                    await console_connects(viewer, url + "&view=1", "the viewer")
                    await console_connects(elsewhere, f"http://127.0.0.1:{port}/?session={other}", "the other session")

                    # One types, all see the reply, from one child.
                    await type_line(a, "hello from A", "A")
                    for tab, who in ((a, "A"), (b, "B"), (viewer, "the viewer")):
                        lines = await received(tab, 1, who)
                        assert lines == ["reply: hello from A"], f"{who} received {lines}"
                    await type_line(b, "pid", "B")
                    pid = pid_line((await received(a, 2, "A"))[1], "A")
                    for tab, who in ((a, "A"), (b, "B"), (viewer, "the viewer")):
                        lines = await received(tab, 2, who)
                        assert lines == ["reply: hello from A", pid], f"{who} received {lines} (one child: {pid})"

                    # Another name, another child, and nothing of the first session.
                    await type_line(elsewhere, "pid", "the other session")
                    other_pid = pid_line((await received(elsewhere, 1, "the other session"))[0], "the other session")
                    assert other_pid != pid, f"both sessions have child {pid}"
                    lines = await elsewhere.evaluate(console_received)
                    assert lines == [other_pid], f"the other session received {lines}"

                    # A viewer that sends gets 1008, and its line reaches no child.
                    await type_line(viewer, "from the viewer", "the viewer")
                    closed = await until(viewer, console_closed, bool, "the viewer's CloseEvent")
                    assert closed["code"] == 1008 and closed["wasClean"], f"the viewer's CloseEvent {closed}"
                    await type_line(a, "after the viewer", "A")
                    for tab, who in ((a, "A"), (b, "B")):
                        lines = await received(tab, 3, who)
                        assert lines == ["reply: hello from A", pid, "reply: after the viewer"], f"{who} received {lines}"
                    lines = await viewer.evaluate(console_received)
                    assert lines == ["reply: hello from A", pid], f"the viewer received {lines} after its close"

                    # A's tab closes; B still talks to the same child.
                    await browser_session.call("Target.closeTarget", targetId=a.target)
                    await type_line(b, "pid", "B")
                    lines = await received(b, 4, "B")
                    assert lines[3:] == [pid], f"B received {lines[3:]} after A left (child {pid})"

                    # A page and a viewer join; the child's exit 0 closes every page of the session with 1000.
                    late, late_viewer = [await tabs.enter_async_context(new_tab()) for _ in range(2)]
                    await console_connects(late, url, "the late page")
                    await console_connects(late_viewer, url + "&view=1", "the late viewer")
                    await type_line(b, "quit", "B")
                    for tab, who in ((b, "B"), (late, "the late page"), (late_viewer, "the late viewer")):
                        await closed_with(tab, exit_0, who)
                        lines = await tab.evaluate(console_received)
                        assert lines[-1:] == ["bye"], f"{who} received {lines}"
                    lines = await b.evaluate(console_received)
                    assert lines == ["reply: hello from A", pid, "reply: after the viewer", pid, "bye"], \
                        f"B received {lines}"

                    # The other session is untouched.
                    state = await elsewhere.evaluate("document.querySelector('#status').dataset.state")
                    assert state == "open", f"the other session's console is {state}"
                    await type_line(elsewhere, "pid", "the other session")
                    lines = await received(elsewhere, 2, "the other session")
                    assert lines == [other_pid, other_pid], f"the other session received {lines}"
                    await type_line(elsewhere, "quit", "the other session")
                    await closed_with(elsewhere, exit_0, "the other session")

                    # The same name again: a new child.
                    await b.evaluate("document.getElementById('clear').click(); window.devconsole.connect()")
                    state = await until(b, "document.querySelector('#status').dataset.state",
                                        lambda state: state != "connecting", "B's console to reconnect")
                    assert state == "open", f"B reconnected: console {state}"
                    await type_line(b, "pid", "B")
                    new_pid = pid_line((await received(b, 1, "B"))[0], "B")
                    assert new_pid != pid, f"the session's child {pid} answered after its exit"
                    await type_line(b, "quit", "B")
                    await closed_with(b, exit_0, "B")

            async def broadcast():
                port = server("--devconsole", "--broadcast", os.path.join(fixtures, "reply.sh"))
                url = f"http://127.0.0.1:{port}/"
                async with new_tab() as a, new_tab() as b:
                    await console_connects(a, url, "A")
                    await console_connects(b, url, "B")
                    await type_line(a, "hello from A", "A")
                    for tab, who in ((a, "A"), (b, "B")):
                        lines = await received(tab, 1, who)
                        assert lines == ["reply: hello from A"], f"{who} received {lines}"
                    await type_line(b, "pid", "B")
                    pid = pid_line((await received(a, 2, "A"))[1], "A")
                    for tab, who in ((a, "A"), (b, "B")):
                        lines = await received(tab, 2, who)
                        assert lines == ["reply: hello from A", pid], f"{who} received {lines} (one child: {pid})"
                    await type_line(a, "quit", "A")
                    for tab, who in ((a, "A"), (b, "B")):
                        await closed_with(tab, exit_0, who)
                        lines = await tab.evaluate(console_received)
                        assert lines == ["reply: hello from A", pid, "bye"], f"{who} received {lines}"

            await check("--permessage-deflate: Chromium agrees to it (ws.extensions) and 1 MiB of JSON and 50 lines "
                        "come back through cat", deflate_round_trip)
            await check("--devconsole: a line sent from the page comes back through cat", devconsole_echo)
            await check("--devconsole: exit 3 shows CloseEvent 4003 \"exit 3\"", exit_status)
            await check("--staticdir page talks to a --dir script", static_page_talks_to_script)
            await check("SSE: an EventSource page and a fetch POST talk to a script; its exit 3 is event: exit "
                        "{code: 4003, reason: \"exit 3\"}", event_source_round_trip)
            await check("--ssl: https page (test CA) echoes over wss://, CloseEvent 1000 clean", wss_echo)
            await check("--ssl: wss:// child exits 3, CloseEvent 4003 \"exit 3\" clean", wss_exit_status)
            await check("--ssl --devconsole: https page connects with wss://, CloseEvent 4003 clean", devconsole_over_tls)
            await check("--ssl: a certificate from an untrusted CA is refused", untrusted_ca_refused)
            await check("--basicauth: page loaded with a user and password; its WebSocket gets in with the cached "
                        "credentials (REMOTE_USER, AUTH_TYPE=Basic)", basic_auth_websocket)
            await check("--basicauth: no credentials or a wrong password gets 401 with the Basic challenge",
                        basic_auth_refused)
            await check("--token: the startup URL sets the cookie; the page's WebSocket gets in by it",
                        token_cookie_websocket)
            await check("--token: no token or cookie (new browser context), or a wrong token, gets 401", token_refused)
            await check("--token: another port's page, its WebSocket carrying the cookie, is refused by the Origin "
                        "check (403)", token_other_origin_refused)
            await check("--sessions: pages A and B and a viewer name one session in the --devconsole page; A types, "
                        "all three see the reply from one child; the viewer's line gets 1008; B goes on after A "
                        "leaves; the child's exit 0 closes the session's pages with 1000", shared_session)
            await check("--broadcast: two --devconsole pages share one child; one types, both see the reply; "
                        "exit 0 closes both with 1000", broadcast)
    finally:
        for process in servers:
            process.send_signal(signal.SIGTERM)
        for process in servers:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        if browser:
            browser.terminate()
            try:
                browser.wait(timeout=5)
            except subprocess.TimeoutExpired:
                browser.kill()
        remove_tree(scratch)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(run(*sys.argv[1:5])))

import WSProtocol

/// `--devconsole`: the built-in page that a plain GET receives (SPEC §5), a console to talk to the
/// command by hand, as websocketd's `console.go` provides.
///
/// The page is self-contained (inline CSS and script; no fonts, images or other URLs), so it works
/// offline and leaks nothing. It connects to the URL it was loaded from with `http` replaced by `ws`
/// (`https` by `wss`): same host, path and query. Stable hooks for people and for browser tests:
///
/// | selector | what it is |
/// | --- | --- |
/// | `#status` | `connecting`, `open`, `closing` or `closed`, also in its `data-state` attribute |
/// | `#url` | the WebSocket URL in use |
/// | `#log` | every event, oldest first, one `div.entry` each |
/// | `#input` | the line to send; Enter sends it (Up and Down recall earlier lines) |
/// | `#send` | sends the line, like Enter |
/// | `#connect` | reconnects (closing the current socket first, if any) |
/// | `#disconnect` | closes the socket with 1000 |
/// | `#clear` | empties the log |
///
/// Entries in `#log` carry one kind class: `.info`, `.open`, `.sent`, `.received` (plus `.binary`
/// for a binary message), `.error`, `.closed`. The text of `.sent` and `.received` is exactly the
/// message (its label is CSS-generated); the text of `.closed` is `CODE REASON`, e.g. `4003 exit 3`,
/// with ` (not clean)` appended when `wasClean` is false, and its `data-code`, `data-reason` and
/// `data-clean` attributes hold the CloseEvent's fields. `window.devconsole.send(text)` and
/// `window.devconsole.connect()` do what the controls do.
public enum DevConsolePage {
    /// The `Content-Security-Policy` sent with the page: inline code and WebSocket connections only,
    /// so the browser itself enforces that nothing else is loaded (CSP Level 3).
    public static let contentSecurityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src ws: wss:; base-uri 'none'; form-action 'none'"

    /// The response to a plain GET (or HEAD, with `forHEAD: true`: no body, the same Content-Length),
    /// whatever the path: `text/html; charset=utf-8`, never cached, since it may change between releases.
    public static func response(forHEAD isHEAD: Bool = false) -> HTTPResponse {
        HTTPResponse(
            status: .ok,
            headers: HTTPHeaders([
                (name: "Content-Type", value: "text/html; charset=utf-8"),
                (name: "Content-Length", value: String(bytes.count)),
                (name: "Cache-Control", value: "no-store"),
                (name: "Content-Security-Policy", value: contentSecurityPolicy),
                (name: "X-Content-Type-Options", value: "nosniff"),
            ]),
            body: isHEAD ? [] : bytes
        )
    }

    /// The page's UTF-8 bytes.
    public static let bytes: [UInt8] = Array(html.utf8)

    /// The page.
    public static let html = #"""
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>wsbridge console</title>
    <style>
    :root { color-scheme: light dark; --sent: #7a5c00; --received: #1a4fa0; --error: #b3261e; --muted: #777; }
    @media (prefers-color-scheme: dark) { :root { --sent: #e0b84a; --received: #8ab4f8; --error: #f28b82; --muted: #999; } }
    * { box-sizing: border-box; }
    html, body { height: 100%; margin: 0; }
    body { display: flex; flex-direction: column; font: 14px/1.4 ui-monospace, Menlo, Consolas, monospace; }
    header, form { display: flex; gap: 8px; align-items: center; padding: 8px; border-bottom: 1px solid #8884; }
    form { border-bottom: 0; border-top: 1px solid #8884; }
    #url { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: var(--muted); }
    #status { font-weight: bold; min-width: 7em; }
    #status[data-state="open"] { color: green; }
    #status[data-state="closed"] { color: var(--error); }
    #log { flex: 1; overflow-y: auto; padding: 4px 8px; }
    .entry { white-space: pre-wrap; word-break: break-all; padding: 1px 0; }
    .entry::before { display: inline-block; width: 5.5em; color: var(--muted); }
    .info::before { content: "info"; }
    .open::before { content: "open"; }
    .sent::before { content: "sent \2192"; }
    .received::before { content: "recv \2190"; }
    .error::before { content: "error"; }
    .closed::before { content: "closed"; }
    .sent { color: var(--sent); }
    .received { color: var(--received); }
    .error, .closed { color: var(--error); }
    .info, .open { color: var(--muted); }
    #input { flex: 1; font: inherit; padding: 4px; }
    button { font: inherit; }
    </style>
    </head>
    <body>
    <header>
    <span id="status" data-state="connecting">connecting</span>
    <span id="url"></span>
    <button id="connect" type="button">Reconnect</button>
    <button id="disconnect" type="button">Disconnect</button>
    <button id="clear" type="button">Clear</button>
    </header>
    <div id="log" role="log" aria-live="polite"></div>
    <form id="form" autocomplete="off">
    <input id="input" type="text" placeholder="a line to send, then Enter" spellcheck="false" autofocus>
    <button id="send" type="submit">Send</button>
    </form>
    <script>
    (function () {
      'use strict';
      var log = document.getElementById('log');
      var statusView = document.getElementById('status');
      var input = document.getElementById('input');
      var socket = null;
      var sentLines = [];
      var historyPosition = 0;

      // The page's own URL with http(s) swapped for ws(s): same host, path and query.
      function webSocketAddress() {
        var scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
        return scheme + '//' + location.host + location.pathname + location.search;
      }

      function setStatus(state) {
        statusView.textContent = state;
        statusView.setAttribute('data-state', state);
      }

      function addEntry(kind, text) {
        var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        var entry = document.createElement('div');
        entry.className = 'entry ' + kind;
        entry.textContent = text;
        log.appendChild(entry);
        if (atBottom) { log.scrollTop = log.scrollHeight; }
        return entry;
      }

      function describeBinary(buffer) {
        var bytes = new Uint8Array(buffer);
        var shown = Array.prototype.slice.call(bytes, 0, 64).map(function (b) {
          return (b < 16 ? '0' : '') + b.toString(16);
        }).join(' ');
        return '[' + bytes.length + ' bytes] ' + shown + (bytes.length > 64 ? ' ...' : '');
      }

      function connect() {
        if (socket) {
          var old = socket;
          socket = null;
          if (old.readyState === WebSocket.CONNECTING || old.readyState === WebSocket.OPEN) { old.close(1000); }
        }
        var url = webSocketAddress();
        document.getElementById('url').textContent = url;
        setStatus('connecting');
        addEntry('info', 'connecting to ' + url);
        var current;
        try {
          current = new WebSocket(url);
        } catch (error) {
          setStatus('closed');
          addEntry('error', 'cannot connect: ' + error);
          return;
        }
        current.binaryType = 'arraybuffer';
        socket = current;
        current.addEventListener('open', function () {
          if (socket === current) { setStatus('open'); }
          addEntry('open', 'connected' + (current.protocol ? ' (subprotocol ' + current.protocol + ')' : ''));
        });
        current.addEventListener('message', function (event) {
          if (typeof event.data === 'string') {
            addEntry('received', event.data);
          } else {
            addEntry('received binary', describeBinary(event.data));
          }
        });
        current.addEventListener('error', function () {
          addEntry('error', 'WebSocket error (the close event below has the code)');
        });
        current.addEventListener('close', function (event) {
          if (socket === current) { socket = null; setStatus('closed'); }
          var entry = addEntry('closed', event.code + (event.reason ? ' ' + event.reason : '') + (event.wasClean ? '' : ' (not clean)'));
          entry.setAttribute('data-code', String(event.code));
          entry.setAttribute('data-reason', event.reason);
          entry.setAttribute('data-clean', String(event.wasClean));
        });
      }

      function send(text) {
        if (!socket || socket.readyState !== WebSocket.OPEN) {
          addEntry('error', 'not connected, not sent: ' + text);
          return false;
        }
        socket.send(text);
        addEntry('sent', text);
        if (text !== '' && sentLines[sentLines.length - 1] !== text) { sentLines.push(text); }
        historyPosition = sentLines.length;
        return true;
      }

      document.getElementById('form').addEventListener('submit', function (event) {
        event.preventDefault();
        if (send(input.value)) { input.value = ''; }
        input.focus();
      });
      input.addEventListener('keydown', function (event) {
        if (event.key !== 'ArrowUp' && event.key !== 'ArrowDown') { return; }
        event.preventDefault();
        historyPosition += event.key === 'ArrowUp' ? -1 : 1;
        historyPosition = Math.max(0, Math.min(sentLines.length, historyPosition));
        input.value = historyPosition < sentLines.length ? sentLines[historyPosition] : '';
      });
      document.getElementById('connect').addEventListener('click', connect);
      document.getElementById('disconnect').addEventListener('click', function () {
        if (socket) { setStatus('closing'); socket.close(1000); }
      });
      document.getElementById('clear').addEventListener('click', function () { log.textContent = ''; });

      window.devconsole = { send: send, connect: connect };
      connect();
    })();
    </script>
    </body>
    </html>

    """#
}

#!/usr/bin/env python3
"""Turns scripts/bench's results.tsv (round, server, key, value) into the markdown table it prints."""
import statistics
import sys
from collections import defaultdict

A, B, ECHO = "websocketd", "wsbridge", "echo"
P = "python"  # the fan-out rows' comparison: scripts/bench-client/broadcast_server.py (Python websockets)

# key, label, unit, scale, better, target: (kind, bound) with kind "ratio>=", "ratio<=", "B<=", "B>=", "B=="
ROWS = [
    ("idle_rss_kib", "server RSS idle (server process only)", "MiB", 1 / 1024, "low", None),
    ("idle_rss_all_kib", "  RSS idle, server + its own helpers (wsbridge's spawners)", "MiB", 1 / 1024, "low", None),
    ("idle_pss_all_kib", "  PSS idle, server + its own helpers (smaps_rollup)", "MiB", 1 / 1024, "low", ("B<=", 12.0)),
    ("idle_processes", "  processes idle, server + its own helpers", "", 1, "low", None),
    ("spawn_seq_p50_ms", "spawn sequential, connect→first message p50", "ms", 1, "low", ("ratio<=", 1.1)),
    ("spawn_seq_p99_ms", "spawn sequential p99", "ms", 1, "low", None),
    ("spawn_seq_cps", "spawn sequential, full connections/s", "conn/s", 1, "high", ("ratio>=", 1.0)),
    ("spawn_seq_end_p50_ms", "  spawn sequential: first message → server ends the connection, p50", "ms", 1, "low", None),
    ("spawn_c16_p50_ms", "spawn 16 concurrent p50", "ms", 1, "low", ("ratio<=", 1.1)),
    ("spawn_c16_p99_ms", "spawn 16 concurrent p99", "ms", 1, "low", None),
    ("spawn_c16_cps", "spawn 16 concurrent, connections/s", "conn/s", 1, "high", ("ratio>=", 1.0)),
    ("spawn_c16_cpu_ms", "  spawn 16 concurrent: CPU per connection, server + its helpers", "ms", 1, "low", None),
    ("spawnpair_seq_cps", "spawn sequential, connections/s (both servers up, alternating blocks)", "conn/s", 1, "high", ("ratio>=", 0.9)),
    ("spawnpair_seq_p50_ms", "  spawn sequential p50 (alternating blocks)", "ms", 1, "low", None),
    ("spawnpair_c16_cps", "spawn 16 concurrent, connections/s (both servers up, alternating blocks)", "conn/s", 1, "high", ("ratio>=", 1.0)),
    ("spawnpair_c16_p50_ms", "  spawn 16 concurrent p50 (alternating blocks)", "ms", 1, "low", None),
    ("spawnpair_c16_closeframe_pct", "  connections the server ended with a close frame (then the closing handshake; else a bare EOF)", "%", 1, "high", None),
    ("hold_spawn_p50_ms", "spawn p50 with {hold} connections open", "ms", 1, "low", ("ratio<=", 1.5)),
    ("hold_spawn_p99_ms", "spawn p99 with {hold} connections open", "ms", 1, "low", None),
    ("hold_spawn_growth", "  spawn p50 growth (with {hold} open / none open)", "×", 1, "low", None),
    ("hold_echoed", "{hold} connections: echoed", "conns", 1, "high", ("B==", "hold")),
    ("hold_open_s", "{hold} connections: time to open all", "s", 1, "low", None),
    ("hold_echo_s", "{hold} connections: time to open and echo all", "s", 1, "low", None),
    ("hold_rss_per_conn_kib", "{hold} connections: server RSS per connection", "KiB", 1, "low", ("ratio<=", 0.7)),
    ("hold_rss_all_per_conn_kib", "  RSS per connection, server + its own helpers", "KiB", 1, "low", None),
    ("tls_hold_rss_per_conn_kib", "{hold} TLS connections (idle, after one echo): server RSS per connection", "KiB", 1, "low", None),
    ("tls_hold_rss_all_per_conn_kib", "  RSS per TLS connection, server + its own helpers", "KiB", 1, "low", None),
    # permessage-deflate (issue 13): wsbridge --permessage-deflate; websocketd cannot compress, so its
    # column on a compressed row is its plain figure (the baseline; see A_FROM).
    ("hold_idle_rss_per_conn_kib", "{hold} connections, again {idle} s after the last echo (idle buffers given back): server RSS per connection", "KiB", 1, "low", None),
    ("deflate_hold_idle_rss_per_conn_kib", "{hold} compressed connections (one compressed message each way), {idle} s idle: server RSS per connection (A: plain)", "KiB", 1, "low", None),
    ("deflate_hold_idle_extra_kib", "  idle compressed minus idle plain connection, wsbridge (same round)", "KiB", 1, "low", ("B<=", 64.0)),
    ("deflate_hold_compressed", "{hold} compressed connections: echo came back compressed", "conns", 1, "high", ("B==", "hold")),
    ("teardown_{hold}_s", "{hold} connections: all closed until no child left", "s", 1, "low", None),
    ("rttpair_p50_us", "echo RTT 16 B p50 (both servers up, alternating blocks)", "µs", 1, "low", ("ratio<=", 1.0)),
    ("rttpair_p99_us", "echo RTT 16 B p99 (alternating blocks)", "µs", 1, "low", None),
    ("rtt_p50_us", "  echo RTT p50, each server alone in its own run", "µs", 1, "low", None),
    ("text_64x1_msgs", "text 64 B × 1 conn", "msg/s", 1, "high", ("ratio>=", 3.0)),
    ("text_64x32_msgs", "text 64 B × 32 conns", "msg/s", 1, "high", ("ratio>=", 3.0)),
    ("text_4kx1_mbs", "text 4 KiB × 1 conn", "MB/s", 1, "high", None),
    ("text_4kx32_mbs", "text 4 KiB × 32 conns", "MB/s", 1, "high", ("ratio>=", 3.0)),
    ("json_4kx32_msgs", "JSON 4 KiB × 32 conns (log records, line-framed `cat`), plain", "msg/s", 1, "high", None),
    ("json_4kx32_wire_per_payload", "  wire bytes per payload byte, plain (client inbound: frame bytes / message bytes)", "B/B", 1, "low", None),
    ("deflate_json_4kx32_msgs", "JSON 4 KiB × 32 conns, wsbridge --permessage-deflate (A: plain)", "msg/s", 1, "high", None),
    ("deflate_json_4kx32_wire_per_payload", "  wire bytes per payload byte, compressed (A: plain)", "B/B", 1, "low", None),
    ("deflate_json_4kx32_pct_plain", "  compressed msg/s as % of wsbridge's plain JSON row (same round)", "%", 1, "high", None),
    ("json_4kx32_busy_rss_per_conn_kib", "  server RSS per busy connection while the 32 pump, plain (peak over the fresh server's)", "KiB", 1, "low", None),
    ("deflate_json_4kx32_busy_rss_per_conn_kib", "  server RSS per busy compressed connection (A: plain)", "KiB", 1, "low", None),
    ("bin_mbs", "binary through `--binary cat`, 128 KiB in flight", "MB/s", 1, "high", ("ratio>=", 2.0)),
    ("pipe_raw_mbs", "  raw pipe through `cat` (ceiling, same run)", "MB/s", 1, "high", None),
    ("bin_pct_pipe", "  binary as % of raw pipe", "%", 1, "high", ("B>=", 60.0)),
    ("flood_msgs", "downstream flood, 64 B lines (`yes`)", "msg/s", 1, "high", ("ratio>=", 10.0)),
    ("slow_peak_growth_mib", "slow reader ({pause} s pause): server peak RSS growth", "MiB", 1, "low", ("B<=", 16.0)),
    ("slow_lost", "slow reader: lines lost or corrupt", "lines", 1, "low", ("B==", 0)),
    ("slow_read_s", "slow reader: time to read everything after the pause", "s", 1, "low", None),
    ("duplex_complete", "full duplex, 1 MiB ahead through `cat`: completes", "", 1, "high", ("B==", 1)),
    ("duplex_mbs", "full duplex throughput when it completes", "MB/s", 1, "high", None),
    # TLS (wss://): both servers with --ssl and the run's ECDSA P-256 certificate, every handshake full.
    ("tls_text_64x32_msgs", "TLS text 64 B × 32 conns", "msg/s", 1, "high", ("ratio>=", 3.0)),
    ("tls_text_64x32_pct_plain", "  TLS text 64 B × 32 as % of the same server's plain text 64 B × 32", "%", 1, "high", ("B>=", 60.0)),
    ("tls_bin_mbs", "TLS binary through `--binary cat`, 128 KiB in flight", "MB/s", 1, "high", ("ratio>=", 2.0)),
    ("tls_spawnpair_c16_cps", "TLS spawn 16 concurrent, connections/s (handshake, spawn, first message, close; alternating blocks)", "conn/s", 1, "high", ("ratio>=", 1.0)),
    ("tls_spawnpair_c16_p50_ms", "  TLS spawn 16 concurrent, connect→first message p50", "ms", 1, "low", None),
    ("tls_spawnpair_c16_handshake_p50_ms", "  TLS spawn 16 concurrent, connect→TLS handshake done p50", "ms", 1, "low", None),
    ("tls_spawnpair_c16_closeframe_pct", "  TLS connections the server ended with a close frame (then close frame and close_notify back)", "%", 1, "high", None),
    ("tls_spawnpair_seq_cps", "TLS spawn sequential, connections/s (alternating blocks)", "conn/s", 1, "high", ("ratio>=", 1.0)),
    ("tls_spawnpair_seq_p50_ms", "  TLS spawn sequential, connect→first message p50", "ms", 1, "low", None),
    ("tls_spawnpair_seq_handshake_p50_ms", "  TLS spawn sequential, connect→TLS handshake done p50", "ms", 1, "low", None),
    ("tls_hold_echoed", "{hold} TLS connections: echoed", "conns", 1, "high", ("B==", "hold")),
    ("tls_hold_echo_s", "{hold} TLS connections: time to open and echo all", "s", 1, "low", None),
]
HEADROOM = ["text_64x1_msgs", "text_64x32_msgs", "text_4kx1_mbs", "text_4kx32_mbs", "json_4kx32_msgs", "bin_mbs", "flood_msgs"]
# Compressed rows: websocketd cannot compress, so A's column (and B/A) is its plain figure.
A_FROM = {
    "deflate_json_4kx32_msgs": "json_4kx32_msgs",
    "deflate_json_4kx32_wire_per_payload": "json_4kx32_wire_per_payload",
    "deflate_json_4kx32_busy_rss_per_conn_kib": "json_4kx32_busy_rss_per_conn_kib",
    "deflate_hold_idle_rss_per_conn_kib": "hold_idle_rss_per_conn_kib",
}
# The echo server's own memory says nothing about the client's ceiling.
NO_ECHO = {"json_4kx32_busy_rss_per_conn_kib"}
# Fan-out (issue 14): wsbridge --broadcast (B) against the Python websockets server (P); websocketd has
# no broadcast. Same fields as ROWS; "|B|<=" bounds the absolute value.
FANOUT_ROWS = [
    ("fanout_msgs", "fan-out: 64 B lines × {n} clients, messages/s delivered in all", "msg/s", 1, "high", ("ratio>=", 10.0)),
    ("fanout_per_client_msgs", "  per client (lines/s of the one child, as each client gets them)", "msg/s", 1, "high", None),
    ("fanout_pct_echo", "  as % of wsbridge's own text 64 B × 32 echo (same round)", "%", 1, "high", ("B>=", 50.0)),
    ("fanout_echo_64x32_msgs", "  wsbridge text 64 B × 32 echo (same round, the reference)", "msg/s", 1, "high", None),
    ("fanout_gaps", "fan-out: gaps in any client's numbers", "gaps", 1, "low", ("B==", 0)),
    ("fanout_closed_early", "fan-out: clients closed before the end", "clients", 1, "low", ("B==", 0)),
    ("fanout_client_min_pct", "  slowest client's messages as % of the mean client's", "%", 1, "high", None),
    ("fanout_spread_kib", "  spread: most bytes between the first and the last client as they read (sampled every 100 ms)", "KiB", 1, "low", None),
    ("fanout_server_cpu_pct", "  server process CPU (not its child; 100 = one core)", "%", 1, "low", None),
    ("fanout_client_cpu_pct", "  client CPU (the same machine's cores)", "%", 1, "low", None),
    ("fanout_rss_per_client_kib", "fan-out: server RSS growth per client while {n} are served", "KiB", 1, "low", ("B<=", "queue")),
    # The slow-client rows come from a run of their own whose child is paced ({rate} lines/s), so that
    # the client is not the bottleneck and the others' rate without the slow client is the child's.
    ("fanout_paced_msgs", "paced child ({rate} lines/s = {total} msg/s to {n} clients): the {n} clients' messages/s "
     "without a slow client (mean of the windows just before and after the one with it)", "msg/s", 1, "high", None),
    ("fanout_paced_slow_msgs", "one slow client among {n} (1 KiB read every 100 ms), paced child: the {n} others' messages/s",
     "msg/s", 1, "high", None),
    ("fanout_paced_slow_change_pct", "  change against the windows without it just before and after (paced child)", "%", 1,
     "high", ("|B|<=", 10.0)),
    ("fanout_paced_slow_max_gap_ms", "  longest time any of the {n} others went without a message, window with the slow "
     "client (paced child)", "ms", 1, "low", None),
    ("fanout_paced_without_max_gap_ms", "  the same in the windows without it (the longer of before and after)", "ms", 1,
     "low", None),
    ("fanout_paced_slow_closed_1013", "  slow client closed with 1013 (1 = yes; paced child)", "", 1, "high", ("B==", 1)),
    ("fanout_paced_slow_life_ms", "  slow client: open until the server stopped sending to it (paced child)", "ms", 1,
     "low", None),
    ("fanout_paced_slow_gaps", "  slow client: gaps before its end (paced child)", "gaps", 1, "low", ("B==", 0)),
    ("fanout_paced_gaps", "  gaps in the {n} others' numbers (paced child)", "gaps", 1, "low", ("B==", 0)),
    ("fanout_paced_closed_early", "  of the {n} others closed before the end (paced child)", "clients", 1, "low", ("B==", 0)),
    ("fanout_paced_slow_rss_growth_kib", "  server peak RSS with it, minus without (paced child)", "KiB", 1, "low",
     ("B<=", "queue+1024")),
    ("fanout_paced_client_cpu_pct", "  client CPU without the slow client (paced child; 100 = the one core it can use)",
     "%", 1, "low", None),
    ("fanout_paced_slow_client_cpu_pct", "  client CPU in the window with it (paced child)", "%", 1, "low", None),
    ("fanout_paced_server_cpu_pct", "  server process CPU without the slow client (paced child)", "%", 1, "low", None),
]

# Over TLS the client does half of the exchange's cryptography itself, so its ceiling (a TLS echo
# server) is reported on its own line.
TLS_HEADROOM = ["tls_text_64x32_msgs", "tls_bin_mbs"]


def load(path):
    data = defaultdict(dict)  # (round, server) -> key -> float
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 4:
            continue
        rnd, server, key, value = parts
        try:
            data[(int(rnd), server)][key] = float(value)
        except ValueError:
            pass
    for d in data.values():
        if "bin_mbs" in d and d.get("pipe_raw_mbs", 0) > 0:
            d["bin_pct_pipe"] = 100 * d["bin_mbs"] / d["pipe_raw_mbs"]
        if "hold_spawn_p50_ms" in d and d.get("spawn_seq_p50_ms", 0) > 0:
            d["hold_spawn_growth"] = d["hold_spawn_p50_ms"] / d["spawn_seq_p50_ms"]
        if "tls_text_64x32_msgs" in d and d.get("text_64x32_msgs", 0) > 0:
            d["tls_text_64x32_pct_plain"] = 100 * d["tls_text_64x32_msgs"] / d["text_64x32_msgs"]
        if "deflate_json_4kx32_msgs" in d and d.get("json_4kx32_msgs", 0) > 0:
            d["deflate_json_4kx32_pct_plain"] = 100 * d["deflate_json_4kx32_msgs"] / d["json_4kx32_msgs"]
        if "deflate_hold_idle_rss_per_conn_kib" in d and "hold_idle_rss_per_conn_kib" in d:
            d["deflate_hold_idle_extra_kib"] = d["deflate_hold_idle_rss_per_conn_kib"] - d["hold_idle_rss_per_conn_kib"]
        for pfx in ("fanout_", "fanout_paced_"):
            if pfx + "slow_close_code" in d:
                d[pfx + "slow_closed_1013"] = 1.0 if d[pfx + "slow_close_code"] == 1013 else 0.0
    # The fan-out rows' reference is wsbridge's echo in the same round (recorded under wsbridge).
    for (r, s), d in data.items():
        ref = data.get((r, B), {}).get("fanout_echo_64x32_msgs")
        if "fanout_msgs" in d and ref:
            d["fanout_pct_echo"] = 100 * d["fanout_msgs"] / ref
    return data


def load_negotiated(path, key="tls_negotiated"):
    """What each server's handshakes settled on (a string the client reports: TLS's `negotiated`,
    permessage-deflate's `extension`): server -> set."""
    seen = defaultdict(set)
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) == 4 and parts[2] == key:
            seen[parts[1]].add(parts[3])
    return seen


def fmt(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fanout_table(data):
    """The fan-out rows (issue 14): wsbridge --broadcast (B) against the Python websockets server (P)."""
    rounds = sorted({r for (r, s), d in data.items() if s in (B, P) and "fanout_msgs" in d})
    if not rounds:
        return
    n = int(next((d["fanout_clients"] for d in data.values() if "fanout_clients" in d), 100))
    # Memory bounds follow the clients' queue bound (--clientqueue, 1 MiB unless FAN_CLIENTQUEUE set it).
    queue = max([d["fanout_clientqueue_kib"] for (r, s), d in data.items() if s == B and "fanout_clientqueue_kib" in d] or [1024])
    rate = next((d["fanout_paced_rate"] for d in data.values() if "fanout_paced_rate" in d), None)
    window = next((d["fanout_paced_window_s"] for d in data.values() if "fanout_paced_window_s" in d), None)

    def values(server, key):
        return [data[(r, server)][key] for r in rounds if key in data.get((r, server), {})]

    def num(v):  # counts as counts
        return str(int(v)) if v == int(v) and abs(v) < 1e4 else fmt(v)

    def cell(vals):
        if not vals:
            return "—"
        m = statistics.median(vals)
        return num(m) if len(vals) == 1 else f"{num(m)} [{num(min(vals))}–{num(max(vals))}]"

    print()
    print(f"Fan-out (issue 14): one child prints numbered 64-byte lines; {n} clients (one client process reading "
          f"every socket) each get every line as a text message and check that their numbers follow on without a gap. "
          f"Messages/s are those delivered to the {n} together. Two runs per server and round, each on a fresh server. "
          f"The rows down to RSS growth per client: the child (`wsbench numbered 64`) prints as fast as it can, "
          f"so the rate is whichever is slower, the server or the client process (at or near 100% of its core). "
          + (f"The slow-client rows: a run of their own whose child is paced (`wsbench numbered 64 0 {rate:.0f}`: "
             f"{rate:.0f} lines/s written every millisecond, blocking while the pipe is full and never more than 10 ms "
             f"of lines behind, so a stall longer than that is lost throughput, as it would be for a child printing "
             f"as fast as it can), well under the client's ceiling: without a slow client the {n} get the child's "
             f"rate. The slow client joins after the first window, offers a 4 KiB receive buffer and reads 1 KiB every "
             f"100 ms; the change compares the {n} others' rate in the window it joins with the mean of the windows "
             + (f"({window:g} s each) " if window else "") +
             f"just before and after, and the longest time any of the {n} went without a message shows a stall "
             f"directly (wsbridge lets a lagging client hold the child at most 150 ms). "
             if rate else "")
          + f"P is scripts/bench-client/broadcast_server.py: Python `websockets` with `broadcast()`, closing a client "
          f"with 1013 once its write buffer passes 1 MiB; it delivers far less than the paced child's rate, so its "
          f"paced rows are bound by the server itself. websocketd has no broadcast.")
    print()
    # A rate is only met with every client served to the end: one that was closed early stops counting.
    dropped = sum(1 for v in values(B, "fanout_closed_early") if v > 0)
    dropped_paced = sum(1 for v in values(B, "fanout_paced_closed_early") if v > 0)
    RATE_KEYS = ("fanout_msgs", "fanout_pct_echo")
    PACED_RATE_KEYS = ("fanout_paced_msgs", "fanout_paced_slow_msgs", "fanout_paced_slow_change_pct")
    print("| metric | unit | Python websockets (P) median [min–max] | wsbridge --broadcast (B) median [min–max] "
          "| B/P [per round] | target | met |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for key, label, unit, scale, better, target in FANOUT_ROWS:
        label = label.replace("{n}", str(n))
        if rate:
            label = label.replace("{rate}", fmt(rate)).replace("{total}", fmt(rate * n))
        vp, vb = values(P, key), values(B, key)
        if not vp and not vb:
            continue
        ratios = [data[(r, B)][key] / data[(r, P)][key] for r in rounds
                  if key in data.get((r, B), {}) and data.get((r, P), {}).get(key, 0) > 0]
        ratio = "—"
        if vp and vb and statistics.median(vp) > 0 and better is not None and unit in ("msg/s",):
            ratio = f"{statistics.median(vb) / statistics.median(vp):.2f}×"
            if len(ratios) > 1:
                ratio += f" [{min(ratios):.2f}–{max(ratios):.2f}]"
        tgt, met = "", ""
        if target:
            kind, bound = target
            if bound == "queue":
                bound = queue
            elif bound == "queue+1024":
                bound = queue + 1024
            if kind == "ratio>=":
                tgt = f"≥ {bound:g}×"
                met = "n/a" if not ratios else ("yes" if len(ratios) == len(rounds) and all(x >= bound for x in ratios)
                                               else f"NO (worst {min(ratios):.2f}×)")
            else:
                sym = {"B<=": "≤", "B>=": "≥", "B==": "=", "|B|<=": "|B| ≤"}[kind]
                tgt = f"{sym if kind == '|B|<=' else 'B ' + sym} {bound:g}" + (f" {unit}" if unit and kind != "B==" else "")
                test = {"B<=": lambda x: x <= bound, "B>=": lambda x: x >= bound, "B==": lambda x: x == bound,
                        "|B|<=": lambda x: abs(x) <= bound}[kind]
                ok = bool(vb) and len(vb) == len(rounds) and all(test(x) for x in vb)
                met = "yes" if ok else ("n/a" if not vb else f"NO ({', '.join(num(x) for x in vb)})")
        if dropped and key in RATE_KEYS:
            met = f"NO: clients closed early in {dropped}/{len(rounds)} rounds"
        if dropped_paced and key in PACED_RATE_KEYS:
            met = f"NO: clients closed early in {dropped_paced}/{len(rounds)} rounds"
        print(f"| {label} | {unit} | {cell(vp)} | {cell(vb)} | {ratio} | {tgt} | {met} |")


def proxy_table(data):
    """The behind-nginx rows (issue 16): wsbridge's text 64 B × 32 directly and through nginx running
    scripts/nginx/wsbridge.conf, plain and with TLS, and the ratio per round."""
    rounds = sorted({r for (r, s), d in data.items() if s == B and "proxy_direct_64x32_msgs" in d})
    if not rounds:
        return

    def values(key):
        return [data[(r, B)][key] for r in rounds if key in data.get((r, B), {})]

    def ratios(through, direct):
        return [100 * data[(r, B)][through] / data[(r, B)][direct] for r in rounds
                if data[(r, B)].get(direct, 0) > 0 and through in data[(r, B)]]

    def cell(vals, unit=""):
        if not vals:
            return "—"
        m = statistics.median(vals)
        return f"{fmt(m)}{unit}" + ("" if len(vals) == 1 else f" [{fmt(min(vals))}–{fmt(max(vals))}]")

    print()
    print("Behind nginx (issue 16): wsbridge's text 64 B × 32 connections echo (the `text_64x32` row's client), "
          "directly and through Debian's nginx running scripts/nginx/wsbridge.conf (least_conn upstream, every "
          "upstream line pointed at the one wsbridge; worker_processes auto), in the same round. Plain: ws:// both "
          "ways. TLS: wss:// to wsbridge --ssl directly, against wss:// to nginx, which ends TLS and talks plain "
          "HTTP to wsbridge.")
    print()
    print("| metric | unit | wsbridge median [min–max] |")
    print("| --- | --- | --- |")
    rows = [
        ("text 64 B × 32 conns, directly", "msg/s", values("proxy_direct_64x32_msgs")),
        ("  through nginx", "msg/s", values("proxy_nginx_64x32_msgs")),
        ("  through nginx as % of direct [per round]", "%", ratios("proxy_nginx_64x32_msgs", "proxy_direct_64x32_msgs")),
        ("TLS text 64 B × 32 conns, wsbridge --ssl directly", "msg/s", values("tls_proxy_direct_64x32_msgs")),
        ("  TLS ended at nginx, plain to wsbridge", "msg/s", values("tls_proxy_nginx_64x32_msgs")),
        ("  TLS at nginx as % of TLS directly [per round]", "%",
         ratios("tls_proxy_nginx_64x32_msgs", "tls_proxy_direct_64x32_msgs")),
    ]
    for label, unit, vals in rows:
        print(f"| {label} | {unit} | {cell(vals)} |")


def main():
    data = load(sys.argv[1])
    rounds = sorted({r for (r, s) in data if s in (A, B)})
    hold = int(next((d["hold_n"] for d in data.values() if "hold_n" in d), 1000))
    pause = next((d["slow_pause_s"] for d in data.values() if "slow_pause_s" in d), 10)
    idle = min([d["hold_idle_s"] for d in data.values() if "hold_idle_s" in d] or [2.5])

    def values(server, key):
        return [data[(r, server)][key] for r in rounds if key in data.get((r, server), {})]

    def cell(vals, scale):
        if not vals:
            return "—"
        m = statistics.median(vals) * scale
        if len(vals) == 1:
            return fmt(m)
        return f"{fmt(m)} [{fmt(min(vals) * scale)}–{fmt(max(vals) * scale)}]"

    echo = data.get((0, ECHO), {})
    # A run of the fan-out rows alone (scripts/bench --only=fanout) has no websocketd and no main table.
    has_main = any(s == A for (r, s) in data)

    def headroom(keys):
        heads = []
        for key in keys:
            best = max([statistics.median(v) for v in (values(A, key), values(B, key)) if v] or [0])
            if key in echo and best > 0:
                heads.append(echo[key] / best)
        return heads

    def client_cpu(tls):
        return [d[k] for (r, s), d in data.items() if s in (A, B) for k in d
                if k.endswith("_client_cpu_pct") and not k.startswith(("pipe_raw", "deflate_")) and k.startswith("tls_") == tls]

    if has_main:
        heads, cpu = headroom(HEADROOM), client_cpu(False)
        if heads:
            print(f"Client self-test (first line): against a trivial in-process echo server (no child) the same client "
                  f"moves {min(heads):.1f}–{max(heads):.1f}× more than the faster of the two servers on every throughput "
                  f"row (column `echo`), and during the server runs it used at most {max(cpu or [0]):.0f}% of one core: "
                  f"the servers, not the client, set the numbers below.")
            print()
        heads, cpu = headroom(TLS_HEADROOM), client_cpu(True)
        if heads:
            print(f"Over TLS the client does half of the cryptography of every exchange itself: against the same echo "
                  f"server over TLS it moves {min(heads):.1f}–{max(heads):.1f}× as much as the faster server on the TLS "
                  f"throughput rows, and during the TLS server runs it used at most {max(cpu or [0]):.0f}% of one core"
                  + ("." if min(heads) >= 1.2 else "; near or below 1×, a TLS row may be bounded by the client and the "
                     "machine's cores rather than by the server."))
            print()
        print("| metric | unit | echo (client ceiling) | websocketd (A) median [min–max] | wsbridge (B) median [min–max] "
              "| B/A [per round] | target | met |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for key, label, unit, scale, better, target in ROWS:
            key = key.replace("{hold}", str(hold))
            label = label.replace("{hold}", str(hold)).replace("{pause}", f"{pause:g}").replace("{idle}", f"{idle:.1f}")
            akey = A_FROM.get(key, key)
            va, vb = values(A, akey), values(B, key)
            ratios = []
            for r in rounds:
                a, b = data.get((r, A), {}).get(akey), data.get((r, B), {}).get(key)
                if a is not None and b is not None and a > 0:
                    ratios.append(b / a)
            ratio = "—"
            if va and vb and statistics.median(va) > 0:
                ratio = f"{statistics.median(vb) / statistics.median(va):.2f}×"
                if len(ratios) > 1:
                    ratio += f" [{min(ratios):.2f}–{max(ratios):.2f}]"
            tgt, met = "", ""
            if key == "duplex_complete":
                def dstate(vals):
                    if not vals:
                        return "—"
                    done = sum(1 for v in vals if v == 1)
                    return "completes" if done == len(vals) else f"STALLS ({len(vals) - done}/{len(vals)} rounds)"
                ca, cb = dstate(va), dstate(vb)
            else:
                ca, cb = cell(va, scale), cell(vb, scale)
            if target:
                kind, bound = target
                if bound == "hold":
                    bound = hold
                if kind.startswith("ratio"):
                    tgt = f"{'≥' if kind == 'ratio>=' else '≤'} {bound:g}×"
                    ok = len(ratios) == len(rounds) and all(
                        (x >= bound if kind == "ratio>=" else x <= bound) for x in ratios)
                    if not ratios:
                        met = "n/a"
                    else:
                        worst = min(ratios) if kind == "ratio>=" else max(ratios)
                        met = "yes" if ok else f"NO (worst {worst:.2f}×)"
                else:
                    sym = {"B<=": "≤", "B>=": "≥", "B==": "="}[kind]
                    tgt = f"B {sym} {bound:g}" + (f" {unit}" if unit and kind != "B==" else "")
                    ok = bool(vb) and len(vb) == len(rounds) and all(
                        (x <= bound if kind == "B<=" else x >= bound if kind == "B>=" else x == bound) for x in (v * scale for v in vb))
                    met = "yes" if ok else ("n/a" if not vb else "NO")
            ekey = {"rttpair_p50_us": "rtt_p50_us", "rttpair_p99_us": "rtt_p99_us"}.get(key, key)
            if ekey in NO_ECHO:
                ekey = None
            print(f"| {label} | {unit} | {fmt(echo[ekey] * scale) if ekey in echo else ''} | {ca} | {cb} | {ratio} | {tgt} | {met} |")

        floor = data.get((0, "floor"), {})
        if "floor_foundation_cpu_ms" in floor and "floor_posix_cpu_ms" in floor:
            print()
            caller = floor.get("floor_foundation_caller_cpu_ms")
            split = f" ({caller:.2f} ms of it in the calling thread, the rest in Foundation's own threads)" if caller is not None else ""
            print(f"Spawn floor (scripts/bench-client/spawnfloor.swift, one process starting /bin/true with the same "
                  f"pipes and process group, and, as wsbridge's spawner, no termination handler): Foundation "
                  f"`Process.run()`, which wsbridge must use, costs {floor['floor_foundation_cpu_ms']:.2f} ms of CPU per "
                  f"spawn{split} and {floor['floor_foundation_run_ms']:.2f} ms of wall time per call; a bare "
                  f"`posix_spawn`, about what websocketd's Go runtime pays, {floor['floor_posix_cpu_ms']:.2f} ms and "
                  f"{floor['floor_posix_run_ms']:.2f} ms.")

        negotiated = load_negotiated(sys.argv[1])
        if negotiated:
            print()
            print("TLS rows: both servers with `--ssl --sslcert --sslkey` and the run's self-signed ECDSA P-256 "
                  "certificate, which the client verifies (for 127.0.0.1); every handshake is a full one (the client "
                  "keeps no session). Negotiated (version/cipher/key exchange): "
                  + "; ".join(f"{s} {', '.join(sorted(negotiated[s]))}" for s in (A, B, ECHO) if s in negotiated) + ".")

        answers = load_negotiated(sys.argv[1], "deflate_extension")
        def b_values(key):
            return [d[key] for (r, s), d in data.items() if s == B and key in d]

        dcpu, dserver, pserver = (b_values("deflate_json_4kx32_client_cpu_pct"), b_values("deflate_json_4kx32_server_cpu_pct"),
                                  b_values("json_4kx32_server_cpu_pct"))
        if answers or dcpu:
            print()
            print("Compressed rows (issue 13): wsbridge with `--permessage-deflate`; websocketd cannot compress, so its "
                  "column there is its plain figure. The client offers what Chromium offers (`permessage-deflate; "
                  "client_max_window_bits`), compresses each message itself (zlib level 6, memLevel 8, afresh per message "
                  "when the server asks) and inflates every echo before checking it"
                  + (f", and used up to {max(dcpu):.0f}% of one core on the JSON row (on the same cores as the server and "
                     f"its 32 `cat` children)" if dcpu else "")
                  + (f"; wsbridge's process used {statistics.median(dserver):.0f}% there (200% = both cores) against "
                     f"{statistics.median(pserver):.0f}% on the plain JSON row" if dserver and pserver else "")
                  + ". wsbridge answered: " + ("; ".join(f"`{a}`" for a in sorted(answers.get(B, set()))) or "nothing") + ".")

    fanout_table(data)
    proxy_table(data)

    problems = []
    for (r, s), d in sorted(data.items()):
        for k, v in sorted(d.items()):
            bad = ("_err_" in k or k.endswith("_client_exit") or k.endswith("_ended_early")
                   or (k.endswith("unechoed_bytes") and v > 0) or (k == "leftover_processes" and v > 0)
                   or (k.endswith("_stalled_s")) or (k == "slow_lost" and v > 0)
                   or (k.startswith(("teardown_", "tls_teardown_", "deflate_teardown_")) and v < 0)
                   or (k.startswith("leftover_after") and v > 0) or k.endswith("deflate_declined")
                   or (k == "children_left_after_spawn_s" and v < 0)
                   or (k.startswith("fanout_") and k.endswith(("_gaps", "_missing", "_bad", "_backward", "_closed_early",
                                                                "_never_opened", "_closed_without_code")) and v > 0))
            if bad:
                problems.append(f"round {r} {s}: {k} = {fmt(v)}")
    print()
    if problems:
        print("Problems seen (errors, stalls, losses, leftovers):")
        for p in problems:
            print(f"- {p}")
    else:
        print("No errors, losses, stalls or leftover processes.")


if __name__ == "__main__":
    main()

/* Client measurements: raw pipe ceiling, slow reader, full duplex. */
#include "wsbench.h"
#include <poll.h>


/* ---- pipecat: the ceiling, the same stream pumped through `cat` over two pipes, no sockets ---- */

int t_pipecat(int argc, char **argv) {
    if (argc < 4) die("pipecat WINDOW CHUNK WARM DUR");
    size_t window = (size_t)atol(argv[0]), chunk = (size_t)atol(argv[1]);
    double warm = atof(argv[2]), dur = atof(argv[3]);
    if (chunk > PAT_N) die("CHUNK <= %d", PAT_N);
    int in[2], outp[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(outp[1], 1);
        execlp("cat", "cat", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(outp[1]);
    int wfd = in[1], rfd = outp[0];
    fcntl(wfd, F_SETFL, O_NONBLOCK);
    fcntl(rfd, F_SETFL, O_NONBLOCK);
    size_t rcap = 256 * 1024;
    uint8_t *rb = malloc(rcap);
    uint64_t sent = 0, recvd = 0, ba = 0, bb = 0;
    int bad = 0, phase = 0;
    double t0 = now(), tw = t0 + warm, te = tw + dur, ta = 0, tb = 0, ca = 0, cb = 0;
    for (long guard = 0; guard < 100000000 && !bad; guard++) {
        double t = now();
        if (phase == 0 && t >= tw) { ba = recvd; ta = t; ca = cpu_seconds(); phase = 1; }
        if (phase == 1 && t >= te) { bb = recvd; tb = t; cb = cpu_seconds(); break; }
        struct pollfd p[2] = {{rfd, POLLIN, 0}, {wfd, POLLOUT, 0}};
        int np = sent - recvd + chunk <= window ? 2 : 1;
        if (poll(p, (nfds_t)np, 100) < 0 && errno != EINTR) die("poll: %s", strerror(errno));
        if (np == 2 && (p[1].revents & POLLOUT)) {
            while (sent - recvd + chunk <= window) {
                ssize_t n = write(wfd, PAT + (sent % PAT_N), chunk);
                if (n <= 0) break;
                sent += (uint64_t)n;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP)) {
            for (int k = 0; k < 64; k++) {
                ssize_t n = read(rfd, rb, rcap);
                if (n <= 0) break;
                for (size_t done = 0; done < (size_t)n;) {
                    size_t at = (size_t)((recvd + done) % PAT_N), m = (size_t)n - done;
                    if (m > PAT_N) m = PAT_N;
                    if (memcmp(rb + done, PAT + at, m) != 0) bad = 1;
                    done += m;
                }
                recvd += (uint64_t)n;
            }
        }
    }
    close(wfd);
    close(rfd);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    free(rb);
    if (bad) out("pipe_raw_err_verify", "1");
    else if (tb > ta) {
        out("pipe_raw_mbs", "%.2f", (double)(bb - ba) / (tb - ta) / 1e6);
        out("pipe_raw_client_cpu_pct", "%.0f", 100 * (cb - ca) / (tb - ta));
    }
    return 0;
}

/* ---- slow: connect, read nothing for PAUSE seconds while the child floods, then read everything ---- */

static size_t s_len;
static void slow_open(conn *c) { c->read_paused = 1; }
static void slow_msg(conn *c, int op, const uint8_t *p, size_t n) {
    /* Line k (from 1) is k as 10 decimal digits, then filler, LEN bytes with its newline. */
    char num[16];
    snprintf(num, sizeof num, "%010llu", (unsigned long long)(c->u0 + 1));
    if (op != 1 || n != s_len - 1 || memcmp(p, num, 10) != 0 || memcmp(p + 10, FILL + 10, n - 10) != 0) {
        conn_fail(c, E_VERIFY);
        return;
    }
    c->u0++;
}
static const hooks slow_hooks = {slow_open, slow_msg, NULL, NULL};

int t_slow(int argc, char **argv) {
    if (argc < 4) die("slow PAUSE LINES LEN MAXREAD");
    double pause = atof(argv[0]), maxread = atof(argv[3]);
    uint64_t lines = (uint64_t)atoll(argv[1]);
    s_len = (size_t)atol(argv[2]);
    if (s_len < 12 || s_len > sizeof FILL) die("LEN in 12...%zu", sizeof FILL);
    memset(g_errors, 0, sizeof g_errors);
    long rss0 = rss_kib(g_server_pid), peak = rss0;
    conn c = {0};
    char q[64];
    snprintf(q, sizeof q, "slow");
    conn_start(&c, q, &slow_hooks);
    double t0 = now(), next = t0;
    while (c.state != C_DONE && c.t_open == 0 && now() - t0 < 10) loop_once(10);
    double tr = now() + pause;
    for (long guard = 0; guard < 10000000 && c.state != C_DONE; guard++) {
        double t = now();
        if (t >= next) { long r = rss_kib(g_server_pid); if (r > peak) peak = r; next = t + 0.1; }
        if (t >= tr) break;
        loop_once(20);
    }
    c.read_paused = 0;
    double t1 = now(), td = t1 + maxread;
    conn_read(&c);
    for (long guard = 0; guard < 100000000 && c.state != C_DONE; guard++) {
        double t = now();
        if (t >= next) { long r = rss_kib(g_server_pid); if (r > peak) peak = r; next = t + 0.1; }
        if (t >= td) { conn_fail(&c, E_TIMEOUT); break; }
        loop_once(20);
    }
    double t2 = now();
    out("slow_pause_s", "%g", pause);
    out("slow_lines", "%llu", (unsigned long long)c.u0);
    out("slow_expected", "%llu", (unsigned long long)lines);
    out("slow_lost", "%llu", (unsigned long long)(lines - c.u0));
    out("slow_read_s", "%.3f", t2 - t1);
    out("slow_rss0_kib", "%ld", rss0);
    out("slow_peak_growth_mib", "%.2f", (double)(peak - rss0) / 1024.0);
    if (c.got_close) out("slow_close_code", "%d", c.close_code);
    print_errors("slow");
    conn_free(&c);
    return 0;
}

/* ---- duplex: write WINDOW bytes ahead before reading anything, through `cat`, until TOTAL echoed ---- */

static size_t d_size, d_window;
static uint64_t d_total;

static void duplex_fill(conn *c) {
    for (int round = 0; round < 64 && c->state == C_OPEN; round++) { /* see pipe_fill: edge-triggered */
        int added = 0;
        for (int guard = 0; guard < 100000; guard++) {
            if (c->bsent >= d_total || c->bsent - c->brecv + d_size > d_window || conn_pending(c) > 256 * 1024) break;
            uint8_t *o = conn_reserve(c, d_size);
            uint32_t key = rnd32();
            size_t h = put_header(o, 1, d_size, 1, key);
            uint8_t hex[16];
            put_hex16(hex, c->u0);
            mask_copy(o + h, hex, 16, key);
            mask_copy(o + h + 16, (const uint8_t *)FILL + 16, d_size - 16, key);
            conn_commit(c, h + d_size);
            c->u0++;
            c->nsent++;
            c->bsent += d_size;
            added = 1;
        }
        conn_flush(c);
        if (!added || conn_pending(c) > 0) break;
    }
    /* Read only once the window is full or everything is sent: the client is ahead by WINDOW. */
    c->read_paused = c->bsent < d_total && c->bsent - c->brecv + d_size <= d_window;
}

static void duplex_msg(conn *c, int op, const uint8_t *p, size_t n) {
    if (op != 1 || n != d_size || get_hex16(p) != (int64_t)c->u1 || memcmp(p + 16, FILL + 16, n - 16) != 0) {
        conn_fail(c, E_VERIFY);
        return;
    }
    c->u1++;
}
static const hooks duplex_hooks = {duplex_fill, duplex_msg, NULL, duplex_fill};

int t_duplex(int argc, char **argv) {
    if (argc < 4) die("duplex WINDOW TOTAL SIZE STALLSEC");
    d_window = (size_t)atol(argv[0]);
    d_total = (uint64_t)atoll(argv[1]);
    d_size = (size_t)atol(argv[2]);
    double stall = atof(argv[3]);
    if (d_size < 16 || d_size > sizeof FILL) die("SIZE in 16...%zu", sizeof FILL);
    memset(g_errors, 0, sizeof g_errors);
    conn c = {0};
    conn_start(&c, "cat", &duplex_hooks);
    double t0 = now();
    while (c.state != C_DONE && c.t_open == 0 && now() - t0 < 10) loop_once(10);
    double ts = now();
    int stalled = 0;
    uint64_t max_ahead = 0;
    for (long guard = 0; guard < 100000000 && c.state == C_OPEN && c.brecv < d_total; guard++) {
        if (now() - c.t_last > stall) { stalled = 1; break; }
        loop_once(20);
        if (c.state == C_OPEN && !c.read_paused) conn_read(&c);
        if (c.bsent - c.brecv > max_ahead) max_ahead = c.bsent - c.brecv;
    }
    double te = now();
    int complete = c.state == C_OPEN && c.brecv == d_total;
    out("duplex_complete", "%d", complete);
    out("duplex_max_ahead_kib", "%.0f", (double)max_ahead / 1024);
    if (complete) out("duplex_mbs", "%.2f", (double)d_total / (te - ts) / 1e6);
    else {
        out("duplex_echoed_kib", "%.0f", (double)c.brecv / 1024);
        out("duplex_written_kib", "%.0f", (double)c.bwritten / 1024);
        if (stalled) out("duplex_stalled_s", "%.1f", stall);
    }
    print_errors("duplex");
    conn_finish(&c);
    conn_free(&c);
    return 0;
}

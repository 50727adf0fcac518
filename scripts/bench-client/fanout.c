/* Client measurement: fan-out. N clients of one broadcast child (`wsbench numbered 64 [0 RATE]`:
 * numbered 64-byte lines as fast as it can, or paced), every message checked, every client's numbers
 * checked for gaps; optionally one more client that reads slowly, to see that it is closed (1013)
 * and that the others do not slow down because of it, nor wait (the longest time any of the N went
 * without a message, per window). */
#include "wsbench.h"

#define F_LEN 63           /* a 64-byte line less its newline */
#define F_DIGITS 12
#define F_SLOW_READ 1024   /* the slow client takes this many bytes ... */
#define F_SLOW_EVERY 0.1   /* ... every this many seconds */
#define F_SLOW_RCVBUF 4096 /* and offers a small receive window (the kernel doubles it) */
#define F_MARKS 65536      /* (number, time) samples of one fast client, one per F_MARK_EVERY messages */
#define F_MARK_EVERY 256

/* Per connection: u0 = the last number seen (0: none yet; numbers start at 1), u1 = gaps (times a
 * number was not the previous one + 1), u2 = numbers missing in those gaps. */
static uint64_t f_bad, f_backward, f_slow_bad, f_slow_backward;
static int f_slow_id = -1;
/* The fast client that samples when each number arrived: the first one, or once it ends the next
 * still open (numbers are the child's, the same for every client). */
static conn *f_clients;
static int f_nclients, f_ref_id;
static uint64_t f_mark_num[F_MARKS];
static double f_mark_t[F_MARKS];
static size_t f_nmarks;
/* When each fast client last read a message (the time of the read that brought it), and the longest
 * time between two such reads of any fast client in the current window. */
static double *f_prev_t, f_gap_max;

static void fan_msg(conn *c, int op, const uint8_t *p, size_t n) {
    if (op != 1 || n != F_LEN || p[F_DIGITS] != ' ' || memcmp(p + F_DIGITS + 1, FILL + F_DIGITS + 1, F_LEN - F_DIGITS - 1) != 0) {
        *(c->id == f_slow_id ? &f_slow_bad : &f_bad) += 1;
        return;
    }
    uint64_t v = 0;
    for (int i = 0; i < F_DIGITS; i++) {
        unsigned d = (unsigned)p[i] - '0';
        if (d > 9) { *(c->id == f_slow_id ? &f_slow_bad : &f_bad) += 1; return; }
        v = v * 10 + d;
    }
    if (c->u0 != 0 && v != c->u0 + 1) {
        c->u1++;
        if (v > c->u0) c->u2 += v - c->u0 - 1;
        else *(c->id == f_slow_id ? &f_slow_backward : &f_backward) += 1;
    }
    c->u0 = v;
    if (c->id != f_slow_id) {
        double t = c->t_last, prev = f_prev_t[c->id];
        if (prev > 0 && t - prev > f_gap_max) f_gap_max = t - prev;
        f_prev_t[c->id] = t;
    }
    if (c->id == f_ref_id && c->nrecv % F_MARK_EVERY == 0 && f_nmarks < F_MARKS) {
        f_mark_num[f_nmarks] = v;
        f_mark_t[f_nmarks++] = now();
    }
}
static void slow_open(conn *c) { c->read_paused = 1; }
static void fan_end(conn *c) {
    if (c->id != f_ref_id) return;
    for (int i = 0; i < f_nclients; i++)
        if (f_clients[i].state == C_OPEN) { f_ref_id = i; return; }
}
static const hooks fan_hooks = {NULL, fan_msg, fan_end, NULL};
static const hooks fan_slow_hooks = {slow_open, fan_msg, NULL, NULL};

/* When the sampling client received number v (interpolated between its samples); -1 if outside them. */
static double mark_time(uint64_t v) {
    for (size_t i = 1; i < f_nmarks; i++)
        if (f_mark_num[i] >= v && f_mark_num[i - 1] <= v) {
            double span = (double)(f_mark_num[i] - f_mark_num[i - 1]);
            double k = span > 0 ? (double)(v - f_mark_num[i - 1]) / span : 0;
            return f_mark_t[i - 1] + k * (f_mark_t[i] - f_mark_t[i - 1]);
        }
    return -1;
}

typedef struct {
    double msgs;            /* messages/s delivered to the N clients together */
    double min_pct, max_pct; /* the slowest and fastest client, as % of the mean client */
    double client_cpu, server_cpu; /* % of one core in the window */
    long peak_rss;
    uint64_t spread;        /* the most lines between the first and the last open client, sampled */
    double max_gap;         /* s: the longest any open fast client went without a message */
} fwindow;

/* Runs the loop for dur seconds (the slow client, if any, takes its slice every F_SLOW_EVERY s) and
 * measures the N fast clients; the server's VmRSS is sampled every 100 ms. */
static void f_run(conn *cs, int n, conn *slow, double dur, double *next_slow, fwindow *w) {
    uint64_t *start = calloc((size_t)n, sizeof *start);
    for (int i = 0; i < n; i++) start[i] = cs[i].nrecv;
    double ta = now(), te = ta + dur, next_rss = ta, ca = cpu_seconds(), sa = proc_cpu_seconds(g_server_pid);
    w->peak_rss = -1;
    w->spread = 0;
    f_gap_max = 0;
    for (long guard = 0; guard < 100000000; guard++) {
        double t = now();
        if (t >= next_rss) {
            long r = rss_kib(g_server_pid);
            if (r > w->peak_rss) w->peak_rss = r;
            next_rss = t + 0.1;
            /* How far apart the clients are as they read (lines): a client closed as too slow
             * should have been this far behind the others. */
            uint64_t lo = UINT64_MAX, hi = 0;
            for (int i = 0; i < n; i++)
                if (cs[i].state == C_OPEN && cs[i].u0) { if (cs[i].u0 < lo) lo = cs[i].u0; if (cs[i].u0 > hi) hi = cs[i].u0; }
            if (hi >= lo && lo != UINT64_MAX && hi - lo > w->spread) w->spread = hi - lo;
        }
        if (slow && next_slow && t >= *next_slow) {
            conn_read_some(slow, F_SLOW_READ);
            *next_slow = t + F_SLOW_EVERY;
        }
        if (t >= te) break;
        loop_once(5);
    }
    double tb = now(), el = tb - ta, cb = cpu_seconds(), sb = proc_cpu_seconds(g_server_pid);
    /* A client still waiting at the end of the window waited this long so far. */
    for (int i = 0; i < n; i++)
        if (cs[i].state == C_OPEN && f_prev_t[i] > 0 && tb - f_prev_t[i] > f_gap_max) f_gap_max = tb - f_prev_t[i];
    w->max_gap = f_gap_max;
    uint64_t sum = 0, lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < n; i++) {
        uint64_t d = cs[i].nrecv - start[i];
        sum += d;
        if (d < lo) lo = d;
        if (d > hi) hi = d;
    }
    double mean = (double)sum / n;
    w->msgs = (double)sum / el;
    w->min_pct = mean > 0 ? 100 * (double)lo / mean : 0;
    w->max_pct = mean > 0 ? 100 * (double)hi / mean : 0;
    w->client_cpu = 100 * (cb - ca) / el;
    w->server_cpu = sa >= 0 && sb >= 0 ? 100 * (sb - sa) / el : -1;
    free(start);
}

static void outp(const char *prefix, const char *name, const char *fmt, double v) {
    char key[128];
    snprintf(key, sizeof key, "%s_%s", prefix, name);
    out(key, fmt, v);
}

/* A connection's end as a number: its close code, 0 = EOF or failure without a close frame, -1 = still
 * open, -2 = never opened. */
static int end_code(const conn *c) {
    if (c->state == C_OPEN) return -1;
    if (c->state != C_DONE || c->t_open == 0) return -2;
    return c->got_close ? c->close_code : 0;
}

int t_fanout(int argc, char **argv) {
    if (argc < 5) die("fanout PREFIX N WARM DUR SLOW(0|1) [QUERY]");
    const char *prefix = argv[0], *query = argc >= 6 ? argv[5] : "fanout";
    int n = atoi(argv[1]), with_slow = atoi(argv[4]);
    double warm = atof(argv[2]), dur = atof(argv[3]);
    if (n < 1 || n > 4000) die("N in 1...4000");
    memset(g_errors, 0, sizeof g_errors);
    f_bad = f_backward = f_slow_bad = f_slow_backward = 0;
    f_slow_id = n;
    f_nmarks = 0;
    long rss0 = rss_kib(g_server_pid);
    conn *cs = calloc((size_t)n + 1, sizeof(conn)), *slow = &cs[n];
    f_prev_t = calloc((size_t)n + 1, sizeof *f_prev_t);
    f_clients = cs;
    f_nclients = n;
    f_ref_id = 0;
    /* The first client alone, so that the child starts with it; then the others together. */
    cs[0].id = 0;
    conn_start(&cs[0], query, &fan_hooks);
    double t0 = now();
    while (cs[0].state != C_OPEN && cs[0].state != C_DONE && now() - t0 < 10) loop_once(10);
    outp(prefix, "first_open_s", "%.3f", now() - t0);
    for (int i = 1; i < n; i++) { cs[i].id = i; conn_start(&cs[i], query, &fan_hooks); }
    int open = 0;
    while (now() - t0 < 20) {
        open = 0;
        for (int i = 0; i < n; i++) if (cs[i].state == C_OPEN || cs[i].state == C_DONE) open++;
        if (open == n) break;
        loop_once(10);
    }
    outp(prefix, "open_s", "%.3f", now() - t0);
    fwindow w1 = {0}, w2 = {0}, w3 = {0};
    f_run(cs, n, NULL, warm, NULL, &w1);
    f_run(cs, n, NULL, dur, NULL, &w1);
    double slow_open_t = 0;
    if (with_slow) {
        /* Without, with one slow client, then without again (it is closed by then, or still there):
         * "with" is compared to the mean of the two "without" windows around it. */
        slow->id = n;
        slow->rcvbuf = F_SLOW_RCVBUF;
        conn_start(slow, query, &fan_slow_hooks);
        double next_slow = now() + F_SLOW_EVERY, ts = now();
        while (slow->state != C_OPEN && slow->state != C_DONE && now() - ts < 10) loop_once(5);
        slow_open_t = slow->t_open;
        f_run(cs, n, slow, dur, &next_slow, &w2);
        f_run(cs, n, slow, dur, &next_slow, &w3);
    }
    /* Every fast client's state now, before the slow one is drained. */
    int alive = 0, eof = 0, unopened = 0, codes[16] = {0}, ncodes = 0, code_count[16] = {0};
    uint64_t gaps = 0, missing = 0;
    for (int i = 0; i < n; i++) {
        gaps += cs[i].u1;
        missing += cs[i].u2;
        int e = end_code(&cs[i]);
        if (e == -1) { alive++; continue; }
        if (e == -2) { unopened++; continue; }
        if (e == 0) { eof++; continue; }
        int k = 0;
        while (k < ncodes && codes[k] != e) k++;
        if (k == ncodes && ncodes < 16) codes[ncodes++] = e;
        if (k < 16) code_count[k]++;
    }
    if (with_slow) {
        /* Read what the slow client still has coming, at full speed: its close frame (if the server
         * closed it) is behind everything the kernel buffers held. */
        slow->read_paused = 0;
        conn_read(slow);
        double td = now() + 5;
        while (slow->state == C_OPEN && now() < td) {
            if (cs[f_ref_id].state == C_OPEN && slow->u0 >= cs[f_ref_id].u0) break; /* caught up with the live stream: not closed */
            loop_once(5);
        }
    }
    double base = (w1.msgs + w3.msgs) / 2;
    outp(prefix, "clients", "%.0f", n);
    outp(prefix, "msgs", "%.0f", with_slow ? base : w1.msgs);
    outp(prefix, "per_client_msgs", "%.0f", (with_slow ? base : w1.msgs) / n);
    outp(prefix, "client_min_pct", "%.1f", w1.min_pct);
    outp(prefix, "client_max_pct", "%.1f", w1.max_pct);
    outp(prefix, "client_cpu_pct", "%.0f", w1.client_cpu);
    outp(prefix, "max_gap_ms", "%.1f", 1000 * w1.max_gap);
    outp(prefix, "spread_kib", "%.0f", (double)w1.spread * (F_LEN + 2) / 1024);
    if (w1.server_cpu >= 0) outp(prefix, "server_cpu_pct", "%.0f", w1.server_cpu);
    outp(prefix, "gaps", "%.0f", (double)gaps);
    outp(prefix, "missing", "%.0f", (double)missing);
    outp(prefix, "bad", "%.0f", (double)f_bad);
    if (f_backward) outp(prefix, "backward", "%.0f", (double)f_backward);
    outp(prefix, "alive", "%.0f", alive);
    outp(prefix, "closed_early", "%.0f", n - alive);
    if (eof) outp(prefix, "closed_without_code", "%.0f", eof);
    if (unopened) outp(prefix, "never_opened", "%.0f", unopened);
    for (int k = 0; k < ncodes; k++) {
        char name[32];
        snprintf(name, sizeof name, "closed_%d", codes[k]);
        outp(prefix, name, "%.0f", code_count[k]);
    }
    if (rss0 > 0 && w1.peak_rss > 0) {
        outp(prefix, "rss0_kib", "%.0f", rss0);
        outp(prefix, "peak_rss_kib", "%.0f", w1.peak_rss);
        outp(prefix, "rss_per_client_kib", "%.1f", (double)(w1.peak_rss - rss0) / n);
    }
    if (with_slow) {
        outp(prefix, "before_msgs", "%.0f", w1.msgs);
        outp(prefix, "slow_msgs", "%.0f", w2.msgs);
        outp(prefix, "after_msgs", "%.0f", w3.msgs);
        if (base > 0) outp(prefix, "slow_change_pct", "%.2f", 100 * (w2.msgs / base - 1));
        outp(prefix, "slow_client_min_pct", "%.1f", w2.min_pct);
        outp(prefix, "slow_client_cpu_pct", "%.0f", w2.client_cpu);
        /* The longest any fast client went without a message: in the window the slow client joined,
         * and in the worse of the windows without it (before; after, once it is gone). */
        outp(prefix, "slow_max_gap_ms", "%.1f", 1000 * w2.max_gap);
        outp(prefix, "before_max_gap_ms", "%.1f", 1000 * w1.max_gap);
        outp(prefix, "after_max_gap_ms", "%.1f", 1000 * w3.max_gap);
        outp(prefix, "without_max_gap_ms", "%.1f", 1000 * (w1.max_gap > w3.max_gap ? w1.max_gap : w3.max_gap));
        int code = end_code(slow);
        outp(prefix, "slow_close_code", "%.0f", code);
        outp(prefix, "slow_recv", "%.0f", (double)slow->nrecv);
        outp(prefix, "slow_gaps", "%.0f", (double)slow->u1);
        outp(prefix, "slow_bad", "%.0f", (double)(f_slow_bad + f_slow_backward));
        /* How long the server kept it: from its open until the fast clients got the number after the
         * last one it received (the message the server could not queue for it any more). */
        double tl = code >= 0 && slow->u0 ? mark_time(slow->u0 + 1) : -1;
        if (tl > 0 && slow_open_t > 0) outp(prefix, "slow_life_ms", "%.0f", 1000 * (tl - slow_open_t));
        long peak = w2.peak_rss > w3.peak_rss ? w2.peak_rss : w3.peak_rss;
        if (peak > 0 && w1.peak_rss > 0) outp(prefix, "slow_rss_growth_kib", "%.0f", (double)(peak - w1.peak_rss));
    }
    print_errors(prefix);
    for (int i = 0; i <= n; i++) { conn_finish(&cs[i]); conn_free(&cs[i]); }
    free(cs);
    free(f_prev_t);
    f_prev_t = NULL;
    return 0;
}

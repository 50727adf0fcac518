/* Client measurements: spawn latency, many open connections, echo RTT, pipelined echo, flood. */
#include "wsbench.h"

static int g_stop;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double q) {
    if (n == 0) return -1;
    size_t i = (size_t)(q * (double)n + 0.999999);
    if (i == 0) i = 1;
    if (i > n) i = n;
    return v[i - 1];
}

void print_errors(const char *prefix) {
    char key[128];
    for (int i = 0; i < E_COUNT; i++) {
        if (!g_errors[i]) continue;
        snprintf(key, sizeof key, "%s_err_%s", prefix, ERR_NAMES[i]);
        out(key, "%llu", (unsigned long long)g_errors[i]);
    }
    memset(g_errors, 0, sizeof g_errors);
}

static void outf(const char *prefix, const char *name, const char *fmt, double v) {
    char key[128];
    snprintf(key, sizeof key, "%s_%s", prefix, name);
    out(key, fmt, v);
}

/* ---- spawn: connect → first message, then the server's close or EOF ends the connection ---- */

static void spawn_msg(conn *c, int op, const uint8_t *p, size_t n) {
    if (c->nrecv != 1 || op != 1 || n != 2 || memcmp(p, "hi", 2) != 0) conn_fail(c, E_VERIFY);
}
static const hooks spawn_hooks = {NULL, spawn_msg, NULL, NULL};

/* What a run of spawns measured: per connection, connect → first message (lat), first message →
 * the server's end (fin), connect → 101 (opn) and, with --tls, connect → TLS handshake done (tls);
 * the time the blocks took. */
typedef struct {
    double *lat, *fin, *opn, *tls, sum, busy;
    int nlat, started, closeframes;
} spawn_stats;

static void spawn_stats_init(spawn_stats *s, int cap) {
    memset(s, 0, sizeof *s);
    s->lat = malloc((size_t)cap * sizeof(double));
    s->fin = malloc((size_t)cap * sizeof(double));
    s->opn = malloc((size_t)cap * sizeof(double));
    s->tls = malloc((size_t)cap * sizeof(double));
}

/* n connections to `?query` on g_port, conc at a time, until deadline; adds to s, and the time
 * from the block's start to its last connection's end to s->busy. */
static void spawn_block(spawn_stats *s, const char *query, int n, int conc, double deadline) {
    conn *cs = calloc((size_t)conc, sizeof(conn));
    int started = 0;
    double t0 = now(), tlast = t0;
    for (long guard = 0; guard < 10000000; guard++) {
        double t = now();
        int busy = 0;
        for (int i = 0; i < conc; i++) {
            if (cs[i].state == C_FREE && started < n && t < deadline) {
                cs[i].id = s->started + started++;
                conn_start(&cs[i], query, &spawn_hooks);
            }
            if (cs[i].state != C_FREE) busy = 1;
        }
        if (!busy || t > deadline + 10) break;
        loop_once(5);
        t = now();
        for (int i = 0; i < conc; i++) {
            conn *c = &cs[i];
            if (c->state == C_DONE) {
                if (!c->failed && c->t_first > 0) {
                    s->fin[s->nlat] = c->t_end - c->t_first;
                    s->opn[s->nlat] = c->t_open - c->t_start;
                    s->tls[s->nlat] = c->t_tls - c->t_start;
                    s->sum += c->t_end - c->t_start;
                    s->lat[s->nlat++] = c->t_first - c->t_start;
                    /* A close frame asks this client for one back (and, over TLS, close_notify):
                     * work per connection that a server ending with a bare EOF does not cause. */
                    if (c->got_close) s->closeframes++;
                    tlast = t;
                }
                else if (!c->failed) g_errors[E_EOF_EARLY]++;
                c->state = C_FREE;
            } else if (c->state != C_FREE && t - c->t_start > 5.0) {
                conn_fail(c, E_TIMEOUT);
                c->state = C_FREE;
            }
        }
    }
    s->started += started;
    s->busy += tlast - t0;
    for (int i = 0; i < conc; i++) conn_free(&cs[i]);
    free(cs);
}

static void spawn_report(const char *prefix, spawn_stats *s) {
    size_t n = (size_t)s->nlat;
    qsort(s->lat, n, sizeof(double), cmp_double);
    qsort(s->fin, n, sizeof(double), cmp_double);
    qsort(s->opn, n, sizeof(double), cmp_double);
    qsort(s->tls, n, sizeof(double), cmp_double);
    outf(prefix, "n", "%.0f", s->started);
    outf(prefix, "ok", "%.0f", s->nlat);
    if (n > 0) {
        outf(prefix, "p50_ms", "%.3f", pct(s->lat, n, 0.5) * 1e3);
        outf(prefix, "p99_ms", "%.3f", pct(s->lat, n, 0.99) * 1e3);
        if (s->busy > 0) outf(prefix, "cps", "%.1f", s->nlat / s->busy);
        /* After "hi", the child has exited: how long until the server ends the connection. */
        outf(prefix, "end_p50_ms", "%.3f", pct(s->fin, n, 0.5) * 1e3);
        outf(prefix, "upgrade_p50_ms", "%.3f", pct(s->opn, n, 0.5) * 1e3);
        if (g_tls_ca) outf(prefix, "handshake_p50_ms", "%.3f", pct(s->tls, n, 0.5) * 1e3);
        outf(prefix, "mean_total_ms", "%.3f", s->sum / s->nlat * 1e3);
        outf(prefix, "closeframe_pct", "%.1f", 100.0 * s->closeframes / s->nlat);
    }
    free(s->lat);
    free(s->fin);
    free(s->opn);
    free(s->tls);
}

void spawn_run(const char *prefix, const char *query, int n, int conc, double maxsec) {
    memset(g_errors, 0, sizeof g_errors);
    spawn_stats s;
    spawn_stats_init(&s, n);
    spawn_block(&s, query, n, conc, now() + maxsec);
    spawn_report(prefix, &s);
    print_errors(prefix);
}

int t_spawn(int argc, char **argv) {
    if (argc < 4) die("spawn PREFIX N CONC MAXSEC");
    spawn_run(argv[0], "hi", atoi(argv[1]), atoi(argv[2]), atof(argv[3]));
    return 0;
}

/* The same on two servers in alternating blocks (A B B A ...), as rttpair: a spawn on a small VM
 * costs up to 1.7x more from one minute to the next, more than between the servers. Reports
 * PREFIX_a_* and PREFIX_b_*; connections/s counts only the time of each server's own blocks. */
int t_spawnpair(int argc, char **argv) {
    if (argc < 6) die("spawnpair PREFIX PORT2 BLOCKS PER CONC MAXSEC");
    int ports[2] = {g_port, atoi(argv[1])}, blocks = atoi(argv[2]), per = atoi(argv[3]), conc = atoi(argv[4]);
    double deadline = now() + atof(argv[5]);
    memset(g_errors, 0, sizeof g_errors);
    spawn_stats s[2];
    for (int i = 0; i < 2; i++) spawn_stats_init(&s[i], blocks * per);
    for (int b = 0; b < blocks && now() < deadline; b++) {
        for (int k = 0; k < 2; k++) {
            int x = k ^ (b & 1);
            g_port = ports[x];
            spawn_block(&s[x], "hi", per, conc, deadline);
        }
    }
    char prefix[96];
    for (int i = 0; i < 2; i++) {
        snprintf(prefix, sizeof prefix, "%s_%c", argv[0], 'a' + i);
        spawn_report(prefix, &s[i]);
    }
    print_errors(argv[0]);
    return 0;
}

/* ---- hold: N `cat` connections open at once, each echoes one message; then spawn while they stay open ---- */

static double g_hold_last_open, g_hold_last_echo;
static void hold_open(conn *c) {
    uint8_t b[16];
    put_hex16(b, (uint64_t)c->id);
    conn_send(c, 1, b, 16);
    conn_flush(c);
    g_hold_last_open = c->t_open;
}
static void hold_msg(conn *c, int op, const uint8_t *p, size_t n) {
    if (op != 1 || n != 16 || get_hex16(p) != c->id || c->u0) { conn_fail(c, E_VERIFY); return; }
    c->u0 = 1;
    g_hold_last_echo = now();
}
static const hooks hold_hooks = {hold_open, hold_msg, NULL, NULL};

int t_hold(int argc, char **argv) {
    if (argc < 4) die("hold N MAXSEC SPAWN_N SPAWN_SEC [IDLE_SEC]");
    int n = atoi(argv[0]), spawn_n = atoi(argv[2]);
    double maxsec = atof(argv[1]), spawn_sec = atof(argv[3]), idle = argc > 4 ? atof(argv[4]) : 0;
    memset(g_errors, 0, sizeof g_errors);
    conn *cs = calloc((size_t)n, sizeof(conn));
    long rss0 = rss_kib(g_server_pid), all0 = rss_all_kib();
    double t0 = now();
    int started = 0;
    for (long guard = 0; guard < 10000000; guard++) {
        double t = now();
        if (t - t0 > maxsec) break;
        int pending = 0, unsettled = 0;
        for (int i = 0; i < started; i++) {
            if (cs[i].state == C_CONNECTING || cs[i].state == C_TLS || cs[i].state == C_HANDSHAKE) pending++;
            if (cs[i].state != C_DONE && !cs[i].u0) unsettled++;
        }
        if (started == n && unsettled == 0) break;
        /* At most 64 handshakes in progress, so the listen backlog never overflows. */
        while (started < n && pending < 64) {
            cs[started].id = started;
            conn_start(&cs[started], "cat", &hold_hooks);
            started++;
            pending++;
        }
        loop_once(5);
    }
    int opened = 0, echoed = 0;
    for (int i = 0; i < started; i++) {
        if (cs[i].t_open > 0) opened++;
        if (cs[i].u0) echoed++;
    }
    for (int i = 0; i < started; i++)
        if (cs[i].state != C_DONE && !cs[i].u0) conn_fail(&cs[i], E_TIMEOUT);
    double settle = now() + 0.3;
    while (now() < settle) loop_once(20);
    long rss1 = rss_kib(g_server_pid), all1 = rss_all_kib();
    out("hold_n", "%d", n);
    out("hold_opened", "%d", opened);
    out("hold_echoed", "%d", echoed);
    if (opened == n) out("hold_open_s", "%.3f", g_hold_last_open - t0);
    if (echoed == n) out("hold_echo_s", "%.3f", g_hold_last_echo - t0);
    out("hold_rss0_kib", "%ld", rss0);
    out("hold_rss1_kib", "%ld", rss1);
    if (echoed > 0 && rss0 > 0) out("hold_rss_per_conn_kib", "%.1f", (double)(rss1 - rss0) / echoed);
    if (echoed > 0 && all0 > 0) out("hold_rss_all_per_conn_kib", "%.1f", (double)(all1 - all0) / echoed);
    /* Again once every connection has been quiet for IDLE_SEC: wsbridge gives back the buffers of a
     * session one to two seconds after its last traffic (its timer fires a second after it went
     * idle, and again a second later if traffic came in between). */
    if (idle > 0 && echoed > 0) {
        double until = g_hold_last_echo + idle;
        for (long guard = 0; guard < 100000 && now() < until; guard++) loop_once(20);
        long rss2 = rss_kib(g_server_pid), all2 = rss_all_kib();
        out("hold_idle_s", "%.2f", now() - g_hold_last_echo);
        if (rss0 > 0) out("hold_idle_rss_per_conn_kib", "%.1f", (double)(rss2 - rss0) / echoed);
        if (all0 > 0) out("hold_idle_rss_all_per_conn_kib", "%.1f", (double)(all2 - all0) / echoed);
    }
    /* --deflate: connections whose echo came back compressed (ours went out compressed). */
    if (g_deflate) {
        int compressed = 0;
        for (int i = 0; i < started; i++) compressed += cs[i].ncompressed > 0;
        out("hold_compressed", "%d", compressed);
    }
    print_errors("hold");
    spawn_run("hold_spawn", "hi", spawn_n, 1, spawn_sec);
    int alive = 0;
    for (int i = 0; i < n; i++) if (cs[i].state == C_OPEN) alive++;
    out("hold_alive_after", "%d", alive);
    for (int i = 0; i < n; i++) { conn_finish(&cs[i]); conn_free(&cs[i]); }
    free(cs);
    return 0;
}

/* ---- rtt: one 16-byte text message at a time through `cat`, in blocks ---- */

/* u0 = messages sent, u1 = this block is done, u2 = round trips left in this block. */
static double g_rtt_sent;
static size_t g_rtt_cap;
static void rtt_send(conn *c) {
    uint8_t b[16];
    put_hex16(b, c->u0);
    g_rtt_sent = now();
    conn_send(c, 1, b, 16);
    conn_flush(c);
}
static void rtt_msg(conn *c, int op, const uint8_t *p, size_t n) {
    double t = now();
    if (op != 1 || n != 16 || get_hex16(p) != (int64_t)c->u0) { conn_fail(c, E_VERIFY); return; }
    if (c->u0 >= 20 && c->nsamples < g_rtt_cap) c->samples[c->nsamples++] = t - g_rtt_sent; /* 20 warm up */
    c->u0++;
    if (c->u2 > 0) c->u2--;
    if (c->u2 > 0) rtt_send(c);
    else c->u1 = 1;
}
static const hooks rtt_hooks = {NULL, rtt_msg, NULL, NULL};

/* Runs `per` round trips on c, at most until deadline. */
static void rtt_block(conn *c, uint64_t per, double deadline) {
    if (c->state != C_OPEN) return;
    c->u1 = 0;
    c->u2 = per;
    rtt_send(c);
    while (c->state == C_OPEN && !c->u1 && now() < deadline) loop_once(50);
}

static void rtt_report(const char *prefix, conn *c) {
    char key[64];
    qsort(c->samples, c->nsamples, sizeof(double), cmp_double);
    snprintf(key, sizeof key, "%s_n", prefix);
    out(key, "%zu", c->nsamples);
    if (c->nsamples > 0) {
        snprintf(key, sizeof key, "%s_p50_us", prefix);
        out(key, "%.1f", pct(c->samples, c->nsamples, 0.5) * 1e6);
        snprintf(key, sizeof key, "%s_p99_us", prefix);
        out(key, "%.1f", pct(c->samples, c->nsamples, 0.99) * 1e6);
    }
    free(c->samples);
    c->samples = NULL;
}

/* Opens `cat` sessions on every port given (the first is the run's port) and waits until all are open. */
static int rtt_open(conn *cs, int n, const int *ports) {
    for (int i = 0; i < n; i++) {
        g_port = ports[i];
        cs[i].samples = malloc(g_rtt_cap * sizeof(double));
        cs[i].nsamples = 0;
        conn_start(&cs[i], "cat", &rtt_hooks);
    }
    double t0 = now();
    int open = 0;
    while (now() - t0 < 10) {
        open = 0;
        for (int i = 0; i < n; i++) open += cs[i].state == C_OPEN;
        if (open == n) break;
        loop_once(10);
    }
    return open == n;
}

int t_rtt(int argc, char **argv) {
    if (argc < 2) die("rtt N MAXSEC");
    g_rtt_cap = (size_t)atoi(argv[0]) + 32;
    memset(g_errors, 0, sizeof g_errors);
    conn c = {0};
    int port = g_port;
    if (rtt_open(&c, 1, &port)) rtt_block(&c, g_rtt_cap - 12, now() + atof(argv[1]));
    rtt_report("rtt", &c);
    print_errors("rtt");
    conn_finish(&c);
    conn_free(&c);
    return 0;
}

/* Two servers in alternating blocks, so both see the same machine: latency on a small VM drifts
 * by several times within a minute (CPU placement, idle states), far more than between servers. */
int t_rttpair(int argc, char **argv) {
    if (argc < 4) die("rttpair PORT2 BLOCKS PER_BLOCK MAXSEC");
    int ports[2] = {g_port, atoi(argv[0])}, blocks = atoi(argv[1]);
    uint64_t per = (uint64_t)atoll(argv[2]);
    double deadline = now() + atof(argv[3]);
    g_rtt_cap = (size_t)blocks * per + 32;
    memset(g_errors, 0, sizeof g_errors);
    conn cs[2] = {{0}, {0}};
    if (rtt_open(cs, 2, ports))
        for (int b = 0; b < blocks && now() < deadline; b++) {
            rtt_block(&cs[b & 1], per + (b < 2 ? 20 : 0), deadline); /* ABBAABBA... keeps order fair */
            rtt_block(&cs[1 - (b & 1)], per + (b < 2 ? 20 : 0), deadline);
        }
    rtt_report("rttpair_a", &cs[0]);
    rtt_report("rttpair_b", &cs[1]);
    print_errors("rttpair");
    for (int i = 0; i < 2; i++) { conn_finish(&cs[i]); conn_free(&cs[i]); }
    return 0;
}

/* ---- pipe: pipelined echo, each connection keeps at most WINDOW payload bytes in flight ---- */

static size_t g_size, g_window;
static int g_binary, g_json;

/* ---- json: messages of SIZE bytes, arrays of log records as a service would push them ----
 * {"seq":"<16 hex digits>","records":[{"ts":1733150000123,"host":"web-3","cpu":0.734,"mem":51234,
 * "status":200,"path":"/api/v1/orders/48213","tags":["a","b"]},...]} padded with spaces before
 * the closing "]}". A pool of JSON_POOL different messages from a fixed seed (the same in every run),
 * so no message repeats within a deflate window (32 KiB); message k of connection i is pool entry
 * (7i + k) mod JSON_POOL with k as its sequence number. No newline: one line for `cat`. */
#define JSON_POOL 64
#define JSON_SEQ 8 /* where the sequence number's digits start */
static uint8_t *j_pool, *j_msg;

static void json_pool_init(size_t size) {
    static const char *tags[] = {"[]", "[\"a\"]", "[\"a\",\"b\"]", "[\"api\",\"slow\"]", "[\"db\",\"cache\",\"eu-west-1\"]"};
    static const int status[] = {200, 200, 200, 200, 200, 200, 201, 204, 304, 404, 500};
    free(j_pool);
    free(j_msg);
    j_pool = malloc(JSON_POOL * size);
    j_msg = malloc(size);
    if (!j_pool || !j_msg) die("out of memory");
    uint64_t s = 0x0123456789ABCDEFULL, ts = 1733150000123ULL;
    for (int k = 0; k < JSON_POOL; k++) {
        char *m = (char *)j_pool + (size_t)k * size, rec[256];
        size_t len = (size_t)snprintf(m, size, "{\"seq\":\"%016x\",\"records\":[", 0);
        for (int first = 1;; first = 0) {
            s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
            uint64_t x = s * 0x2545F4914F6CDD1DULL;
            ts += 1 + (x >> 8) % 250;
            int r = snprintf(rec, sizeof rec,
                             "%s{\"ts\":%llu,\"host\":\"web-%u\",\"cpu\":0.%03u,\"mem\":%u,\"status\":%d,"
                             "\"path\":\"/api/v1/orders/%u\",\"tags\":%s}",
                             first ? "" : ",", (unsigned long long)ts, (unsigned)((x >> 16) % 24), (unsigned)((x >> 24) % 1000),
                             (unsigned)(10000 + (x >> 34) % 90000), status[(x >> 51) % 11], (unsigned)((x >> 40) % 100000),
                             tags[(x >> 60) % 5]);
            if (len + (size_t)r + 2 > size) break;
            memcpy(m + len, rec, (size_t)r);
            len += (size_t)r;
        }
        memset(m + len, ' ', size - 2 - len);
        m[size - 2] = ']';
        m[size - 1] = '}';
    }
}

static const uint8_t *json_entry(int id, uint64_t k) { return j_pool + ((uint64_t)id * 7 + k) % JSON_POOL * g_size; }

/* Queues frames while the window allows, then writes; repeats while the socket takes everything,
 * because with edge-triggered epoll a fully drained buffer brings no further EPOLLOUT. */
static void pipe_fill(conn *c) {
    for (int round = 0; round < 64 && c->state == C_OPEN; round++) {
        int added = 0;
        for (int guard = 0; guard < 100000 && !g_stop; guard++) {
            if (c->bsent - c->brecv + g_size > g_window || conn_pending(c) > 256 * 1024) break;
            if (g_json) { /* through conn_send, which compresses under --deflate and counts */
                memcpy(j_msg, json_entry(c->id, c->u0), g_size);
                put_hex16(j_msg + JSON_SEQ, c->u0);
                conn_send(c, 1, j_msg, g_size);
                c->u0++;
                added = 1;
                continue;
            }
            uint8_t *o = conn_reserve(c, g_size);
            uint32_t key = rnd32();
            size_t h = put_header(o, g_binary ? 2 : 1, g_size, 1, key);
            if (g_binary) {
                mask_copy(o + h, PAT + (c->bsent % PAT_N), g_size, key);
            } else {
                uint8_t hex[16];
                size_t first = g_size < 16 ? g_size : 16;
                put_hex16(hex, c->u0);
                mask_copy(o + h, hex, first, key);
                if (g_size > 16) mask_copy(o + h + 16, (const uint8_t *)FILL + 16, g_size - 16, key);
            }
            conn_commit(c, h + g_size);
            c->u0++;
            c->nsent++;
            c->bsent += g_size;
            added = 1;
        }
        conn_flush(c);
        if (!added || conn_pending(c) > 0) break;
    }
}

static void pipe_msg(conn *c, int op, const uint8_t *p, size_t n) {
    if (g_json) {
        const uint8_t *e = json_entry(c->id, c->u1);
        const size_t tail = JSON_SEQ + 16;
        if (op != 1 || n != g_size || get_hex16(p + JSON_SEQ) != (int64_t)c->u1 || memcmp(p, e, JSON_SEQ) != 0 ||
            memcmp(p + tail, e + tail, n - tail) != 0) {
            conn_fail(c, E_VERIFY);
            return;
        }
        c->u1++;
        return;
    }
    if (g_binary) {
        uint64_t o = c->brecv - n;
        if (op != 2 || c->brecv > c->bsent) { conn_fail(c, E_VERIFY); return; }
        for (size_t done = 0; done < n;) {
            size_t at = (size_t)((o + done) % PAT_N), k = n - done;
            if (k > PAT_N) k = PAT_N;
            if (memcmp(p + done, PAT + at, k) != 0) { conn_fail(c, E_VERIFY); return; }
            done += k;
        }
        return;
    }
    if (op != 1 || n != g_size || get_hex16(p) != (int64_t)c->u1 ||
        (n > 16 && memcmp(p + 16, FILL + 16, n - 16) != 0)) {
        conn_fail(c, E_VERIFY);
        return;
    }
    c->u1++;
}
static const hooks pipe_hooks = {pipe_fill, pipe_msg, NULL, pipe_fill};

static void sums(conn *cs, int n, uint64_t *msgs, uint64_t *bytes, uint64_t *wire) {
    *msgs = *bytes = *wire = 0;
    for (int i = 0; i < n; i++) { *msgs += cs[i].nrecv; *bytes += cs[i].brecv; *wire += cs[i].bwire; }
}

int t_pipe(int argc, char **argv) {
    if (argc < 7) die("pipe PREFIX CONNS SIZE WINDOW WARM DUR text|binary|json");
    const char *prefix = argv[0];
    int n = atoi(argv[1]);
    g_size = (size_t)atol(argv[2]);
    g_window = (size_t)atol(argv[3]);
    double warm = atof(argv[4]), dur = atof(argv[5]);
    g_binary = strcmp(argv[6], "binary") == 0;
    g_json = strcmp(argv[6], "json") == 0;
    if (g_size < 16 && !g_binary) die("text messages carry a 16-digit sequence number: SIZE >= 16");
    if (g_size < 256 && g_json) die("json: SIZE >= 256");
    if (g_size > PAT_N) die("SIZE <= %d", PAT_N);
    if (g_json) json_pool_init(g_size);
    g_stop = 0;
    memset(g_errors, 0, sizeof g_errors);
    /* The server's RSS before and, sampled every 100 ms, at its highest while the window runs. */
    long rss0 = rss_kib(g_server_pid), busy = -1;
    double next_rss = 0;
    conn *cs = calloc((size_t)n, sizeof(conn));
    for (int i = 0; i < n; i++) { cs[i].id = i; conn_start(&cs[i], "cat", &pipe_hooks); }
    double t0 = now();
    int open = 0;
    while (now() - t0 < 10) {
        open = 0;
        for (int i = 0; i < n; i++) if (cs[i].state == C_OPEN || cs[i].state == C_DONE) open++;
        if (open == n) break;
        loop_once(10);
    }
    double tw = now() + warm, te = tw + dur, ta = 0, tb = 0, ca = 0, cb = 0, sa = -1, sb = -1;
    uint64_t ma = 0, ba = 0, wa = 0, mb = 0, bb = 0, wb = 0;
    int phase = 0;
    for (long guard = 0; guard < 100000000; guard++) {
        double t = now();
        if (phase == 0 && t >= tw) { sums(cs, n, &ma, &ba, &wa); ta = t; ca = cpu_seconds(); sa = proc_cpu_seconds(g_server_pid); phase = 1; }
        if (phase == 1 && (t >= next_rss || t >= te)) {
            long r = rss_kib(g_server_pid);
            if (r > busy) busy = r;
            next_rss = t + 0.1;
        }
        if (phase == 1 && t >= te) { sums(cs, n, &mb, &bb, &wb); tb = t; cb = cpu_seconds(); sb = proc_cpu_seconds(g_server_pid); break; }
        loop_once(5);
    }
    g_stop = 1;
    double td = now() + 5;
    while (now() < td) { /* drain: every sent byte must come back */
        int busy = 0;
        for (int i = 0; i < n; i++) if (cs[i].state == C_OPEN && cs[i].brecv < cs[i].bsent) busy = 1;
        if (!busy) break;
        loop_once(10);
    }
    uint64_t lost = 0, frag = 0;
    int alive = 0;
    for (int i = 0; i < n; i++) {
        if (cs[i].state == C_OPEN) alive++;
        lost += cs[i].bsent - cs[i].brecv;
        frag += cs[i].fragmented;
    }
    double el = tb - ta;
    if (alive == n && el > 0) {
        outf(prefix, "msgs", "%.0f", (double)(mb - ma) / el);
        outf(prefix, "mbs", "%.2f", (double)(bb - ba) / el / 1e6);
        outf(prefix, "client_cpu_pct", "%.0f", 100 * (cb - ca) / el);
        /* The server process (all its threads; not its children) in the same window: 200 = both cores. */
        if (sa >= 0 && sb >= 0) outf(prefix, "server_cpu_pct", "%.0f", 100 * (sb - sa) / el);
        /* Frame bytes received per message byte delivered (after inflating), in the same window. */
        if (bb > ba) outf(prefix, "wire_per_payload", "%.4f", (double)(wb - wa) / (double)(bb - ba));
        if (rss0 > 0 && busy > 0) outf(prefix, "busy_rss_per_conn_kib", "%.1f", (double)(busy - rss0) / n);
    }
    outf(prefix, "alive", "%.0f", alive);
    outf(prefix, "unechoed_bytes", "%.0f", (double)lost);
    if (frag) outf(prefix, "fragmented_msgs", "%.0f", (double)frag);
    print_errors(prefix);
    for (int i = 0; i < n; i++) { conn_finish(&cs[i]); conn_free(&cs[i]); }
    free(cs);
    return 0;
}

/* ---- flood: the child repeats a 63-character line; count and check what arrives ---- */

static void flood_msg(conn *c, int op, const uint8_t *p, size_t n) {
    if (op != 1 || n != FLOOD_LEN || memcmp(p, FLOOD_LINE, FLOOD_LEN) != 0) conn_fail(c, E_VERIFY);
}
static const hooks flood_hooks = {NULL, flood_msg, NULL, NULL};

int t_flood(int argc, char **argv) {
    if (argc < 2) die("flood WARM DUR");
    double warm = atof(argv[0]), dur = atof(argv[1]);
    memset(g_errors, 0, sizeof g_errors);
    conn c = {0};
    conn_start(&c, "yes", &flood_hooks);
    double t0 = now();
    while (c.state != C_DONE && c.nrecv == 0 && now() - t0 < 10) loop_once(10);
    double tw = now() + warm, te = tw + dur, ta = 0, tb = 0, ca = 0, cb = 0;
    uint64_t ma = 0, mb = 0;
    int phase = 0;
    for (long guard = 0; guard < 100000000 && c.state == C_OPEN; guard++) {
        double t = now();
        if (phase == 0 && t >= tw) { ma = c.nrecv; ta = t; ca = cpu_seconds(); phase = 1; }
        if (phase == 1 && t >= te) { mb = c.nrecv; tb = t; cb = cpu_seconds(); break; }
        loop_once(5);
    }
    if (c.state == C_OPEN && tb > ta) {
        out("flood_msgs", "%.0f", (double)(mb - ma) / (tb - ta));
        out("flood_mbs", "%.2f", (double)(mb - ma) * FLOOD_LEN / (tb - ta) / 1e6);
        out("flood_client_cpu_pct", "%.0f", 100 * (cb - ca) / (tb - ta));
    } else {
        out("flood_ended_early", "%llu", (unsigned long long)c.nrecv);
    }
    if (c.fragmented) out("flood_fragmented_msgs", "%llu", (unsigned long long)c.fragmented);
    print_errors("flood");
    conn_finish(&c);
    conn_free(&c);
    return 0;
}


/* Utilities and the client's connection engine: non-blocking sockets on one edge-triggered epoll,
 * plain (ws://) or, with --tls, each connection with its own OpenSSL session (wss://). */
#include "wsbench.h"
#include <dirent.h>
#include <limits.h>

char FILL[8192];
uint8_t PAT[2 * PAT_N];
const char *ERR_NAMES[E_COUNT] = {"refused", "handshake", "reset", "protocol", "verify", "timeout", "early_eof", "tls", "deflate_declined"};
uint64_t g_errors[E_COUNT];
int g_ep = -1;
int g_port;
int g_server_pid;
int g_helper_pids[8];
const char *g_tls_ca;
char g_tls_negotiated[160];
static SSL_CTX *g_tls_ctx;

static uint64_t rng_state;

double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: a fresh mask per frame, seeded from the clock and pid. */
uint32_t rnd32(void) {
    uint64_t x = rng_state;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    rng_state = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

void init_tables(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rng_state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)getpid() ^ 0x9E3779B97F4A7C15ULL;
    if (rng_state == 0) rng_state = 1;
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    for (size_t i = 0; i < sizeof FILL; i++) FILL[i] = alpha[(i * 7 + i / 61) % 64];
    uint64_t s = 0x1234567887654321ULL; /* fixed: the stream is the same in every run */
    for (size_t i = 0; i < PAT_N; i++) {
        s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
        PAT[i] = (uint8_t)((s * 0x2545F4914F6CDD1DULL) >> 56);
        PAT[i + PAT_N] = PAT[i];
    }
}

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wsbench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

void out(const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", key);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

long rss_kib(int pid) {
    if (pid <= 0) return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) { v = strtol(line + 6, NULL, 10); break; }
    fclose(f);
    return v;
}

/* The server and its helpers: its children running the server's own executable (wsbridge's
 * spawners, whose number changes with load, so they are looked up at each call; a session's
 * child runs another program and is not counted). */
long rss_all_kib(void) {
    long sum = rss_kib(g_server_pid);
    char path[64], exe[PATH_MAX], other[PATH_MAX], line[512];
    snprintf(path, sizeof path, "/proc/%d/exe", g_server_pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    DIR *d = opendir("/proc");
    if (n <= 0 || !d) { if (d) closedir(d); return sum; }
    exe[n] = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid <= 0) continue;
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        int ppid = 0;
        char *close = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
        fclose(f);
        if (!close || sscanf(close + 2, "%*c %d", &ppid) != 1 || ppid != g_server_pid) continue;
        snprintf(path, sizeof path, "/proc/%d/exe", pid);
        ssize_t m = readlink(path, other, sizeof other - 1);
        if (m <= 0) continue;
        other[m] = 0;
        long r = strcmp(other, exe) == 0 ? rss_kib(pid) : -1;
        if (r > 0) sum += r;
    }
    closedir(d);
    return sum;
}

/* CPU seconds a process has used so far, all its threads (utime + stime in /proc/PID/stat); -1 if gone. */
double proc_cpu_seconds(int pid) {
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = pid > 0 ? fopen(path, "r") : NULL;
    if (!f) return -1;
    char *close = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
    fclose(f);
    unsigned long long ut, st;
    /* After the command's ')': state and fields 4-13, then utime (14) and stime (15). */
    if (!close || sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

void mask_copy(uint8_t *dst, const uint8_t *src, size_t n, uint32_t key) {
    uint64_t k = (uint64_t)key | ((uint64_t)key << 32);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= k;
        memcpy(dst + i, &w, 8);
    }
    const uint8_t *kb = (const uint8_t *)&key;
    for (; i < n; i++) dst[i] = src[i] ^ kb[i & 3];
}

size_t put_header(uint8_t *o, int opcode, size_t n, int masked, uint32_t key) {
    size_t h = 0;
    uint8_t mbit = masked ? 0x80 : 0;
    o[h++] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        o[h++] = (uint8_t)(mbit | n);
    } else if (n < 65536) {
        o[h++] = mbit | 126; o[h++] = (uint8_t)(n >> 8); o[h++] = (uint8_t)n;
    } else {
        o[h++] = mbit | 127;
        for (int i = 7; i >= 0; i--) o[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    if (masked) { memcpy(o + h, &key, 4); h += 4; }
    return h;
}

size_t put_frame(uint8_t *o, int opcode, const uint8_t *payload, size_t n, int masked) {
    uint32_t key = masked ? rnd32() : 0;
    size_t h = put_header(o, opcode, n, masked, key);
    if (masked) mask_copy(o + h, payload, n, key);
    else memcpy(o + h, payload, n);
    return h + n;
}

static const char HEX[] = "0123456789abcdef";

void put_hex16(uint8_t *dst, uint64_t k) {
    for (int i = 15; i >= 0; i--) { dst[i] = (uint8_t)HEX[k & 15]; k >>= 4; }
}

int64_t get_hex16(const uint8_t *src) {
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        uint8_t ch = src[i];
        int d;
        if (ch >= '0' && ch <= '9') d = ch - '0';
        else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
        else return -1;
        v = (v << 4) | (uint64_t)d;
    }
    return (int64_t)v;
}

/* Connections that stopped reading or writing before EAGAIN (to be fair to the others): with
 * edge-triggered epoll no new event would come for them, so loop_once serves them again. */
#define READY_MAX 8192
static conn *g_ready[READY_MAX];
static int g_nready;

static void mark_ready(conn *c) {
    if (c->in_ready || g_nready == READY_MAX) return;
    c->in_ready = 1;
    g_ready[g_nready++] = c;
}

static void unmark_ready(conn *c) {
    if (!c->in_ready) return;
    c->in_ready = 0;
    for (int i = 0; i < g_nready; i++)
        if (g_ready[i] == c) { g_ready[i] = g_ready[--g_nready]; break; }
}

/* ---- TLS (--tls=CA.pem) ----
 * One client context for every connection. The server's certificate must chain to CA.pem (the
 * run's self-signed certificate) and name 127.0.0.1, so the client proves it talks to the server it
 * started. No session cache and no session is ever offered again: every handshake is a full one
 * (a resumed session fails the connection). The handshake runs non-blocking in the epoll loop
 * (C_TLS, before the upgrade request); then SSL_read/SSL_write stand in for recv/send, and
 * "want read"/"want write" is EAGAIN. With edge-triggered epoll, OpenSSL may hold records it read
 * ahead of the socket: every read loop goes on until "want read" (or marks the connection ready),
 * so nothing waits in OpenSSL's buffer for an event that would not come. */

static void tls_init(void) {
    g_tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!g_tls_ctx) die("SSL_CTX_new failed");
    if (SSL_CTX_load_verify_locations(g_tls_ctx, g_tls_ca, NULL) != 1)
        die("--tls=%s: no PEM certificate to verify the server with", g_tls_ca);
    SSL_CTX_set_verify(g_tls_ctx, SSL_VERIFY_PEER, NULL);
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(g_tls_ctx), "127.0.0.1") != 1) die("X509_VERIFY_PARAM_set1_ip_asc failed");
    SSL_CTX_set_session_cache_mode(g_tls_ctx, SSL_SESS_CACHE_OFF);
    /* A FIN without close_notify reads as the end (SSL_ERROR_ZERO_RETURN), as a plain socket's EOF. */
    SSL_CTX_set_options(g_tls_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    /* The write buffer may move (realloc, compaction) between a "want write" and its retry. */
    SSL_CTX_set_mode(g_tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(g_tls_ctx, 1);
    /* As a browser opening wss:// does. */
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    if (SSL_CTX_set_alpn_protos(g_tls_ctx, alpn, sizeof alpn) != 0) die("SSL_CTX_set_alpn_protos failed");
}

/* The first few TLS failures of a run, with OpenSSL's reason, on stderr (scripts/bench: client.err). */
static void tls_note(conn *c, const char *what) {
    static int noted;
    if (noted++ >= 5) { ERR_clear_error(); return; }
    char reason[256] = "";
    unsigned long e = ERR_peek_error();
    if (e) ERR_error_string_n(e, reason, sizeof reason);
    long v = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
    fprintf(stderr, "wsbench: port %d, connection %d: TLS %s failed: %s%s%s (errno %d)\n", g_port, c->id, what,
            reason[0] ? reason : "no OpenSSL reason", v != X509_V_OK ? "; certificate: " : "",
            v != X509_V_OK ? X509_verify_cert_error_string(v) : "", errno);
    ERR_clear_error();
}

/* What a failed SSL_read/SSL_write means, as recv/send would say it: 0 = the peer's end; -1 with
 * errno EAGAIN (wants the socket again), EPROTO (a TLS error) or the socket's own error. */
static ssize_t tls_result(conn *c, int r, const char *what) {
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) { errno = EAGAIN; return -1; }
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    c->tls_dead = 1;
    if (e == SSL_ERROR_SYSCALL && errno != 0 && errno != EAGAIN && errno != EPROTO) { ERR_clear_error(); return -1; }
    if (e == SSL_ERROR_SYSCALL) { ERR_clear_error(); errno = ECONNRESET; return -1; }
    tls_note(c, what);
    errno = EPROTO;
    return -1;
}

static ssize_t io_recv(conn *c, void *b, size_t n) {
    if (!c->ssl) return recv(c->fd, b, n, 0);
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(c->ssl, b, n > INT_MAX ? INT_MAX : (int)n);
    return r > 0 ? r : tls_result(c, r, "read");
}

static ssize_t io_send(conn *c, const void *b, size_t n) {
    if (!c->ssl) return send(c->fd, b, n, MSG_NOSIGNAL);
    ERR_clear_error();
    errno = 0;
    int r = SSL_write(c->ssl, b, n > INT_MAX ? INT_MAX : (int)n);
    return r > 0 ? r : tls_result(c, r, "write");
}

static void tls_free(conn *c) {
    if (c->ssl) SSL_free(c->ssl);
    c->ssl = NULL;
}

void loop_init(void) {
    signal(SIGPIPE, SIG_IGN);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) die("epoll_create1: %s", strerror(errno));
    if (g_tls_ca) tls_init();
}

static void ensure_w(conn *c, size_t need) {
    if (c->wlen + need <= c->wcap) return;
    if (c->woff > 0) {
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        c->wlen -= c->woff;
        c->woff = 0;
    }
    if (c->wlen + need <= c->wcap) return;
    size_t cap = c->wcap ? c->wcap : 4096;
    while (cap < c->wlen + need) cap *= 2;
    c->wbuf = realloc(c->wbuf, cap);
    if (!c->wbuf) die("out of memory");
    c->wcap = cap;
}

size_t conn_pending(const conn *c) { return c->wlen - c->woff; }

int conn_start(conn *c, const char *query, const hooks *h) {
    c->state = C_CONNECTING;
    c->h = h;
    c->read_paused = c->got_close = c->close_code = c->failed = c->sent_close = c->in_frag = c->in_ready = 0;
    c->rlen = c->woff = c->wlen = c->mlen = 0;
    c->nsent = c->nrecv = c->bsent = c->brecv = c->bwritten = c->fragmented = 0;
    c->bwire = c->ncompressed = 0;
    c->pmd = c->in_rsv1 = 0;
    c->u0 = c->u1 = c->u2 = 0;
    c->t_tls = c->t_open = c->t_first = c->t_end = 0;
    c->tls_dead = 0;
    c->t_start = c->t_last = now();
    if (c->rcap == 0) {
        c->rcap = 64 * 1024;
        c->rbuf = malloc(c->rcap);
        if (!c->rbuf) die("out of memory");
    }
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Before connect(2), so that the window the SYN offers is already the small one. */
    if (c->rcvbuf > 0) setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &c->rcvbuf, sizeof c->rcvbuf);
    if (g_tls_ctx) {
        c->ssl = SSL_new(g_tls_ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) die("SSL_new failed");
        SSL_set_connect_state(c->ssl);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char req[512];
    /* --deflate: Chromium's offer, which lets the server name the window the client compresses with. */
    int n = snprintf(req, sizeof req,
                     "GET /?%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     query, g_port, g_deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "");
    ensure_w(c, (size_t)n);
    memcpy(c->wbuf + c->wlen, req, (size_t)n);
    c->wlen += (size_t)n;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        conn_fail(c, E_REFUSED);
        return -1;
    }
    return 0;
}

void conn_free(conn *c) {
    unmark_ready(c);
    if (c->state != C_DONE && c->state != C_FREE) { close(c->fd); }
    tls_free(c);
    pmd_free(c);
    free(c->rbuf); free(c->wbuf); free(c->mbuf);
    c->rbuf = c->wbuf = c->mbuf = NULL;
    c->rcap = c->wcap = c->mcap = 0;
    c->state = C_FREE;
}

static void end(conn *c) {
    if (c->state == C_DONE || c->state == C_FREE) return;
    unmark_ready(c);
    c->t_end = now();
    close(c->fd);
    tls_free(c);
    pmd_free(c);
    c->fd = -1;
    c->state = C_DONE;
    if (c->h->on_end) c->h->on_end(c);
}

void conn_fail(conn *c, int why) {
    if (c->state == C_DONE || c->state == C_FREE) return;
    g_errors[why]++;
    c->failed = why + 1;
    end(c);
}

/* TLS: our close frame goes after what is queued (a record OpenSSL began must be finished before
 * another one), then close_notify; each only as far as the socket takes it now. */
static void tls_goodbye(conn *c) {
    if ((c->state != C_OPEN && c->state != C_HANDSHAKE) || c->tls_dead) return;
    if (c->state == C_OPEN && !c->sent_close) {
        uint8_t code[2] = {0x03, 0xE8};
        uint8_t *o = conn_reserve(c, 2);
        conn_commit(c, put_frame(o, 8, code, 2, 1));
        c->sent_close = 1;
    }
    for (int guard = 0; guard < 64 && c->woff < c->wlen; guard++) {
        ssize_t n = io_send(c, c->wbuf + c->woff, c->wlen - c->woff);
        if (n <= 0) break;
        c->woff += (size_t)n;
    }
    if (c->woff < c->wlen || c->tls_dead) return; /* a record is half out: no alert may follow it */
    ERR_clear_error();
    SSL_shutdown(c->ssl);
    ERR_clear_error();
}

/* Sends our close frame (RFC 6455 §5.5.1, code 1000) and closes the socket. */
void conn_finish(conn *c) {
    if (c->state == C_DONE || c->state == C_FREE) return;
    if (c->ssl) {
        tls_goodbye(c);
        end(c);
        return;
    }
    if (c->state == C_OPEN && !c->sent_close) {
        uint8_t code[2] = {0x03, 0xE8};
        uint8_t f[16];
        size_t n = put_frame(f, 8, code, 2, 1);
        c->sent_close = 1;
        if (send(c->fd, f, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) { /* the peer may already be gone */ }
    }
    end(c);
}

uint8_t *conn_reserve(conn *c, size_t n) {
    ensure_w(c, n + 14);
    return c->wbuf + c->wlen;
}

void conn_commit(conn *c, size_t framelen) { c->wlen += framelen; }

void conn_send(conn *c, int opcode, const uint8_t *p, size_t n) {
    if (c->pmd && opcode < 8) {
        pmd_put_frame(c, opcode, p, n);
    } else {
        uint8_t *o = conn_reserve(c, n);
        conn_commit(c, put_frame(o, opcode, p, n, 1));
    }
    if (opcode < 8) { c->nsent++; c->bsent += n; }
}

void conn_flush(conn *c) {
    if (c->state == C_CONNECTING || c->state == C_TLS || c->state == C_DONE || c->state == C_FREE) return;
    for (int guard = 0; c->woff < c->wlen; guard++) {
        if (guard == 1024) { mark_ready(c); break; }
        ssize_t n = io_send(c, c->wbuf + c->woff, c->wlen - c->woff);
        if (n > 0) {
            c->woff += (size_t)n;
            c->bwritten += (uint64_t)n;
            c->t_last = now();
        } else if (n < 0 && errno == EAGAIN) {
            break;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            conn_fail(c, n < 0 && errno == EPROTO && c->ssl ? E_TLS : E_RESET);
            return;
        }
    }
    if (c->woff == c->wlen) c->woff = c->wlen = 0;
}

static void deliver(conn *c, int op, const uint8_t *p, size_t n, int compressed) {
    if (compressed && pmd_inflate(c, p, n, &p, &n) < 0) { conn_fail(c, E_PROTOCOL); return; }
    c->nrecv++;
    c->brecv += n;
    if (c->t_first == 0) c->t_first = now();
    c->h->on_msg(c, op, p, n);
}

/* Parses every complete frame in rbuf (RFC 6455 §5.2); returns bytes consumed. */
static size_t parse_frames(conn *c) {
    size_t off = 0;
    while (c->state == C_OPEN) {
        uint8_t *p = c->rbuf + off;
        size_t avail = c->rlen - off;
        if (avail < 2) break;
        int fin = p[0] & 0x80, op = p[0] & 0x0F, rsv1 = p[0] & 0x40;
        if (p[0] & 0x30) { conn_fail(c, E_PROTOCOL); break; }
        /* RFC 7692 §6: RSV1 only with the extension agreed, and only on a message's first frame. */
        if (rsv1 && (!c->pmd || op == 0 || (op & 8))) { conn_fail(c, E_PROTOCOL); break; }
        if (p[1] & 0x80) { conn_fail(c, E_PROTOCOL); break; } /* §5.1: a server never masks */
        uint64_t len = p[1] & 0x7F;
        size_t h = 2;
        if (len == 126) {
            if (avail < 4) break;
            len = ((uint64_t)p[2] << 8) | p[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | p[2 + i];
            h = 10;
        }
        if (len > 64u * 1024 * 1024) { conn_fail(c, E_PROTOCOL); break; }
        if (avail < h + len) {
            if (h + len > c->rcap) { /* grow so the whole frame fits */
                memmove(c->rbuf, c->rbuf + off, avail);
                c->rlen = avail;
                off = 0;
                size_t cap = c->rcap;
                while (cap < h + len) cap *= 2;
                c->rbuf = realloc(c->rbuf, cap);
                if (!c->rbuf) die("out of memory");
                c->rcap = cap;
            }
            break;
        }
        const uint8_t *pl = p + h;
        size_t n = (size_t)len;
        off += h + n;
        c->bwire += h + n;
        if (op & 8) {
            if (!fin || n > 125) { conn_fail(c, E_PROTOCOL); break; }
            if (op == 8) {
                c->got_close = 1;
                c->close_code = n >= 2 ? (pl[0] << 8 | pl[1]) : 1005;
                conn_finish(c);
                break;
            }
            if (op == 9) { /* ping: answer with pong (§5.5.2) */
                uint8_t *o = conn_reserve(c, n);
                conn_commit(c, put_frame(o, 10, pl, n, 1));
            }
            continue;
        }
        if (op == 0) {
            if (!c->in_frag) { conn_fail(c, E_PROTOCOL); break; }
            if (c->mlen + n > c->mcap) {
                size_t cap = c->mcap ? c->mcap : 65536;
                while (cap < c->mlen + n) cap *= 2;
                c->mbuf = realloc(c->mbuf, cap);
                if (!c->mbuf) die("out of memory");
                c->mcap = cap;
            }
            memcpy(c->mbuf + c->mlen, pl, n);
            c->mlen += n;
            if (fin) {
                c->in_frag = 0;
                c->fragmented++;
                deliver(c, c->mop, c->mbuf, c->mlen, c->in_rsv1);
                c->mlen = 0;
            }
        } else if (op == 1 || op == 2) {
            if (c->in_frag) { conn_fail(c, E_PROTOCOL); break; }
            if (fin) {
                deliver(c, op, pl, n, rsv1);
            } else {
                c->in_frag = 1;
                c->mop = op;
                c->in_rsv1 = rsv1;
                c->mlen = 0;
                if (c->mcap < n) {
                    c->mcap = n > 65536 ? n : 65536;
                    c->mbuf = realloc(c->mbuf, c->mcap);
                    if (!c->mbuf) die("out of memory");
                }
                memcpy(c->mbuf, pl, n);
                c->mlen = n;
            }
        } else {
            conn_fail(c, E_PROTOCOL);
            break;
        }
    }
    return off;
}

static void handshake(conn *c) {
    uint8_t *end_of_head = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (!end_of_head) {
        if (c->rlen > 16384) conn_fail(c, E_HANDSHAKE);
        return;
    }
    size_t head = (size_t)(end_of_head - c->rbuf) + 4;
    if (c->rlen < 12 || memcmp(c->rbuf, "HTTP/1.1 101", 12) != 0 || !memmem(c->rbuf, head, WS_ACCEPT, strlen(WS_ACCEPT))) {
        conn_fail(c, E_HANDSHAKE);
        return;
    }
    int why = pmd_accept(c, c->rbuf, head);
    if (why) {
        conn_fail(c, why);
        return;
    }
    memmove(c->rbuf, c->rbuf + head, c->rlen - head);
    c->rlen -= head;
    c->state = C_OPEN;
    c->t_open = now();
    if (c->h->on_open) c->h->on_open(c);
}

static void process(conn *c) {
    if (c->state == C_HANDSHAKE) handshake(c);
    if (c->state != C_OPEN) return;
    size_t used = parse_frames(c);
    if (c->state == C_DONE || c->state == C_FREE) return;
    if (used > 0) {
        memmove(c->rbuf, c->rbuf + used, c->rlen - used);
        c->rlen -= used;
    }
}

void conn_read(conn *c) {
    for (int guard = 0;; guard++) {
        if (c->state != C_HANDSHAKE && c->state != C_OPEN) return;
        if (c->read_paused) return;
        if (guard == 32) { mark_ready(c); return; }
        if (c->rlen == c->rcap) { /* cannot happen after parse_frames grew it; guard anyway */
            c->rcap *= 2;
            c->rbuf = realloc(c->rbuf, c->rcap);
            if (!c->rbuf) die("out of memory");
        }
        ssize_t n = io_recv(c, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n > 0) {
            c->rlen += (size_t)n;
            c->t_last = now();
            process(c);
            if (c->state == C_OPEN && c->h->on_fill) c->h->on_fill(c);
            if (c->state == C_OPEN || c->state == C_HANDSHAKE) conn_flush(c);
        } else if (n == 0) {
            if (c->state == C_HANDSHAKE || c->nrecv == 0) conn_fail(c, E_EOF_EARLY);
            else end(c);
            return;
        } else if (errno == EAGAIN) {
            return;
        } else if (errno == EINTR) {
            continue;
        } else {
            conn_fail(c, errno == EPROTO && c->ssl ? E_TLS : E_RESET);
            return;
        }
    }
}

/* One read of at most max bytes, whatever read_paused says, and every frame it completes: a reader
 * that takes its data a little at a time (its epoll events are ignored while read_paused is set). */
void conn_read_some(conn *c, size_t max) {
    if (c->state != C_OPEN) return;
    if (c->rcap - c->rlen < max) {
        size_t cap = c->rcap;
        while (cap - c->rlen < max) cap *= 2;
        c->rbuf = realloc(c->rbuf, cap);
        if (!c->rbuf) die("out of memory");
        c->rcap = cap;
    }
    ssize_t n = io_recv(c, c->rbuf + c->rlen, max);
    if (n > 0) {
        c->rlen += (size_t)n;
        c->t_last = now();
        process(c);
        if (c->state == C_OPEN) conn_flush(c);
    } else if (n == 0) {
        end(c);
    } else if (errno != EAGAIN && errno != EINTR) {
        conn_fail(c, errno == EPROTO && c->ssl ? E_TLS : E_RESET);
    }
}

/* One step of the TLS handshake, as far as the socket allows; once done, the upgrade request. */
static void tls_step(conn *c) {
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
        c->tls_dead = 1;
        tls_note(c, "handshake");
        conn_fail(c, E_TLS);
        return;
    }
    if (SSL_session_reused(c->ssl)) { /* cannot happen (nothing is offered again): every handshake is full */
        tls_note(c, "handshake (a resumed session)");
        conn_fail(c, E_TLS);
        return;
    }
    c->t_tls = c->t_last = now();
    if (!g_tls_negotiated[0]) {
        int nid = SSL_get_negotiated_group(c->ssl);
        const char *group = nid > 0 ? OBJ_nid2sn(nid & ~TLSEXT_nid_unknown) : NULL;
        snprintf(g_tls_negotiated, sizeof g_tls_negotiated, "%s/%s/%s", SSL_get_version(c->ssl),
                 SSL_get_cipher_name(c->ssl), group ? group : "?");
    }
    c->state = C_HANDSHAKE;
    conn_flush(c);
    conn_read(c); /* records read ahead with the handshake's last flight bring no further event */
}

static void conn_event(conn *c, uint32_t ev) {
    if (c->state == C_DONE || c->state == C_FREE) return;
    if (c->state == C_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) { conn_fail(c, E_REFUSED); return; }
        c->state = c->ssl ? C_TLS : C_HANDSHAKE;
    }
    if (c->state == C_TLS) { tls_step(c); return; }
    if (ev & EPOLLOUT) {
        conn_flush(c);
        if (c->state == C_OPEN && c->h->on_fill) { c->h->on_fill(c); conn_flush(c); }
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) conn_read(c);
}

void loop_once(int timeout_ms) {
    struct epoll_event evs[256];
    int n = epoll_wait(g_ep, evs, 256, g_nready ? 0 : timeout_ms);
    for (int i = 0; i < n; i++) conn_event((conn *)evs[i].data.ptr, evs[i].events);
    int k = g_nready;
    conn *list[READY_MAX];
    memcpy(list, g_ready, (size_t)k * sizeof(conn *));
    g_nready = 0;
    for (int i = 0; i < k; i++) list[i]->in_ready = 0;
    for (int i = 0; i < k; i++)
        if (list[i]->state == C_OPEN || list[i]->state == C_HANDSHAKE) conn_event(list[i], EPOLLIN | EPOLLOUT);
}

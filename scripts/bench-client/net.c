/* Utilities and the client's connection engine: non-blocking sockets on one edge-triggered epoll. */
#include "wsbench.h"
#include <dirent.h>
#include <limits.h>

char FILL[8192];
uint8_t PAT[2 * PAT_N];
const char *ERR_NAMES[E_COUNT] = {"refused", "handshake", "reset", "protocol", "verify", "timeout", "early_eof"};
uint64_t g_errors[E_COUNT];
int g_ep = -1;
int g_port;
int g_server_pid;
int g_helper_pids[8];

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

void loop_init(void) {
    signal(SIGPIPE, SIG_IGN);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) die("epoll_create1: %s", strerror(errno));
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
    c->u0 = c->u1 = c->u2 = 0;
    c->t_open = c->t_first = c->t_end = 0;
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
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /?%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     query, g_port);
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

/* Sends our close frame (RFC 6455 §5.5.1, code 1000) and closes the socket. */
void conn_finish(conn *c) {
    if (c->state == C_DONE || c->state == C_FREE) return;
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
    uint8_t *o = conn_reserve(c, n);
    conn_commit(c, put_frame(o, opcode, p, n, 1));
    if (opcode < 8) { c->nsent++; c->bsent += n; }
}

void conn_flush(conn *c) {
    if (c->state == C_CONNECTING || c->state == C_DONE || c->state == C_FREE) return;
    for (int guard = 0; c->woff < c->wlen; guard++) {
        if (guard == 1024) { mark_ready(c); break; }
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            c->bwritten += (uint64_t)n;
            c->t_last = now();
        } else if (n < 0 && errno == EAGAIN) {
            break;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            conn_fail(c, E_RESET);
            return;
        }
    }
    if (c->woff == c->wlen) c->woff = c->wlen = 0;
}

static void deliver(conn *c, int op, const uint8_t *p, size_t n) {
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
        int fin = p[0] & 0x80, op = p[0] & 0x0F;
        if (p[0] & 0x70) { conn_fail(c, E_PROTOCOL); break; }
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
                deliver(c, c->mop, c->mbuf, c->mlen);
                c->mlen = 0;
            }
        } else if (op == 1 || op == 2) {
            if (c->in_frag) { conn_fail(c, E_PROTOCOL); break; }
            if (fin) {
                deliver(c, op, pl, n);
            } else {
                c->in_frag = 1;
                c->mop = op;
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
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
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
            conn_fail(c, E_RESET);
            return;
        }
    }
}

static void conn_event(conn *c, uint32_t ev) {
    if (c->state == C_DONE || c->state == C_FREE) return;
    if (c->state == C_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) { conn_fail(c, E_REFUSED); return; }
        c->state = C_HANDSHAKE;
    }
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

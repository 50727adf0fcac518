/* Fixtures: the trivial in-process echo server (no child, the client's ceiling; plain or TLS) and the
 * line generator. */
#include "wsbench.h"
#include <sys/prctl.h>

typedef struct sconn {
    int fd, open, flood, paused, in_ready, tls_done;
    SSL *ssl; /* with a certificate: the connection's TLS session */
    uint8_t *rbuf; size_t rlen;
    uint8_t *wbuf; size_t woff, wlen, wcap;
} sconn;

#define S_RCAP (256 * 1024)
#define S_HIGH (4u << 20)

static uint8_t *s_batch;
static size_t s_batch_len;
static SSL_CTX *s_tls;

/* recv/send, or SSL_read/SSL_write with "want read/write" as EAGAIN and any TLS error as a reset. */
static ssize_t s_io(sconn *s, void *b, size_t n, int writing) {
    if (!s->ssl) return writing ? send(s->fd, b, n, MSG_NOSIGNAL) : recv(s->fd, b, n, 0);
    ERR_clear_error();
    int r = writing ? SSL_write(s->ssl, b, (int)n) : SSL_read(s->ssl, b, (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(s->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) { errno = EAGAIN; return -1; }
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    errno = ECONNRESET;
    return -1;
}

/* Connections that stopped before EAGAIN (fairness bound): edge-triggered epoll will not report them again. */
#define S_READY_MAX 4096
static sconn *s_ready[S_READY_MAX];
static int s_nready;

static void s_mark(sconn *s) {
    if (s->in_ready || s_nready == S_READY_MAX) return;
    s->in_ready = 1;
    s_ready[s_nready++] = s;
}

static void s_close(sconn *s) {
    if (s->in_ready)
        for (int i = 0; i < s_nready; i++)
            if (s_ready[i] == s) { s_ready[i] = s_ready[--s_nready]; break; }
    close(s->fd);
    if (s->ssl) SSL_free(s->ssl);
    free(s->rbuf);
    free(s->wbuf);
    free(s);
}

static void s_reserve(sconn *s, size_t n) {
    if (s->wlen + n <= s->wcap) return;
    if (s->woff) {
        memmove(s->wbuf, s->wbuf + s->woff, s->wlen - s->woff);
        s->wlen -= s->woff;
        s->woff = 0;
    }
    if (s->wlen + n <= s->wcap) return;
    size_t cap = s->wcap ? s->wcap : 65536;
    while (cap < s->wlen + n) cap *= 2;
    s->wbuf = realloc(s->wbuf, cap);
    if (!s->wbuf) die("out of memory");
    s->wcap = cap;
}

static void s_append(sconn *s, const uint8_t *p, size_t n) {
    s_reserve(s, n);
    memcpy(s->wbuf + s->wlen, p, n);
    s->wlen += n;
}

/* Returns -1 when the connection is gone. */
static int s_flush(sconn *s) {
    for (int guard = 0;; guard++) {
        if (guard == 64) { s_mark(s); break; }
        if (s->woff == s->wlen && s->flood) {
            s->woff = s->wlen = 0;
            s_append(s, s_batch, s_batch_len);
        }
        if (s->woff == s->wlen) break;
        ssize_t n = s_io(s, s->wbuf + s->woff, s->wlen - s->woff, 1);
        if (n > 0) s->woff += (size_t)n;
        else if (n < 0 && errno == EAGAIN) break;
        else if (n < 0 && errno == EINTR) continue;
        else return -1;
    }
    if (s->woff == s->wlen) s->woff = s->wlen = 0;
    return 0;
}

/* Echoes every complete client frame unmasked (RFC 6455 §5.3); returns bytes used, or -1 to close. */
static long s_frames(sconn *s) {
    size_t off = 0;
    for (;;) {
        uint8_t *p = s->rbuf + off;
        size_t avail = s->rlen - off;
        if (avail < 2) break;
        int op = p[0] & 0x0F;
        if (!(p[1] & 0x80)) return -1;
        uint64_t len = p[1] & 0x7F;
        size_t h = 2;
        if (len == 126) { if (avail < 4) break; len = (uint64_t)p[2] << 8 | p[3]; h = 4; }
        else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
            h = 10;
        }
        if (h + 4 + len > S_RCAP) return -1;
        if (avail < h + 4 + len) break;
        uint32_t key;
        memcpy(&key, p + h, 4);
        size_t n = (size_t)len;
        uint8_t hdr[14];
        size_t hl = put_header(hdr, op, n, 0, 0);
        hdr[0] = p[0];
        if (op == 8) {
            uint8_t f[2 + 125];
            f[0] = 0x88;
            f[1] = (uint8_t)n;
            mask_copy(f + 2, p + h + 4, n, key);
            s->flood = 0;
            s_append(s, f, 2 + n);
            s_flush(s);
            return -1;
        }
        if (op != 10) { /* a pong needs no answer; a ping gets its payload back as a pong (§5.5.2) */
            s_reserve(s, hl + n);
            memcpy(s->wbuf + s->wlen, hdr, hl);
            if (op == 9) s->wbuf[s->wlen] = 0x8A;
            mask_copy(s->wbuf + s->wlen + hl, p + h + 4, n, key);
            s->wlen += hl + n;
        }
        off += h + 4 + n;
    }
    return (long)off;
}

static int s_head(sconn *s) {
    uint8_t *e = memmem(s->rbuf, s->rlen, "\r\n\r\n", 4);
    if (!e) return s->rlen > 16384 ? -1 : 0;
    size_t head = (size_t)(e - s->rbuf) + 4;
    s->flood = s->rlen > 10 && memcmp(s->rbuf, "GET /?yes ", 10) == 0;
    static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: " WS_ACCEPT "\r\n\r\n";
    s_append(s, (const uint8_t *)resp, sizeof resp - 1);
    memmove(s->rbuf, s->rbuf + head, s->rlen - head);
    s->rlen -= head;
    s->open = 1;
    return 0;
}

/* Reads until EAGAIN or until too much output is queued; returns -1 when the connection is gone.
 * Under TLS, the handshake first; reading on until EAGAIN also empties what OpenSSL read ahead. */
static int s_read(sconn *s) {
    if (s->ssl && !s->tls_done) {
        ERR_clear_error();
        int r = SSL_do_handshake(s->ssl);
        if (r != 1) {
            int e = SSL_get_error(s->ssl, r);
            ERR_clear_error();
            return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
        }
        s->tls_done = 1;
    }
    for (int guard = 0;; guard++) {
        if (guard == 32) { s_mark(s); return 0; }
        if (s->wlen - s->woff > S_HIGH && !s->flood) { s->paused = 1; return 0; }
        ssize_t n = s_io(s, s->rbuf + s->rlen, S_RCAP - s->rlen, 0);
        if (n == 0) return -1;
        if (n < 0) return errno == EAGAIN ? 0 : errno == EINTR ? 0 : -1;
        s->rlen += (size_t)n;
        if (!s->open && s_head(s) < 0) return -1;
        if (s->open) {
            long used = s_frames(s);
            if (used < 0) return -1;
            memmove(s->rbuf, s->rbuf + used, s->rlen - (size_t)used);
            s->rlen -= (size_t)used;
        }
        if (s_flush(s) < 0) return -1;
    }
    return 0;
}

static void s_serve(sconn *s, uint32_t events) {
    int dead = 0;
    if (s->ssl && !s->tls_done) events |= EPOLLIN; /* a handshake step may wait for either direction */
    if (events & EPOLLOUT) {
        dead = s_flush(s) < 0;
        if (!dead && s->paused && s->wlen - s->woff <= S_HIGH / 4) { s->paused = 0; dead = s_read(s) < 0; }
    }
    if (!dead && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !s->paused) dead = s_read(s) < 0;
    if (dead) s_close(s);
}

int f_echo_server(int argc, char **argv) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2) {
        s_tls = SSL_CTX_new(TLS_server_method());
        if (!s_tls || SSL_CTX_use_certificate_chain_file(s_tls, argv[0]) != 1 ||
            SSL_CTX_use_PrivateKey_file(s_tls, argv[1], SSL_FILETYPE_PEM) != 1)
            die("echo-server: cannot load the certificate %s and key %s", argv[0], argv[1]);
        SSL_CTX_set_session_cache_mode(s_tls, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(s_tls, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
        SSL_CTX_set_mode(s_tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_read_ahead(s_tls, 1);
    }
    s_batch_len = 1024 * (2 + FLOOD_LEN);
    s_batch = malloc(s_batch_len);
    for (size_t i = 0; i < 1024; i++) put_frame(s_batch + i * (2 + FLOOD_LEN), 1, (const uint8_t *)FLOOD_LINE, FLOOD_LEN, 0);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1024) < 0) die("listen: %s", strerror(errno));
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    printf("%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    struct epoll_event evs[256];
    double t_end = now() + 1800; /* a fixture never outlives a benchmark run */
    while (now() < t_end) {
        int n = epoll_wait(ep, evs, 256, s_nready ? 0 : 1000);
        for (int i = 0; i < n; i++) {
            sconn *s = evs[i].data.ptr;
            if (s) { s_serve(s, evs[i].events); continue; }
            for (int k = 0; k < 256; k++) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) break;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                s = calloc(1, sizeof *s);
                s->fd = fd;
                s->rbuf = malloc(S_RCAP);
                if (s_tls) {
                    s->ssl = SSL_new(s_tls);
                    if (!s->ssl || SSL_set_fd(s->ssl, fd) != 1) die("SSL_new failed");
                    SSL_set_accept_state(s->ssl);
                }
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = s};
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            }
        }
        int k = s_nready;
        sconn *list[S_READY_MAX];
        memcpy(list, s_ready, (size_t)k * sizeof *list);
        s_nready = 0;
        for (int i = 0; i < k; i++) list[i]->in_ready = 0;
        for (int i = 0; i < k; i++) s_serve(list[i], EPOLLIN | EPOLLOUT);
    }
    return 0;
}

/* Writes LINES numbered lines of LEN bytes each (the slow-reader child); a broken pipe ends it quietly. */
int f_gen(int argc, char **argv) {
    if (argc < 2) die("gen LEN LINES");
    size_t len = (size_t)atol(argv[0]);
    unsigned long long lines = strtoull(argv[1], NULL, 10);
    if (len < 12 || len > sizeof FILL) die("LEN in 12...%zu", sizeof FILL);
    signal(SIGPIPE, SIG_DFL);
    size_t cap = 64 * 1024 + len, used = 0;
    char *b = malloc(cap);
    for (unsigned long long k = 1; k <= lines; k++) {
        char num[16];
        snprintf(num, sizeof num, "%010llu", k);
        memcpy(b + used, num, 10);
        memcpy(b + used + 10, FILL + 10, len - 11);
        b[used + len - 1] = '\n';
        used += len;
        if (used >= 64 * 1024 || k == lines) {
            for (size_t off = 0; off < used;) {
                ssize_t n = write(1, b + off, used - off);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) return 1;
                off += (size_t)n;
            }
            used = 0;
        }
    }
    return 0;
}

/* The fan-out child: numbered lines of LEN bytes (with the newline) until its stdout closes or LINES
 * are out (0 = no end). Line k (from 1) is k as 12 decimal digits, a space, then filler (FILL from
 * offset 13). The number is counted up in place, a digit at a time, so the child costs little next
 * to the server it feeds.
 * Without RATE: as fast as it can, 64 KiB per write(2).
 * With RATE (lines/s): paced. Every millisecond (an absolute clock, so a late wake-up does not slow
 * the pace) it writes the lines due since the last batch, blocking while the pipe is full. What it
 * owes is capped at 10 ms of lines (what a 64 KiB pipe holds of 64-byte lines at 100k/s): a stall
 * longer than that is not caught up afterwards, so time the reader keeps it blocked is throughput
 * lost, as it would be for a child that prints as fast as it can. */
static char *n_line;
static size_t n_len;

/* Appends count lines (numbers counted up from *k) to b. */
static size_t n_fill(char *b, size_t count, unsigned long long *k) {
    for (size_t i = 0; i < count; i++, (*k)++) {
        for (int d = 11; d >= 0; d--) { /* line = k + 1 */
            if (n_line[d] != '9') { n_line[d]++; break; }
            n_line[d] = '0';
        }
        memcpy(b + i * n_len, n_line, n_len);
    }
    return count * n_len;
}

static int n_write(const char *b, size_t used) {
    for (size_t off = 0; off < used;) {
        ssize_t n = write(1, b + off, used - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        off += (size_t)n;
    }
    return 0;
}

int f_numbered(int argc, char **argv) {
    if (argc < 1) die("numbered LEN [LINES] [RATE]");
    size_t len = (size_t)atol(argv[0]);
    unsigned long long lines = argc >= 2 ? strtoull(argv[1], NULL, 10) : 0;
    double rate = argc >= 3 ? atof(argv[2]) : 0;
    if (len < 14 || len > 4096) die("LEN in 14...4096");
    if (rate < 0 || rate > 1e9) die("RATE in 0 (as fast as it can)...1e9 lines/s");
    signal(SIGPIPE, SIG_DFL);
    enum { CHUNK = 64 * 1024 };
    size_t per = CHUNK / len;
    char *b = malloc(per * len), line[4096];
    if (!b) die("out of memory");
    n_line = line;
    n_len = len;
    memset(line, '0', 12);
    line[12] = ' ';
    memcpy(line + 13, FILL + 13, len - 14);
    line[len - 1] = '\n';
    unsigned long long k = 0;
    if (rate == 0) {
        while (lines == 0 || k < lines) {
            size_t count = lines == 0 || lines - k >= per ? per : (size_t)(lines - k);
            if (n_write(b, n_fill(b, count, &k)) < 0) return 1;
        }
        return 0;
    }
    const long tick_ns = 1000000;
    double cap = rate * 0.010, owed = 0;
    if (cap < 1) cap = 1;
    struct timespec next, ts;
    clock_gettime(CLOCK_MONOTONIC, &next);
    double last = now();
    while (lines == 0 || k < lines) {
        double t = now();
        owed += rate * (t - last);
        last = t;
        if (owed > cap) owed = cap; /* not caught up: a longer stall is lost throughput */
        while (owed >= 1 && (lines == 0 || k < lines)) {
            size_t count = owed < (double)per ? (size_t)owed : per;
            if (lines && lines - k < count) count = (size_t)(lines - k);
            if (n_write(b, n_fill(b, count, &k)) < 0) return 1;
            owed -= (double)count;
        }
        next.tv_nsec += tick_ns;
        if (next.tv_nsec >= 1000000000) { next.tv_sec++; next.tv_nsec -= 1000000000; }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (ts.tv_sec > next.tv_sec || (ts.tv_sec == next.tv_sec && ts.tv_nsec > next.tv_nsec)) next = ts; /* behind: from now on */
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {}
    }
    return 0;
}

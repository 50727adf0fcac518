/* wsbench: the load client, the trivial echo server and the child fixtures of scripts/bench.
 * Built at run time by scripts/bench with `cc -O2` from the .c files here. Every loop is bounded in count and time. */
#ifndef WSBENCH_H
#define WSBENCH_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <zlib.h>

/* The fixed Sec-WebSocket-Key and its RFC 6455 §4.2.2 accept value (the RFC's own example). */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* The 63-character line the flood child repeats (64 bytes with its newline). */
#define FLOOD_LINE "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789."
#define FLOOD_LEN 63

/* Printable filler that text payloads and generated lines are cut from (no newline, ASCII only). */
extern char FILL[8192];
/* Random bytes of the binary stream, stored twice so any PAT_N-long window is contiguous. */
#define PAT_N (65536 + 4099)
extern uint8_t PAT[2 * PAT_N];

double now(void);
uint32_t rnd32(void);
void init_tables(void);
void die(const char *fmt, ...);
void out(const char *key, const char *fmt, ...);
long rss_kib(int pid);
double cpu_seconds(void);
double proc_cpu_seconds(int pid);

/* RFC 6455 §5.3 masking, eight bytes at a time; src and dst start at key offset 0. */
void mask_copy(uint8_t *dst, const uint8_t *src, size_t n, uint32_t key);
/* Writes a FIN frame header (RFC 6455 §5.2), with the masking key when masked; returns its length. */
size_t put_header(uint8_t *o, int opcode, size_t n, int masked, uint32_t key);
/* Writes one complete frame (FIN set) into out and returns its length; out needs n + 14 bytes. */
size_t put_frame(uint8_t *out, int opcode, const uint8_t *payload, size_t n, int masked);
/* Renders k as 16 lower-case hex digits. */
void put_hex16(uint8_t *dst, uint64_t k);
/* Parses 16 hex digits; returns -1 on a non-hex byte. */
int64_t get_hex16(const uint8_t *src);

/* C_TLS: connected, the TLS handshake under way (only with --tls); C_HANDSHAKE: the HTTP upgrade. */
enum { C_FREE, C_CONNECTING, C_TLS, C_HANDSHAKE, C_OPEN, C_DONE };
/* E_TLS: the TLS handshake failed (certificate not verified, alert, EOF), a session was resumed
 * (every handshake must be full), or a TLS record was bad after it. E_DEFLATE: with --deflate, the
 * server's 101 agreed to no permessage-deflate, or to one this client cannot keep. */
enum { E_REFUSED, E_HANDSHAKE, E_RESET, E_PROTOCOL, E_VERIFY, E_TIMEOUT, E_EOF_EARLY, E_TLS, E_DEFLATE, E_COUNT };
extern const char *ERR_NAMES[E_COUNT];
extern uint64_t g_errors[E_COUNT];

typedef struct conn conn;
typedef struct hooks {
    void (*on_open)(conn *c);
    void (*on_msg)(conn *c, int opcode, const uint8_t *p, size_t n);
    void (*on_end)(conn *c);   /* close frame received, EOF, or failure; the fd is already closed */
    void (*on_fill)(conn *c);  /* room in the write buffer: queue more frames */
} hooks;

struct conn {
    int fd, id, state, read_paused, got_close, close_code, failed, sent_close, in_ready;
    const hooks *h;
    SSL *ssl;      /* with --tls: this connection's TLS session (NULL otherwise, and once ended) */
    int tls_dead;  /* OpenSSL reported a fatal error: no close_notify may follow */
    double t_start, t_tls, t_open, t_first, t_last, t_end;
    uint8_t *rbuf; size_t rlen, rcap;
    uint8_t *wbuf; size_t woff, wlen, wcap;
    uint8_t *mbuf; size_t mlen, mcap; int mop, in_frag;
    uint64_t nsent, nrecv, bsent, brecv, bwritten, fragmented;
    /* bwire: bytes of every frame parsed (headers and payloads as read from the socket, after the
     * 101); brecv counts message bytes after inflating, so bwire / brecv is wire per payload byte. */
    uint64_t bwire, ncompressed;
    /* permessage-deflate (RFC 7692) as the server's 101 agreed it, with --deflate only. */
    int pmd, in_rsv1;          /* agreed; the fragmented message being assembled is compressed */
    int inflate_bits, inflate_reset, deflate_bits, deflate_reset;
    z_stream *zin, *zout;      /* made at first use; zout only while the client keeps its context */
    uint64_t u0, u1, u2;
    int rcvbuf;    /* > 0: SO_RCVBUF set before connecting (conn_start keeps it) */
    double *samples; size_t nsamples;
};

extern int g_ep;
extern int g_port;
extern int g_server_pid;      /* the server whose VmRSS the tests sample; 0 = none */
extern int g_helper_pids[8];  /* the server's own helper processes (wsbridge's spawner), 0-terminated */
/* --tls=CA.pem: every connection speaks TLS (wss://) and verifies the server's certificate against
 * CA.pem for the address 127.0.0.1; NULL = plain ws://. Set before loop_init. */
extern const char *g_tls_ca;
/* "TLSv1.3/TLS_AES_256_GCM_SHA384/X25519": what the first completed TLS handshake negotiated. */
extern char g_tls_negotiated[160];
/* --deflate: offer permessage-deflate on every connection (as Chromium does) and fail any whose 101
 * does not agree. */
extern int g_deflate;
/* The first 101's Sec-WebSocket-Extensions value, and how many connections it was refused on (not
 * reset between tests: main exits non-zero when any was). */
extern char g_deflate_answer[256];
extern uint64_t g_deflate_declined;
/* VmRSS of the server and its helpers together. */
long rss_all_kib(void);
void loop_init(void);
int conn_start(conn *c, const char *query, const hooks *h);
void conn_send(conn *c, int opcode, const uint8_t *p, size_t n);
/* Reserves room for a frame of n payload bytes and returns where to build it. */
uint8_t *conn_reserve(conn *c, size_t n);
void conn_commit(conn *c, size_t framelen);
void conn_flush(conn *c);
void conn_read(conn *c);
/* One read of at most max bytes (even while read_paused), and the frames it completes. */
void conn_read_some(conn *c, size_t max);
void conn_fail(conn *c, int why);
void conn_finish(conn *c);
void conn_free(conn *c);
size_t conn_pending(const conn *c);
/* Waits up to timeout_ms for events and handles them. */
void loop_once(int timeout_ms);

/* permessage-deflate (deflate.c). */
/* The extension fields of a 101 head: 0 when they agree with what was offered (c->pmd set when
 * agreed), else the error (E_HANDSHAKE, or E_DEFLATE with a note on stderr). */
int pmd_accept(conn *c, const uint8_t *head, size_t len);
/* Writes one compressed frame (RSV1, masked) of the message p[0..n) into c's write buffer. */
void pmd_put_frame(conn *c, int opcode, const uint8_t *p, size_t n);
/* Inflates a compressed message; *out points into a buffer shared by all connections, valid until
 * the next call. -1 on a corrupt stream or one over the message limit. */
int pmd_inflate(conn *c, const uint8_t *p, size_t n, const uint8_t **out, size_t *outn);
void pmd_free(conn *c);

/* Client measurements (tests.c, tests2.c). */
int t_spawn(int argc, char **argv);
int t_spawnpair(int argc, char **argv);
int t_hold(int argc, char **argv);
int t_rtt(int argc, char **argv);
int t_rttpair(int argc, char **argv);
int t_pipe(int argc, char **argv);
int t_pipecat(int argc, char **argv);
int t_flood(int argc, char **argv);
int t_slow(int argc, char **argv);
int t_duplex(int argc, char **argv);
int t_fanout(int argc, char **argv);
void spawn_run(const char *prefix, const char *query, int n, int conc, double maxsec);
void print_errors(const char *prefix);

/* Fixtures (fixtures.c). */
int f_echo_server(int argc, char **argv);  /* [CERT KEY]: TLS with that certificate and key */
int f_gen(int argc, char **argv);
int f_numbered(int argc, char **argv); /* LEN [LINES] [RATE]: the fan-out child */

#endif

/* permessage-deflate (RFC 7692) for the client, with --deflate: the offer Chromium sends, the
 * server's answer checked, outgoing messages compressed and incoming ones inflated with zlib. */
#include "wsbench.h"
#include <strings.h>

int g_deflate;
char g_deflate_answer[256];
uint64_t g_deflate_declined;

/* Compressed (outgoing) and inflated (incoming) message bytes: one buffer each for every connection,
 * since a message is framed or delivered before the next one is handled. */
static uint8_t *z_out;
static size_t z_out_cap;
static uint8_t *z_in;
static size_t z_in_cap;
/* With client_no_context_takeover every message starts afresh, so one deflater serves every
 * connection (1,000 held connections would otherwise keep 1,000 deflaters of 256 KiB each). */
static z_stream *z_shared;
static int z_shared_bits;

#define PMD_MAX_MESSAGE (64u << 20) /* as parse_frames' frame limit */

static int declined(conn *c, const char *why, const char *value) {
    static int noted;
    g_deflate_declined++;
    if (noted++ < 3)
        fprintf(stderr, "wsbench: port %d, connection %d: permessage-deflate not agreed: %s%s%s\n", g_port, c->id, why,
                value[0] ? ": " : "", value);
    return E_DEFLATE;
}

/* s without the spaces and tabs around it (in place). */
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
    return s;
}

/* A window size as RFC 7692 §7.1.2 writes it (8...15, optionally quoted); -1 otherwise. */
static int window_bits(char *v) {
    if (!v) return -1;
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') { v[n - 1] = 0; v++; }
    if (strlen(v) == 1 && v[0] >= '8' && v[0] <= '9') return v[0] - '0';
    if (strlen(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + v[1] - '0';
    return -1;
}

int pmd_accept(conn *c, const uint8_t *head, size_t len) {
    static const char field[] = "sec-websocket-extensions:";
    const size_t fl = sizeof field - 1;
    char value[256] = "";
    int fields = 0;
    c->pmd = 0;
    const uint8_t *end = head + len, *p = memmem(head, len, "\r\n", 2);
    for (int guard = 0; p && guard < 256; guard++) {
        const uint8_t *line = p + 2, *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (!eol || eol == line) break;
        size_t ll = (size_t)(eol - line);
        if (ll >= fl && strncasecmp((const char *)line, field, fl) == 0) {
            if (fields++ || ll - fl >= sizeof value) return g_deflate ? declined(c, "more than one extension", "") : E_HANDSHAKE;
            memcpy(value, line + fl, ll - fl);
            value[ll - fl] = 0;
        }
        p = eol;
    }
    /* RFC 6455 §9.1: an extension the client did not offer fails the connection. */
    if (!g_deflate) return fields ? E_HANDSHAKE : 0;
    if (!fields) return declined(c, "the 101 has no Sec-WebSocket-Extensions", "");
    char copy[256];
    snprintf(copy, sizeof copy, "%s", trim(value));
    /* RFC 7692 §5: the server accepts at most one offer. */
    if (strchr(copy, ',')) return declined(c, "more than one extension", copy);
    int in_bits = 15, in_reset = 0, out_bits = 15, out_reset = 0;
    char *save = NULL, *tok = strtok_r(value, ";", &save);
    if (!tok || strcmp(trim(tok), "permessage-deflate") != 0) return declined(c, "another extension", copy);
    while ((tok = strtok_r(NULL, ";", &save))) {
        char *eq = strchr(tok, '='), *v = NULL;
        if (eq) { *eq = 0; v = trim(eq + 1); }
        char *name = trim(tok);
        if (strcmp(name, "server_no_context_takeover") == 0 && !v) in_reset = 1;
        else if (strcmp(name, "client_no_context_takeover") == 0 && !v) out_reset = 1;
        else if (strcmp(name, "server_max_window_bits") == 0 && window_bits(v) > 0) in_bits = window_bits(v);
        /* RFC 7692 §7.1.2.2: answered with a value; zlib writes no raw stream with a window of 8. */
        else if (strcmp(name, "client_max_window_bits") == 0 && window_bits(v) >= 9) out_bits = window_bits(v);
        else return declined(c, "a parameter this client cannot keep", copy);
    }
    if (!g_deflate_answer[0]) snprintf(g_deflate_answer, sizeof g_deflate_answer, "%s", copy);
    c->pmd = 1;
    /* A server limited to 8 may write with 9, as zlib does; a larger inflater window reads both. */
    c->inflate_bits = in_bits < 9 ? 9 : in_bits;
    c->inflate_reset = in_reset;
    c->deflate_bits = out_bits;
    c->deflate_reset = out_reset;
    return 0;
}

static z_stream *deflater(conn *c) {
    z_stream **slot = c->deflate_reset ? &z_shared : &c->zout;
    if (*slot && c->deflate_reset && z_shared_bits != c->deflate_bits) {
        deflateEnd(*slot);
        free(*slot);
        *slot = NULL;
    }
    if (!*slot) {
        /* As Chromium: the default level and memLevel, raw deflate with the agreed window. */
        *slot = calloc(1, sizeof(z_stream));
        if (!*slot || deflateInit2(*slot, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -c->deflate_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            die("deflateInit2 failed");
        if (c->deflate_reset) z_shared_bits = c->deflate_bits;
    }
    return *slot;
}

void pmd_put_frame(conn *c, int opcode, const uint8_t *p, size_t n) {
    z_stream *z = deflater(c);
    size_t need = deflateBound(z, n) + 64;
    if (z_out_cap < need) {
        z_out_cap = need;
        z_out = realloc(z_out, z_out_cap);
        if (!z_out) die("out of memory");
    }
    z->next_in = (Bytef *)p;
    z->avail_in = (uInt)n;
    z->next_out = z_out;
    z->avail_out = (uInt)z_out_cap;
    size_t m = 0;
    for (int guard = 0;; guard++) {
        int r = deflate(z, Z_SYNC_FLUSH);
        if ((r != Z_OK && r != Z_BUF_ERROR) || guard == 64) die("deflate failed (%d)", r);
        m = (size_t)(z->next_out - z_out);
        /* zlib: a flush is complete once deflate leaves output space unused. */
        if (z->avail_in == 0 && z->avail_out > 0) break;
        z_out_cap *= 2;
        z_out = realloc(z_out, z_out_cap);
        if (!z_out) die("out of memory");
        z->next_out = z_out + m;
        z->avail_out = (uInt)(z_out_cap - m);
    }
    /* RFC 7692 §7.2.1: the sync flush's empty stored block 00 00 ff ff is not sent. */
    if (m < 4 || memcmp(z_out + m - 4, "\x00\x00\xff\xff", 4) != 0) die("deflate: no sync flush at the end");
    m -= 4;
    if (c->deflate_reset) deflateReset(z);
    uint8_t *o = conn_reserve(c, m);
    uint32_t key = rnd32();
    size_t h = put_header(o, opcode, m, 1, key);
    o[0] |= 0x40; /* RFC 7692 §6: RSV1 on the first frame marks a compressed message */
    mask_copy(o + h, z_out, m, key);
    conn_commit(c, h + m);
}

/* Inflates p[0..n) onto z_in[*len...]; -1 on a corrupt stream or past the message limit. */
static int inflate_part(z_stream *z, const uint8_t *p, size_t n, size_t *len) {
    z->next_in = (Bytef *)p;
    z->avail_in = (uInt)n;
    for (int guard = 0; guard < 4096; guard++) {
        if (*len == z_in_cap) {
            if (z_in_cap >= PMD_MAX_MESSAGE) return -1;
            z_in_cap *= 2;
            z_in = realloc(z_in, z_in_cap);
            if (!z_in) die("out of memory");
        }
        z->next_out = z_in + *len;
        z->avail_out = (uInt)(z_in_cap - *len);
        int r = inflate(z, Z_SYNC_FLUSH);
        *len = (size_t)(z->next_out - z_in);
        /* RFC 7692 §7.2.3.4: a block with BFINAL ends the stream; what follows starts another. */
        if (r == Z_STREAM_END) inflateReset(z);
        else if (r == Z_BUF_ERROR) { if (z->avail_out > 0) return z->avail_in == 0 ? 0 : -1; }
        else if (r != Z_OK) return -1;
        if (z->avail_in == 0 && z->avail_out > 0) return 0;
    }
    return -1;
}

int pmd_inflate(conn *c, const uint8_t *p, size_t n, const uint8_t **out, size_t *outn) {
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff}; /* RFC 7692 §7.2.2: put back before inflating */
    if (!c->zin) {
        c->zin = calloc(1, sizeof(z_stream));
        if (!c->zin || inflateInit2(c->zin, -c->inflate_bits) != Z_OK) die("inflateInit2 failed");
    }
    if (!z_in) {
        z_in_cap = 64 * 1024;
        z_in = malloc(z_in_cap);
        if (!z_in) die("out of memory");
    }
    size_t len = 0;
    if (inflate_part(c->zin, p, n, &len) < 0 || inflate_part(c->zin, tail, 4, &len) < 0) return -1;
    if (c->inflate_reset) inflateReset(c->zin);
    c->ncompressed++;
    *out = z_in;
    *outn = len;
    return 0;
}

void pmd_free(conn *c) {
    if (c->zin) { inflateEnd(c->zin); free(c->zin); }
    if (c->zout) { deflateEnd(c->zout); free(c->zout); }
    c->zin = c->zout = NULL;
    c->pmd = 0;
}

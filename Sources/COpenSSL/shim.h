// The system's OpenSSL (Debian's libssl-dev, 3.0 or later), for the TLS transport only (WSTLS).
// Several of the calls it needs are macros, which Swift cannot call: each has a function here.
#pragma once
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/pkcs12.h>
#include <openssl/bio.h>

static inline int wsbridge_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long wsbridge_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long wsbridge_ssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
static inline int wsbridge_ssl_ctx_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}

// The socket BIO's retry flags (BIO_set_retry_read and friends are macros).
static inline void wsbridge_bio_set_retry_read(BIO *bio) { BIO_set_retry_read(bio); }
static inline void wsbridge_bio_clear_retry_flags(BIO *bio) { BIO_clear_retry_flags(bio); }

static inline const char *wsbridge_ssl_get_servername(const SSL *ssl) {
    return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
}

// Constants Swift imports with awkward types, or not at all (they are macros of macros).
static const long wsbridge_ssl_mode_release_buffers = SSL_MODE_RELEASE_BUFFERS;
static const long wsbridge_ssl_mode_enable_partial_write = SSL_MODE_ENABLE_PARTIAL_WRITE;
static const long wsbridge_ssl_mode_accept_moving_write_buffer = SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
static const uint64_t wsbridge_ssl_op_no_renegotiation = SSL_OP_NO_RENEGOTIATION;
static const uint64_t wsbridge_ssl_op_ignore_unexpected_eof = SSL_OP_IGNORE_UNEXPECTED_EOF;
static const uint64_t wsbridge_ssl_op_no_compression = SSL_OP_NO_COMPRESSION;
static const uint64_t wsbridge_ssl_op_cipher_server_preference = SSL_OP_CIPHER_SERVER_PREFERENCE;
static const uint64_t wsbridge_ssl_op_no_ticket = SSL_OP_NO_TICKET;
static const unsigned long wsbridge_xn_flag_rfc2253 = XN_FLAG_RFC2253;

static inline long wsbridge_ssl_ctx_set_read_ahead(SSL_CTX *ctx, int yes) { return SSL_CTX_set_read_ahead(ctx, yes); }

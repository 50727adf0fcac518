// The system's zlib (zlib1g-dev), for permessage-deflate only (WSDeflate).
// inflateInit2 and deflateInit2 are macros, which Swift cannot call: each has a function here. Both
// set up raw deflate streams (negative window bits: no zlib header or checksum), as RFC 7692 §7.2
// carries them.
#pragma once
#include <zlib.h>

static inline int wsbridge_inflate_init_raw(z_streamp stream, int windowBits) {
    return inflateInit2(stream, -windowBits);
}

static inline int wsbridge_deflate_init_raw(z_streamp stream, int level, int windowBits, int memoryLevel) {
    return deflateInit2(stream, level, Z_DEFLATED, -windowBits, memoryLevel, Z_DEFAULT_STRATEGY);
}

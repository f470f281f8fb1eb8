// The whole C surface of zlib that Swift sees. Only the Compression target imports this module.
#ifndef CONTACTS_CZLIB_SHIM_H
#define CONTACTS_CZLIB_SHIM_H

#include <zlib.h>

// deflateInit2 and inflateInit2 are macros (they pass the header's version and the stream's
// size), which Swift cannot call: these are the same calls as functions. 15 + 16 asks for
// a 32 KiB window and a gzip wrapper (header and CRC-32 trailer) instead of zlib's.
static inline int contacts_gzip_deflate_init(z_streamp stream, int level) {
  return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

static inline int contacts_gzip_inflate_init(z_streamp stream) {
  return inflateInit2(stream, 15 + 16);
}

#endif

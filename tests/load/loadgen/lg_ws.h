/* lg_ws.h — the client side of RFC 6455, as little as a load generator needs.
 *
 * Pure: bytes in, bytes out, no sockets. The handshake uses one key for every
 * connection of the process (servers do not compare keys across connections)
 * so the expected Sec-WebSocket-Accept is computed once. Client frames are
 * always masked; server frames are expected unmasked (a masked one is
 * unmasked in place and accepted). Fragmented messages are reported as such
 * (fin = 0 / continuation) and left to the caller. */
#ifndef LG_WS_H
#define LG_WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
    LG_WS_OP_CONT = 0x0,
    LG_WS_OP_TEXT = 0x1,
    LG_WS_OP_BINARY = 0x2,
    LG_WS_OP_CLOSE = 0x8,
    LG_WS_OP_PING = 0x9,
    LG_WS_OP_PONG = 0xA,
};

/* Largest client frame header: 2 + 8 (64-bit length) + 4 (mask). */
#define LG_WS_HEADER_MAX 14

/* 16 random bytes, base64 (24 chars + NUL). */
void lg_ws_make_key(char key[25], uint64_t seed);
/* base64(SHA-1(key + RFC 6455 GUID)) (28 chars + NUL). */
void lg_ws_accept_for_key(const char *key, char accept[29]);

/* The upgrade request for path (e.g. "/socket.io/?EIO=4&transport=websocket").
 * Returns its length, or 0 when out is too small. */
size_t lg_ws_handshake_request(char *out, size_t cap, const char *host, int port, const char *path,
                               const char *key);

typedef enum lg_ws_hs {
    LG_WS_HS_OK = 0,
    LG_WS_HS_INCOMPLETE, /* no blank line yet: read more          */
    LG_WS_HS_STATUS,     /* not "HTTP/1.1 101"                     */
    LG_WS_HS_ACCEPT,     /* Sec-WebSocket-Accept missing or wrong  */
    LG_WS_HS_TOO_LARGE,  /* head over max bytes                    */
} lg_ws_hs;

/* Checks the server's response head in buf. On OK, *head_len is the number
 * of bytes it took (frames may follow in the same buffer). On STATUS,
 * *status is the HTTP status (0 when unparseable). */
lg_ws_hs lg_ws_handshake_check(const char *buf, size_t len, size_t max, const char *accept,
                               size_t *head_len, int *status);

/* Writes one masked client frame (fin set). out needs LG_WS_HEADER_MAX + len
 * bytes. Returns the frame length. */
size_t lg_ws_encode(uint8_t *out, int opcode, const void *payload, size_t len, uint32_t mask);

typedef struct lg_ws_frame {
    int fin;
    int opcode;
    uint8_t *payload; /* points into the decoded buffer */
    size_t len;
} lg_ws_frame;

/* Decodes the frame at the start of buf. Returns the bytes it spans (> 0),
 * 0 when buf holds only part of it, -1 on a protocol error (reserved bits,
 * unknown opcode, control frame over 125 bytes or fragmented, payload over
 * max_payload). A masked payload is unmasked in place. */
ssize_t lg_ws_decode(uint8_t *buf, size_t len, size_t max_payload, lg_ws_frame *f);

#endif

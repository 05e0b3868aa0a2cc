/* lg_ws.c — see lg_ws.h. */
#include "lg_ws.h"

#include "lg_jwt.h" /* lg_base64 */

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void lg_ws_make_key(char key[25], uint64_t seed)
{
    uint8_t raw[16];
    uint64_t x = seed ? seed : 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 16; i++) { /* splitmix64 */
        x += 0x9E3779B97F4A7C15ull;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        raw[i] = (uint8_t)(z ^ (z >> 31));
    }
    lg_base64(key, 25, raw, sizeof raw, 0);
}

void lg_ws_accept_for_key(const char *key, char accept[29])
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%s%s", key, WS_GUID);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)buf, (size_t)n, md);
    lg_base64(accept, 29, md, sizeof md, 0);
}

size_t lg_ws_handshake_request(char *out, size_t cap, const char *host, int port, const char *path,
                               const char *key)
{
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "\r\n",
                     path, host, port, key);
    return (n < 0 || (size_t)n >= cap) ? 0 : (size_t)n;
}

static const char *ws__find(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0)
            return s + i;
    return NULL;
}

lg_ws_hs lg_ws_handshake_check(const char *buf, size_t len, size_t max, const char *accept,
                               size_t *head_len, int *status)
{
    *status = 0;
    const char *end = ws__find(buf, len, "\r\n\r\n");
    if (!end)
        return len >= max ? LG_WS_HS_TOO_LARGE : LG_WS_HS_INCOMPLETE;
    size_t hl = (size_t)(end - buf) + 4;
    if (hl > max)
        return LG_WS_HS_TOO_LARGE;
    *head_len = hl;
    if (hl < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
        return LG_WS_HS_STATUS;
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return LG_WS_HS_STATUS;
        code = code * 10 + (buf[i] - '0');
    }
    *status = code;
    if (code != 101)
        return LG_WS_HS_STATUS;

    /* Header lines: find Sec-WebSocket-Accept (any case), compare its value. */
    static const char name[] = "sec-websocket-accept:";
    const char *p = memchr(buf, '\n', hl);
    while (p && p + 1 < buf + hl) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(buf + hl - line));
        if (!eol)
            break;
        if ((size_t)(eol - line) > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0) {
            const char *v = line + sizeof name - 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t an = strlen(accept);
            return ((size_t)(ve - v) == an && memcmp(v, accept, an) == 0) ? LG_WS_HS_OK
                                                                           : LG_WS_HS_ACCEPT;
        }
        p = eol;
    }
    return LG_WS_HS_ACCEPT;
}

size_t lg_ws_encode(uint8_t *out, int opcode, const void *payload, size_t len, uint32_t mask)
{
    size_t o = 0;
    out[o++] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        out[o++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        out[o++] = 0x80 | 126;
        out[o++] = (uint8_t)(len >> 8);
        out[o++] = (uint8_t)len;
    } else {
        out[o++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[o++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t m[4] = {(uint8_t)(mask >> 24), (uint8_t)(mask >> 16), (uint8_t)(mask >> 8),
                    (uint8_t)mask};
    memcpy(out + o, m, 4);
    o += 4;
    const uint8_t *src = payload;
    for (size_t i = 0; i < len; i++)
        out[o + i] = src[i] ^ m[i & 3];
    return o + len;
}

ssize_t lg_ws_decode(uint8_t *buf, size_t len, size_t max_payload, lg_ws_frame *f)
{
    if (len < 2)
        return 0;
    uint8_t b0 = buf[0], b1 = buf[1];
    if (b0 & 0x70) /* RSV1-3: no extension was negotiated */
        return -1;
    int op = b0 & 0x0F;
    if (!(op <= LG_WS_OP_BINARY || (op >= LG_WS_OP_CLOSE && op <= LG_WS_OP_PONG)))
        return -1;
    int masked = (b1 & 0x80) != 0;
    uint64_t plen = b1 & 0x7F;
    size_t hl = 2;
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = (uint64_t)buf[2] << 8 | buf[3];
        hl = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | buf[2 + i];
        hl = 10;
    }
    if (op >= LG_WS_OP_CLOSE && (plen > 125 || !(b0 & 0x80)))
        return -1;
    if (plen > max_payload)
        return -1;
    size_t mo = hl;
    if (masked)
        hl += 4;
    if (len < hl || len - hl < plen)
        return 0;
    uint8_t *pl = buf + hl;
    if (masked)
        for (size_t i = 0; i < plen; i++)
            pl[i] ^= buf[mo + (i & 3)];
    f->fin = (b0 & 0x80) != 0;
    f->opcode = op;
    f->payload = pl;
    f->len = (size_t)plen;
    return (ssize_t)(hl + plen);
}

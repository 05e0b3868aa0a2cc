/* sio_codec.c — Engine.IO v4 / Socket.IO v5 packet codec. Pure; see sio_codec.h.
 * The Socket.IO rules follow socket.io-parser 4.x (Decoder.decodeString and
 * isPayloadValid), made stricter where the JS parser is unbounded. */
#include "sio_codec.h"

#include "json_bounds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sio_codec_strerror(sio_codec_err e)
{
    switch (e) {
    case SIO_OK: return "ok";
    case SIO_ERR_EMPTY: return "empty packet";
    case SIO_ERR_TYPE: return "unknown packet type";
    case SIO_ERR_BINARY: return "binary packets are not supported";
    case SIO_ERR_NSP: return "invalid namespace";
    case SIO_ERR_ACK_ID: return "invalid ack id";
    case SIO_ERR_JSON: return "invalid JSON";
    case SIO_ERR_DEPTH: return "JSON nested too deeply";
    case SIO_ERR_SHAPE: return "invalid payload for the packet type";
    case SIO_ERR_TOO_LARGE: return "packet too large";
    case SIO_ERR_ELEMENTS: return "JSON holds too many elements";
    }
    return "unknown error";
}

/* ---- output buffers ------------------------------------------------------ */

typedef struct codec_buf {
    char *p;
    size_t len; /* bytes used, including headroom */
    size_t cap;
    int failed;
} codec_buf;

static int codec__reserve(codec_buf *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *n = realloc(b->p, cap);
    if (n == NULL) {
        b->failed = 1;
        return -1;
    }
    b->p = n;
    b->cap = cap;
    return 0;
}

static int codec__put(codec_buf *b, const char *s, size_t n)
{
    if (codec__reserve(b, n) != 0)
        return -1;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int codec__json_cb(const char *buffer, size_t size, void *data)
{
    return codec__put(data, buffer, size);
}

static int codec__start(codec_buf *b, size_t headroom)
{
    memset(b, 0, sizeof(*b));
    /* Headroom is LWS_PRE-sized; the bound also tells GCC's -O3 range
     * analysis that headroom + 64 cannot wrap (else -Wstringop-overflow). */
    if (headroom > 4096)
        return -1;
    if (codec__reserve(b, headroom + 64) != 0)
        return -1;
    memset(b->p, 0, headroom);
    b->len = headroom;
    b->p[b->len] = '\0';
    return 0;
}

/* Returns the buffer and sets *len to the packet length (without headroom). */
static char *codec__finish(codec_buf *b, size_t headroom, size_t *len)
{
    if (b->failed) {
        free(b->p);
        return NULL;
    }
    *len = b->len - headroom;
    return b->p;
}

/* ---- Engine.IO ------------------------------------------------------------ */

sio_codec_err eio_decode(const char *buf, size_t len, eio_packet *out)
{
    if (len == 0)
        return SIO_ERR_EMPTY;
    if (buf[0] == 'b')
        return SIO_ERR_BINARY;
    if (buf[0] < '0' || buf[0] > '6')
        return SIO_ERR_TYPE;
    out->type = (eio_type)(buf[0] - '0');
    out->data = buf + 1;
    out->len = len - 1;
    return SIO_OK;
}

void eio_payload_init(eio_payload_iter *it, const char *buf, size_t len)
{
    it->p = buf;
    it->end = buf + len;
    it->done = 0;
}

int eio_payload_next(eio_payload_iter *it, eio_packet *out)
{
    if (it->done)
        return 0;
    const char *start = it->p;
    const char *sep = memchr(start, SIO_RECORD_SEP, (size_t)(it->end - start));
    const char *stop = sep ? sep : it->end;
    if (sep)
        it->p = sep + 1;
    else
        it->done = 1;
    sio_codec_err e = eio_decode(start, (size_t)(stop - start), out);
    return e == SIO_OK ? 1 : -(int)e;
}

char *eio_encode(eio_type type, const char *data, size_t data_len, size_t headroom, size_t *len)
{
    codec_buf b;
    if (codec__start(&b, headroom) != 0)
        return NULL;
    char t = (char)('0' + (int)type);
    codec__put(&b, &t, 1);
    if (data_len)
        codec__put(&b, data, data_len);
    return codec__finish(&b, headroom, len);
}

char *eio_encode_open(const char *sid, int upgrade_ws, int64_t ping_interval_ms,
                      int64_t ping_timeout_ms, int64_t max_payload, size_t headroom,
                      size_t *len)
{
    json_t *o = json_pack("{s:s,s:[],s:I,s:I,s:I}", "sid", sid, "upgrades", "pingInterval",
                          (json_int_t)ping_interval_ms, "pingTimeout",
                          (json_int_t)ping_timeout_ms, "maxPayload", (json_int_t)max_payload);
    if (o == NULL)
        return NULL;
    if (upgrade_ws)
        json_array_append_new(json_object_get(o, "upgrades"), json_string("websocket"));
    codec_buf b;
    char *res = NULL;
    if (codec__start(&b, headroom) == 0) {
        codec__put(&b, "0", 1);
        if (json_dump_callback(o, codec__json_cb, &b, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0)
            b.failed = 1;
        res = codec__finish(&b, headroom, len);
    }
    json_decref(o);
    return res;
}

/* ---- Socket.IO ------------------------------------------------------------ */

int sio_json_depth(const char *buf, size_t len, int limit)
{
    json_bounds b;
    json_bounds_scan(buf, len, limit, SIZE_MAX - 1, &b);
    return b.depth;
}

static int sio__is_reserved_event(const char *name)
{
    static const char *const reserved[] = {"connect",       "connect_error",  "disconnect",
                                           "disconnecting", "newListener",    "removeListener"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(name, reserved[i]) == 0)
            return 1;
    return 0;
}

/* socket.io-parser's isPayloadValid, with events named by strings only. */
static int sio__payload_valid(sio_type type, const json_t *d)
{
    switch (type) {
    case SIO_CONNECT:
        return json_is_object(d);
    case SIO_DISCONNECT:
        return 0; /* DISCONNECT carries no data */
    case SIO_CONNECT_ERROR:
        return json_is_object(d) || json_is_string(d);
    case SIO_EVENT:
    case SIO_BINARY_EVENT: {
        if (!json_is_array(d) || json_array_size(d) == 0)
            return 0;
        const json_t *name = json_array_get(d, 0);
        return json_is_string(name) && !sio__is_reserved_event(json_string_value(name));
    }
    case SIO_ACK:
    case SIO_BINARY_ACK:
        return json_is_array(d);
    }
    return 0;
}

/* The steps of sio_decode: each reads its part of the header at *i and
 * returns SIO_OK or the error. */

/* "<attachments>-" of a binary packet: parsed only to find the rest. */
static sio_codec_err sio__decode_attachments(const char *buf, size_t len, size_t *i)
{
    size_t start = *i;
    while (*i < len && buf[*i] >= '0' && buf[*i] <= '9' && *i - start < SIO_ACK_ID_DIGITS)
        (*i)++;
    if (*i == start || *i >= len || buf[*i] != '-')
        return SIO_ERR_BINARY;
    (*i)++;
    return SIO_OK;
}

/* "/<nsp>," : printable ASCII, at most SIO_NSP_MAX bytes. */
static sio_codec_err sio__decode_nsp(const char *buf, size_t len, size_t *i, sio_packet *out)
{
    if (*i >= len || buf[*i] != '/')
        return SIO_OK;
    size_t start = *i;
    while (*i < len && buf[*i] != ',')
        (*i)++;
    size_t n = *i - start;
    if (n > SIO_NSP_MAX)
        return SIO_ERR_NSP;
    for (size_t k = start; k < start + n; k++)
        if ((unsigned char)buf[k] < 0x21 || (unsigned char)buf[k] > 0x7e)
            return SIO_ERR_NSP;
    memcpy(out->nsp, buf + start, n);
    out->nsp[n] = '\0';
    if (*i < len)
        (*i)++; /* the ',' */
    return SIO_OK;
}

/* "<ack id>" : at most SIO_ACK_ID_DIGITS digits, at most SIO_ACK_ID_MAX. */
static sio_codec_err sio__decode_ack_id(const char *buf, size_t len, size_t *i, sio_packet *out)
{
    if (*i >= len || buf[*i] < '0' || buf[*i] > '9')
        return SIO_OK;
    size_t start = *i;
    int64_t id = 0;
    while (*i < len && buf[*i] >= '0' && buf[*i] <= '9') {
        if (*i - start >= SIO_ACK_ID_DIGITS)
            return SIO_ERR_ACK_ID;
        id = id * 10 + (buf[*i] - '0');
        (*i)++;
    }
    if (id > SIO_ACK_ID_MAX)
        return SIO_ERR_ACK_ID;
    out->ack_id = id;
    return SIO_OK;
}

/* The JSON payload, within the depth and element bounds, of the packet's shape. */
static sio_codec_err sio__decode_data(const char *buf, size_t len, const sio_limits *lim,
                                      sio_packet *out)
{
    int max_depth = lim && lim->max_depth > 0 ? lim->max_depth : 32;
    size_t max_elems = lim && lim->max_elements ? lim->max_elements : SIZE_MAX - 1;
    json_bounds b;
    json_bounds_scan(buf, len, max_depth, max_elems, &b);
    if (b.depth > max_depth)
        return SIO_ERR_DEPTH;
    if (b.elements > max_elems)
        return SIO_ERR_ELEMENTS;
    json_error_t jerr;
    json_t *d = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (d == NULL)
        return SIO_ERR_JSON;
    if (!sio__payload_valid(out->type, d)) {
        json_decref(d);
        return SIO_ERR_SHAPE;
    }
    out->data = d;
    return SIO_OK;
}

sio_codec_err sio_decode(const char *buf, size_t len, const sio_limits *lim, sio_packet *out)
{
    out->type = SIO_CONNECT;
    strcpy(out->nsp, "/");
    out->ack_id = -1;
    out->data = NULL;
    if (len == 0)
        return SIO_ERR_EMPTY;
    if (lim && lim->max_len && len > lim->max_len)
        return SIO_ERR_TOO_LARGE;
    if (buf[0] < '0' || buf[0] > '6')
        return SIO_ERR_TYPE;
    out->type = (sio_type)(buf[0] - '0');
    size_t i = 1;
    int binary = out->type == SIO_BINARY_EVENT || out->type == SIO_BINARY_ACK;
    sio_codec_err e = binary ? sio__decode_attachments(buf, len, &i) : SIO_OK;
    if (e == SIO_OK)
        e = sio__decode_nsp(buf, len, &i, out);
    if (e == SIO_OK)
        e = sio__decode_ack_id(buf, len, &i, out);
    if (e != SIO_OK)
        return e;
    if (binary)
        return SIO_ERR_BINARY;
    if (i < len)
        return sio__decode_data(buf + i, len - i, lim, out);
    if (out->type == SIO_EVENT || out->type == SIO_ACK)
        return SIO_ERR_SHAPE; /* an event needs at least its name; an ack its array */
    return SIO_OK;
}

void sio_packet_clear(sio_packet *p)
{
    if (p == NULL)
        return;
    json_decref(p->data);
    p->data = NULL;
}

const char *sio_event_name(const sio_packet *p)
{
    if (p->type != SIO_EVENT || !json_is_array(p->data))
        return NULL;
    return json_string_value(json_array_get(p->data, 0));
}

json_t *sio_event_arg(const sio_packet *p, size_t i)
{
    if (p->type != SIO_EVENT || !json_is_array(p->data))
        return NULL;
    return json_array_get(p->data, i + 1);
}

char *sio_encode(sio_type type, const char *nsp, int64_t ack_id, const json_t *data,
                 size_t headroom, size_t *len)
{
    codec_buf b;
    if (codec__start(&b, headroom) != 0)
        return NULL;
    char head[2] = {'4', (char)('0' + (int)type)};
    codec__put(&b, head, 2);
    if (nsp && strcmp(nsp, "/") != 0) {
        codec__put(&b, nsp, strlen(nsp));
        codec__put(&b, ",", 1);
    }
    if (ack_id >= 0) {
        char num[24];
        int n = snprintf(num, sizeof(num), "%lld", (long long)ack_id);
        codec__put(&b, num, (size_t)n);
    }
    if (data && json_dump_callback(data, codec__json_cb, &b,
                                   JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) != 0)
        b.failed = 1;
    return codec__finish(&b, headroom, len);
}

char *sio_encode_text(sio_type type, int64_t ack_id, const sio_text *parts, size_t n,
                      size_t headroom, size_t *len)
{
    codec_buf b;
    if (codec__start(&b, headroom) != 0)
        return NULL;
    char head[24] = {'4', (char)('0' + (int)type)};
    size_t h = 2;
    if (ack_id >= 0)
        h += (size_t)snprintf(head + 2, sizeof(head) - 2, "%lld", (long long)ack_id);
    codec__put(&b, head, h); /* a failed put fails the buffer: finish frees it */
    for (size_t i = 0; i < n; i++)
        codec__put(&b, parts[i].p, parts[i].n);
    return codec__finish(&b, headroom, len);
}

/* [first?, arg?] as a SIO_EVENT or SIO_ACK packet. */
static char *sio__encode_args(sio_type type, int64_t ack_id, json_t *first, const json_t *arg,
                              size_t headroom, size_t *len)
{
    json_t *a = json_array();
    if (a == NULL) {
        json_decref(first);
        return NULL;
    }
    if (first)
        json_array_append_new(a, first);
    if (arg)
        json_array_append(a, (json_t *)arg);
    char *res = sio_encode(type, NULL, ack_id, a, headroom, len);
    json_decref(a);
    return res;
}

char *sio_encode_event(const char *name, const json_t *arg, size_t headroom, size_t *len)
{
    return sio__encode_args(SIO_EVENT, -1, json_string(name), arg, headroom, len);
}

char *sio_encode_ack(int64_t ack_id, const json_t *arg, size_t headroom, size_t *len)
{
    return sio__encode_args(SIO_ACK, ack_id, NULL, arg, headroom, len);
}

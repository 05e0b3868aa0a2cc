/* sio_codec.h — Engine.IO v4 and Socket.IO v5 packets, bytes in and out.
 *
 * Pure: no sockets, no clocks, no globals. The transport glue (sio_server.c)
 * hands it the text of one websocket frame or one polling body and gets
 * packets back; it hands it packets and gets bytes to send.
 *
 * Engine.IO v4 text packet:  <type digit><data>
 *   open 0, close 1, ping 2, pong 3, message 4, upgrade 5, noop 6.
 *   A polling body holds one or more packets joined by 0x1e. Binary packets
 *   (a 'b' base64 packet on polling, a binary frame on websocket) are refused.
 *
 * Socket.IO v5 packet (the data of an Engine.IO message):
 *   <type digit>[<attachments>-][<namespace>,][<ack id>][<JSON>]
 *   CONNECT 0, DISCONNECT 1, EVENT 2, ACK 3, CONNECT_ERROR 4,
 *   BINARY_EVENT 5, BINARY_ACK 6.
 *
 * Strict and bounded: ack ids are at most 10 digits and <= 2^31-1, namespaces
 * at most SIO_NSP_MAX bytes of printable ASCII, JSON nesting at most
 * limits->max_depth, and the payload shape is checked per type exactly as
 * socket.io-parser does (EVENT: non-empty array starting with a string, ...).
 * Decoding never reads past len and never needs a NUL terminator.
 *
 * Ownership: decoded packets borrow nothing from the input; sio_packet.data
 * is a new jansson reference released by sio_packet_clear(). Encoders return
 * malloc'ed buffers with `headroom` spare bytes in front of the packet (room
 * for a websocket frame header, LWS_PRE), which the caller frees. */
#ifndef SIO_CODEC_H
#define SIO_CODEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SIO_NSP_MAX 64
#define SIO_ACK_ID_MAX 2147483647LL /* 2^31-1 */
#define SIO_ACK_ID_DIGITS 10
#define SIO_RECORD_SEP '\x1e'

typedef enum sio_codec_err {
    SIO_OK = 0,
    SIO_ERR_EMPTY,     /* no bytes where a packet was expected        */
    SIO_ERR_TYPE,      /* unknown packet type                         */
    SIO_ERR_BINARY,    /* binary packet / attachments: not supported  */
    SIO_ERR_NSP,       /* namespace too long or bad characters        */
    SIO_ERR_ACK_ID,    /* ack id too long or past 2^31-1              */
    SIO_ERR_JSON,      /* data is not JSON                            */
    SIO_ERR_DEPTH,     /* JSON nested deeper than allowed             */
    SIO_ERR_SHAPE,     /* JSON of the wrong shape for the packet type */
    SIO_ERR_TOO_LARGE, /* over the size bound                         */
    SIO_ERR_ELEMENTS,  /* JSON with more values than allowed          */
} sio_codec_err;

/* Short static description, for logs and error messages. */
const char *sio_codec_strerror(sio_codec_err e);

/* ---- Engine.IO ---------------------------------------------------------- */

typedef enum eio_type {
    EIO_OPEN = 0,
    EIO_CLOSE = 1,
    EIO_PING = 2,
    EIO_PONG = 3,
    EIO_MESSAGE = 4,
    EIO_UPGRADE = 5,
    EIO_NOOP = 6,
} eio_type;

typedef struct eio_packet {
    eio_type type;
    const char *data; /* borrowed from the input: the bytes after the type digit */
    size_t len;
} eio_packet;

/* One text packet (a websocket frame, or one record of a polling body). */
sio_codec_err eio_decode(const char *buf, size_t len, eio_packet *out);

/* Iterates over the packets of a polling body:
 *   eio_payload_iter it; eio_payload_init(&it, body, len);
 *   while ((rc = eio_payload_next(&it, &pkt)) == 1) ...;   rc < 0: -(sio_codec_err) */
typedef struct eio_payload_iter {
    const char *p;
    const char *end;
    int done;
} eio_payload_iter;

void eio_payload_init(eio_payload_iter *it, const char *buf, size_t len);
/* 1 = *out filled, 0 = no more packets, < 0 = -(error) for this record (the
 * iterator has moved past it, so the caller may go on or stop). */
int eio_payload_next(eio_payload_iter *it, eio_packet *out);

/* The open packet: 0{"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}.
 * upgrade_ws: whether "websocket" is offered. */
char *eio_encode_open(const char *sid, int upgrade_ws, int64_t ping_interval_ms,
                      int64_t ping_timeout_ms, int64_t max_payload, size_t headroom,
                      size_t *len);

/* A packet without data ("2", "6", ...) or with text data ("3probe"). */
char *eio_encode(eio_type type, const char *data, size_t data_len, size_t headroom, size_t *len);

/* ---- Socket.IO ---------------------------------------------------------- */

typedef enum sio_type {
    SIO_CONNECT = 0,
    SIO_DISCONNECT = 1,
    SIO_EVENT = 2,
    SIO_ACK = 3,
    SIO_CONNECT_ERROR = 4,
    SIO_BINARY_EVENT = 5,
    SIO_BINARY_ACK = 6,
} sio_type;

typedef struct sio_limits {
    size_t max_len;    /* largest packet accepted (bytes)          */
    int max_depth;     /* deepest JSON nesting accepted (>= 1)     */
    size_t max_elements; /* array items + object members (json_bounds.h); 0 = no bound */
} sio_limits;

typedef struct sio_packet {
    sio_type type;
    char nsp[SIO_NSP_MAX + 1]; /* "/" when absent                   */
    int64_t ack_id;            /* -1 when absent                    */
    json_t *data;              /* owned; NULL when absent           */
} sio_packet;

/* Decodes the data of one Engine.IO message. Fills `out` as far as it got:
 * on SIO_ERR_JSON / SIO_ERR_DEPTH / SIO_ERR_SHAPE / SIO_ERR_BINARY, type, nsp
 * and ack_id are valid (so the caller can answer the ack with an error);
 * out->data is always NULL on error. */
sio_codec_err sio_decode(const char *buf, size_t len, const sio_limits *lim, sio_packet *out);
void sio_packet_clear(sio_packet *p);

/* For an EVENT: the event name (NULL when not an event) and argument i
 * (0 = first after the name; NULL when absent). Borrowed. */
const char *sio_event_name(const sio_packet *p);
json_t *sio_event_arg(const sio_packet *p, size_t i);

/* Encodes an Engine.IO message carrying a Socket.IO packet:
 * "4" <type> [<nsp>,] [<ack id>] [<compact JSON of data>].
 * nsp NULL or "/" = the main namespace; ack_id < 0 = none; data NULL = none.
 * Returns NULL on allocation failure or when data cannot be serialized. */
char *sio_encode(sio_type type, const char *nsp, int64_t ack_id, const json_t *data,
                 size_t headroom, size_t *len);

/* "4" "2" ["name", arg] — arg may be NULL (no argument). */
char *sio_encode_event(const char *name, const json_t *arg, size_t headroom, size_t *len);
/* "4" "3" <ack_id> [arg] — the answer to an event that asked for one. */
char *sio_encode_ack(int64_t ack_id, const json_t *arg, size_t headroom, size_t *len);

/* A piece of text already encoded (JSON, or a part of it). */
typedef struct sio_text {
    const char *p;
    size_t n;
} sio_text;
/* "4" <type> [<ack_id>] and then the n pieces concatenated: the caller's
 * JSON, already encoded — so one document's text can go into two packets
 * (a push and an ack) without being encoded twice. The pieces must make one
 * JSON array. NULL on allocation failure. */
char *sio_encode_text(sio_type type, int64_t ack_id, const sio_text *parts, size_t n,
                      size_t headroom, size_t *len);

/* Max nesting depth of the JSON text (arrays + objects), counting strings
 * correctly; stops early and returns limit+1 once past `limit`. */
int sio_json_depth(const char *buf, size_t len, int limit);

#endif

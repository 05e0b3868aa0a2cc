/* fuzz_sio_codec.c — libFuzzer target for the Engine.IO / Socket.IO codec.
 * Feeds the input as a polling body (records split on 0x1e) and every message
 * record through the Socket.IO decoder; re-encodes what decodes and checks the
 * round trip. Must never crash, leak or read out of bounds. */
#include "sio_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void fuzz__one(const char *data, size_t len)
{
    static const sio_limits lim = {.max_len = 1000000, .max_depth = 32};
    sio_packet p;
    sio_codec_err e = sio_decode(data, len, &lim, &p);
    if (e != SIO_OK) {
        if (p.data != NULL)
            abort(); /* data is always NULL on error */
        return;
    }
    size_t out_len = 0;
    char *b = sio_encode(p.type, p.nsp, p.ack_id, p.data, 16, &out_len);
    if (b != NULL) {
        sio_packet q;
        /* skip the headroom and the Engine.IO "4" */
        if (sio_decode(b + 17, out_len - 1, &lim, &q) != SIO_OK)
            abort();
        if (q.type != p.type || q.ack_id != p.ack_id || strcmp(q.nsp, p.nsp) != 0)
            abort();
        if ((p.data == NULL) != (q.data == NULL) || (p.data && !json_equal(p.data, q.data)))
            abort();
        sio_packet_clear(&q);
        free(b);
    }
    (void)sio_event_name(&p);
    (void)sio_event_arg(&p, 0);
    sio_packet_clear(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eio_payload_iter it;
    eio_packet pkt;
    int rc;
    eio_payload_init(&it, (const char *)data, size);
    while ((rc = eio_payload_next(&it, &pkt)) != 0) {
        if (rc < 0)
            continue;
        if (pkt.type == EIO_MESSAGE)
            fuzz__one(pkt.data, pkt.len);
    }
    /* the whole input as one websocket frame's Socket.IO packet */
    fuzz__one((const char *)data, size);
    return 0;
}

/* fuzz_health.c — libFuzzer target for the health probe every service
 * answers (statsync.health.stats in stats-service/handlers.c,
 * statsync.health.presence in presence-service/main.c): the request payload
 * as a HealthRequest, and the HealthReply each service packs into its fixed
 * stack buffer (stats: 256 bytes, presence: 128 bytes) with a userId-free
 * instance id and counters taken from the input.
 *
 * Today neither service reads the request's fields (the message is empty),
 * so the decode must simply accept or refuse without leaking; the replies
 * must fit the buffers whatever the counters are, and decode back equal. */
#include "fuzz_common.h"

static uint64_t fuzz__u64(const uint8_t *data, size_t size, size_t at)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = (v << 8) | (at + i < size ? data[at + i] : 0);
    return v;
}

static void fuzz__reply(const char *service, const char *instance, size_t cap,
                        const uint8_t *data, size_t size)
{
    Statsync__HealthReply r = STATSYNC__HEALTH_REPLY__INIT;
    r.service = (char *)service;
    r.instance = (char *)instance;
    r.has_ok = 1;
    r.ok = size > 0 && (data[0] & 1);
    r.has_total_users = 1;
    r.total_users = fuzz__u64(data, size, 1);
    r.has_uptime_s = 1;
    r.uptime_s = (int64_t)fuzz__u64(data, size, 9);
    r.has_connected_clients = 1;
    r.connected_clients = fuzz__u64(data, size, 17);
    r.has_connected_users = 1;
    r.connected_users = fuzz__u64(data, size, 25);
    size_t n = statsync__health_reply__get_packed_size(&r);
    FUZZ_CHECK(n <= cap); /* the services pack into a fixed buffer */
    uint8_t buf[256];
    FUZZ_CHECK(statsync__health_reply__pack(&r, buf) == n);
    Statsync__HealthReply *back = statsync__health_reply__unpack(NULL, n, buf);
    FUZZ_CHECK(back != NULL);
    FUZZ_CHECK(strcmp(back->service, service) == 0 && strcmp(back->instance, instance) == 0);
    FUZZ_CHECK(back->total_users == r.total_users && back->uptime_s == r.uptime_s &&
               back->connected_clients == r.connected_clients &&
               back->connected_users == r.connected_users && back->ok == r.ok);
    statsync__health_reply__free_unpacked(back, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Statsync__HealthRequest *q = statsync__health_request__unpack(NULL, size, data);
    if (q != NULL) {
        size_t n = 0;
        free(fuzz_check_canonical(&q->base, &n));
        statsync__health_request__free_unpacked(q, NULL);
    }
    /* stats-service: instance is "<hostname>-<pid>"-like, at most 64 bytes */
    fuzz__reply("stats", "stats-0123456789abcdef0123456789abcdef0123456789abcdef012345678", 256,
                data, size);
    fuzz__reply("presence", "", 128, data, size);
    return 0;
}

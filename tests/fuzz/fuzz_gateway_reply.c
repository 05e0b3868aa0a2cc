/* fuzz_gateway_reply.c — libFuzzer target for what the gateway decodes from
 * NATS, and the client JSON it renders from it:
 *
 *   bytes -> statsync.StatsReply  -> the REST answer (rest_routes.c: the
 *            document, {success, stats, duplicate?}, or {error:{code,message}}
 *            with the stored doc) and the socket ack (sio_events.c)
 *   bytes -> statsync.ChangeEvent -> user:data:updated and user:update
 *            (fanout.c: stats_json_from_doc, stats_json_from_delta, sio_encode_event)
 *   bytes -> statsync.HealthReply -> the /health probe object (rest_health.c)
 *
 * The same input is tried as each message. Invariants: decoded messages
 * re-encode canonically; a document renders as exactly the 17 client fields
 * with version clamped to 2^53-1 and finite numbers; whatever a service
 * sends, the REST answer is a serializable JSON body (the gateway falls back
 * to a generic error for unprintable text); events encode as Socket.IO
 * packets that decode back. */
#include "fuzz_common.h"
#include "sio_codec.h"
#include "ss_time.h"
#include "stats_json.h"

#define FUZZ_UID "fuzz-user_1"

/* The doc as the gateway renders it; checks the client shape. */
static json_t *fuzz__doc_json(const Statsync__Document *doc)
{
    json_t *j = stats_json_from_doc(doc);
    FUZZ_CHECK(j != NULL);
    json_t *probe = json_string(doc->user_id);
    size_t want = probe != NULL ? 17 : 16; /* an unprintable userId is left out */
    json_decref(probe);
    FUZZ_CHECK(json_object_size(j) == want);
    json_t *v = json_object_get(j, "version");
    FUZZ_CHECK(json_is_integer(v) && json_integer_value(v) >= 0 &&
               json_integer_value(v) <= STATS_JSON_MAX_SAFE_INT);
    FUZZ_CHECK(json_is_string(json_object_get(j, "updatedAt")));
    int64_t ms = 0;
    const json_t *ua = json_object_get(j, "updatedAt");
    FUZZ_CHECK(ss_rfc3339_parse(json_string_value(ua), json_string_length(ua), &ms) == 0 ||
               doc->updated_at_ms > 253402300799999LL); /* past 9999-12-31 is clamped */
    const json_t *lgr = json_object_get(j, "lastGameResults");
    FUZZ_CHECK(json_is_null(lgr) || json_is_object(lgr));
    FUZZ_CHECK(json_is_array(json_object_get(j, "timePerQuestion")));
    return j;
}

/* Encodes an event as the gateway sends it and decodes it back. */
static void fuzz__event(const char *name, const json_t *arg)
{
    size_t len = 0;
    char *m = sio_encode_event(name, arg, 16, &len);
    FUZZ_CHECK(m != NULL);
    static const sio_limits lim = {.max_len = 1 << 22, .max_depth = 64};
    sio_packet p;
    /* skip the headroom and the Engine.IO "4" */
    FUZZ_CHECK(sio_decode(m + 17, len - 1, &lim, &p) == SIO_OK);
    FUZZ_CHECK(strcmp(sio_event_name(&p), name) == 0);
    FUZZ_CHECK(json_equal(sio_event_arg(&p, 0), (json_t *)arg));
    sio_packet_clear(&p);
    free(m);
}

static void fuzz__stats_reply(const uint8_t *data, size_t size)
{
    Statsync__StatsReply *r = statsync__stats_reply__unpack(NULL, size, data);
    if (r == NULL)
        return;
    size_t n = 0;
    free(fuzz_check_canonical(&r->base, &n));
    json_t *body;
    if (r->status == 200) {
        json_t *doc = r->doc ? fuzz__doc_json(r->doc) : stats_json_default_doc(FUZZ_UID);
        FUZZ_CHECK(doc != NULL);
        body = json_pack("{s:b,s:O}", "success", 1, "stats", doc);
        FUZZ_CHECK(body != NULL);
        if (r->has_duplicate && r->duplicate)
            json_object_set_new(body, "duplicate", json_true());
        json_t *ack = json_pack("{s:b,s:O}", "ok", 1, "stats", doc);
        fuzz__event("ack", ack);
        json_decref(ack);
        json_decref(doc);
    } else {
        int status = r->status >= 400 && r->status <= 599 ? (int)r->status : 500;
        const char *code = r->error_code && r->error_code[0] ? r->error_code : "internal";
        const char *msg = r->error_message ? r->error_message : code;
        body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
        if (body == NULL) /* rest_req_reply_error_raw's fallback */
            body = json_pack("{s:{s:s,s:s}}", "error", "code", "internal", "message",
                             "unprintable error");
        FUZZ_CHECK(body != NULL);
        if (r->doc)
            json_object_set_new(body, "stats", fuzz__doc_json(r->doc));
        if (r->has_expected_seq) /* a seq_gap: rest_routes.c / sio_events.c */
            FUZZ_CHECK(json_object_set_new(json_object_get(body, "error"), "expectedSeq",
                                           json_integer((json_int_t)r->expected_seq)) == 0);
        (void)status;
    }
    char *text = json_dumps(body, JSON_COMPACT);
    FUZZ_CHECK(text != NULL);
    free(text);
    json_decref(body);
    statsync__stats_reply__free_unpacked(r, NULL);
}

static const char *fuzz__source(Statsync__Source src)
{
    return src == STATSYNC__SOURCE__SOURCE_REST     ? "rest"
           : src == STATSYNC__SOURCE__SOURCE_SOCKET ? "socket"
                                                    : "unknown";
}

static void fuzz__change_event(const uint8_t *data, size_t size)
{
    Statsync__ChangeEvent *ev = statsync__change_event__unpack(NULL, size, data);
    if (ev == NULL)
        return;
    size_t n = 0;
    free(fuzz_check_canonical(&ev->base, &n));
    FUZZ_CHECK(ev->doc != NULL); /* required */
    /* fanout.c drops an event whose doc is for another user than the subject's */
    if (ss_userid_valid_cstr(ev->doc->user_id)) {
        const char *uid = ev->doc->user_id;
        json_t *doc = fuzz__doc_json(ev->doc);
        FUZZ_CHECK(json_is_string(json_object_get(doc, "userId")));
        json_t *delta = ev->delta ? stats_json_from_delta(ev->delta) : json_null();
        FUZZ_CHECK(delta != NULL);
        json_t *upd = json_pack("{s:s,s:O,s:o,s:I,s:s}", "userId", uid, "stats", doc, "delta",
                                delta, "version", (json_int_t)ev->doc->version, "source",
                                fuzz__source(ev->source));
        FUZZ_CHECK(upd != NULL);
        fuzz__event("user:data:updated", doc);
        fuzz__event("user:update", upd);
        json_decref(upd);
        json_decref(doc);
    } else {
        json_decref(fuzz__doc_json(ev->doc));
    }
    statsync__change_event__free_unpacked(ev, NULL);
}

static void fuzz__health(const uint8_t *data, size_t size)
{
    Statsync__HealthReply *r = statsync__health_reply__unpack(NULL, size, data);
    if (r == NULL)
        return;
    size_t n = 0;
    free(fuzz_check_canonical(&r->base, &n));
    bool ok = !r->has_ok || r->ok;
    json_t *o = json_pack("{s:s}", "status", ok ? "OK" : "DEGRADED");
    FUZZ_CHECK(o != NULL);
    if (r->instance != NULL && r->instance[0] != '\0')
        json_object_set_new(o, "instance", json_string(r->instance));
    if (r->has_uptime_s)
        json_object_set_new(o, "uptime", json_integer(r->uptime_s));
    if (r->has_total_users)
        json_object_set_new(o, "totalUsers", json_integer((json_int_t)r->total_users));
    if (r->has_connected_clients)
        json_object_set_new(o, "connectedClients", json_integer((json_int_t)r->connected_clients));
    char *text = json_dumps(o, JSON_COMPACT);
    FUZZ_CHECK(text != NULL);
    free(text);
    json_decref(o);
    statsync__health_reply__free_unpacked(r, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz__stats_reply(data, size);
    fuzz__change_event(data, size);
    fuzz__health(data, size);
    return 0;
}

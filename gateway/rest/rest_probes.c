/* rest_probes.c — the orchestrator's probes of the gateway:
 *
 *   GET /livez   200 {"status":"ok"} while the Socket.IO service loop turns
 *                (its tick is younger than REST_LIVEZ_STALL_MS) — or while
 *                shutting down, which is bounded anyway; 503
 *                {"status":"stalled","loopAgeMs":n} when it hangs. Never
 *                depends on NATS or another service: a restart cures none
 *                of their outages.
 *   GET /readyz  200 {"status":"ok","nats":"ok","stats":"ok"} when this
 *                gateway can serve: no SIGTERM taken (else 503 "draining"),
 *                NATS connected (else 503 "unavailable"), and a
 *                stats-service answered its health probe ok (else 503
 *                "unavailable", "stats":"down"). The stats-service's outcome
 *                is the last probe's — /health's or /readyz's own — when it
 *                is at most REST_READY_CACHE_MS old; otherwise a new probe is
 *                sent, the request suspended (no thread waits) and answered
 *                within cfg.health_timeout_ms.
 *
 * Runs on an MHD thread. */
#include "rest_internal.h"

#include "ss_nats.h"
#include "ss_subjects.h"
#include "ss_time.h"

/* /livez fails when the service loop's tick (every <= 100 ms) is this old. */
#define REST_LIVEZ_STALL_MS 10000
/* /readyz reuses a stats-service probe this recent. */
#define REST_READY_CACHE_MS 1000

void rest_livez_start(rest_req *req)
{
    gateway *gw = req->rs->gw;
    int64_t tick = atomic_load(&gw->loop_tick_ms);
    int64_t age = tick > 0 ? ss_mono_ms() - tick : 0;
    if (atomic_load(&gw->stopping) || age <= REST_LIVEZ_STALL_MS)
        rest_req_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
    else
        rest_req_reply_json(req, 503, json_pack("{s:s,s:I}", "status", "stalled", "loopAgeMs",
                                                (json_int_t)age));
}

/* Answers /readyz; stats is "ok", "down" or "unknown" (not asked). */
static void probes__ready(rest_req *req, const char *status, bool nats, const char *stats)
{
    bool ok = status == NULL;
    rest_req_reply_json(req, ok ? 200 : 503,
                        json_pack("{s:s,s:s,s:s}", "status", ok ? "ok" : status, "nats",
                                  nats ? "ok" : "down", "stats", stats));
}

void rest_readyz_start(rest_req *req)
{
    gateway *gw = req->rs->gw;
    bool nats = ss_nats_connected(gw->nc);
    int64_t probe = atomic_load(&req->rs->stats_probe);
    bool fresh = probe != 0 && ss_mono_ms() - probe / 2 <= REST_READY_CACHE_MS;
    const char *stats = !fresh ? "unknown" : (probe & 1) ? "ok" : "down";
    if (atomic_load(&gw->stopping))
        probes__ready(req, "draining", nats, stats);
    else if (!nats)
        probes__ready(req, "unavailable", false, stats);
    else if (fresh)
        probes__ready(req, (probe & 1) ? NULL : "unavailable", true, stats);
    else if (rest_req_wait(req, 1))
        rest_health_send(req, 0, SS_SUBJ_HEALTH ".stats");
}

void rest_readyz_finish(rest_req *req)
{
    bool ok = false;
    const char *err = NULL;
    Statsync__HealthReply *r = rest_health_reply(&req->slots[0], &ok, &err);
    if (r != NULL)
        statsync__health_reply__free_unpacked(r, NULL);
    rest_health_note_stats(req->rs, ok);
    probes__ready(req, ok ? NULL : "unavailable", ss_nats_connected(req->rs->gw->nc),
                  ok ? "ok" : "down");
}

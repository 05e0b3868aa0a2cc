/* ctl.c — statsync-admin's NATS side (see ctl.h). */
#include "ctl.h"

#include "fmt.h"
#include "ss_subjects.h"
#include "ss_time.h"
#include "statsync.pb-c.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_BUCKET "statsync_partitions"
/* How long discovery waits once the answers cover every partition. */
#define CTL_SETTLE_MS 250
/* Longest discovery wait (when some partition has no owner). */
#define CTL_DISCOVER_MAX_MS 2000

struct admin_ctl {
    natsConnection *nc;
    int64_t timeout_ms;
    jsCtx *js;
    kvStore *kv;
    char kv_why[400]; /* set when the bucket could not be bound: not tried again */
    pthread_mutex_t mu;
    char async_error[300]; /* the server's last complaint (a permissions violation) */
};

/* cnats' error handler (a cnats thread): keep the server's text for messages. */
static void ctl__on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *arg)
{
    (void)nc;
    (void)sub;
    admin_ctl *c = arg;
    const char *detail = nats_GetLastError(NULL);
    pthread_mutex_lock(&c->mu);
    snprintf(c->async_error, sizeof(c->async_error), "%s", detail && *detail ? detail
                                                           : natsStatus_GetText(err));
    pthread_mutex_unlock(&c->mu);
}

/* " (nats-server: …)" when the server complained, else "". */
static void ctl__server_said(admin_ctl *c, char *buf, size_t cap)
{
    pthread_mutex_lock(&c->mu);
    if (c->async_error[0])
        admin_fmt(buf, cap, " (nats-server: %s)", c->async_error);
    else
        buf[0] = '\0';
    pthread_mutex_unlock(&c->mu);
}

ss_err admin_ctl_open(admin_ctl **out, const char *url, const ss_nats_auth *auth,
                      int64_t timeout_ms, char *why, size_t cap)
{
    *out = NULL;
    admin_ctl *c = calloc(1, sizeof(*c));
    natsOptions *o = NULL;
    if (c == NULL)
        return SS_ERR_INTERNAL;
    pthread_mutex_init(&c->mu, NULL);
    c->timeout_ms = timeout_ms;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, url);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, "statsync-admin");
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, timeout_ms < 5000 ? timeout_ms : 5000);
    if (s == NATS_OK) /* ride out a short outage in the middle of a move */
        s = natsOptions_SetMaxReconnect(o, 120);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 250);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(o, ctl__on_error, c);
    if (s == NATS_OK)
        s = ss_nats_auth_apply(auth, o, url, "statsync-admin");
    if (s == NATS_OK)
        s = natsConnection_Connect(&c->nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        const char *detail = nats_GetLastError(NULL);
        admin_fmt(why, cap, "cannot connect to NATS at %s as %s: %s%s%s", url,
                 ss_nats_auth_who(auth)[0] ? ss_nats_auth_who(auth) : "no user",
                 natsStatus_GetText(s), detail && *detail ? ": " : "", detail ? detail : "");
        admin_ctl_close(c);
        return SS_ERR_UNAVAILABLE;
    }
    *out = c;
    return SS_OK;
}

void admin_ctl_close(admin_ctl *c)
{
    if (c == NULL)
        return;
    kvStore_Destroy(c->kv);
    jsCtx_Destroy(c->js);
    if (c->nc != NULL) {
        natsConnection_Close(c->nc);
        natsConnection_Destroy(c->nc);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void ctl__fill(admin_instance *out, const Statsync__PartitionCommandReply *r,
                      const char *asked)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", r->instance ? r->instance : asked);
    snprintf(out->data_dir, sizeof(out->data_dir), "%s", r->data_dir ? r->data_dir : "");
    out->partition_count = r->has_partition_count && r->partition_count <= SS_PARTITION_COUNT_MAX
                               ? r->partition_count
                               : 0;
    out->parts.count = out->partition_count;
    for (size_t i = 0; i < r->n_partitions; i++)
        ss_partition_set_add(&out->parts, r->partitions[i]);
}

ss_err admin_ctl_command(admin_ctl *c, const char *instance, admin_action action,
                         int64_t partition, admin_instance *out, char *why, size_t cap)
{
    static const char *const names[] = {"STATUS", "RELEASE", "ACQUIRE"};
    char subject[SS_SUBJECT_MAX], said[340];
    if (!ss_subject_user(subject, sizeof(subject), SS_SUBJ_CTL_STATS, instance)) {
        admin_fmt(why, cap, "'%s' cannot be an instance name (STATSYNC_INSTANCE_ID)", instance);
        return SS_ERR_INVALID_VALUE;
    }
    Statsync__PartitionCommand cmd = STATSYNC__PARTITION_COMMAND__INIT;
    cmd.action = (Statsync__PartitionCommand__Action)action;
    cmd.has_partition = partition >= 0;
    cmd.partition = partition >= 0 ? (uint32_t)partition : 0;
    uint8_t buf[32];
    size_t len = statsync__partition_command__pack(&cmd, buf);
    natsMsg *msg = NULL;
    natsStatus s = natsConnection_Request(&msg, c->nc, subject, buf, (int)len, c->timeout_ms);
    if (s != NATS_OK) {
        ctl__server_said(c, said, sizeof(said));
        if (s == NATS_NO_RESPONDERS)
            admin_fmt(why, cap, "no instance named '%s' runs (nobody subscribes %s)", instance,
                     subject);
        else if (s == NATS_TIMEOUT)
            admin_fmt(why, cap, "%s to '%s': no answer within %lld ms%s", names[action], instance,
                     (long long)c->timeout_ms, said);
        else
            admin_fmt(why, cap, "%s to '%s': %s%s", names[action], instance, natsStatus_GetText(s),
                     said);
        return s == NATS_NO_RESPONDERS ? SS_ERR_NOT_FOUND
               : s == NATS_TIMEOUT     ? SS_ERR_TIMEOUT
                                       : SS_ERR_UNAVAILABLE;
    }
    Statsync__PartitionCommandReply *r = statsync__partition_command_reply__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    if (r == NULL) {
        admin_fmt(why, cap, "'%s' answered something that is not a PartitionCommandReply",
                 instance);
        return SS_ERR_INTERNAL;
    }
    ctl__fill(out, r, instance);
    ss_err e = SS_OK;
    if (r->status != 200) {
        e = r->error_code && r->error_code[0] ? ss_err_from_code(r->error_code)
                                              : ss_err_from_status((int)r->status);
        admin_fmt(why, cap, "%s refused by '%s': %s (%s)", names[action], instance,
                 r->error_message && r->error_message[0] ? r->error_message : "no reason given",
                 r->error_code ? r->error_code : "error");
    }
    statsync__partition_command_reply__free_unpacked(r, NULL);
    return e;
}

/* Adds a health reply's instance to names (once); folds its partitions into
 * covered. */
static void ctl__heard(const Statsync__HealthReply *h, char (*names)[ADMIN_NAME_MAX], size_t cap,
                       size_t *n, ss_partition_set *covered)
{
    if (h->service == NULL || strcmp(h->service, "stats") != 0 || h->instance == NULL)
        return;
    if (covered->count == 0 && h->has_partition_count &&
        h->partition_count <= SS_PARTITION_COUNT_MAX)
        covered->count = h->partition_count;
    for (size_t i = 0; i < h->n_partitions; i++)
        ss_partition_set_add(covered, h->partitions[i]);
    for (size_t i = 0; i < *n; i++)
        if (strcmp(names[i], h->instance) == 0)
            return;
    if (*n < cap)
        snprintf(names[(*n)++], ADMIN_NAME_MAX, "%s", h->instance);
}

size_t admin_ctl_discover(admin_ctl *c, char (*names)[ADMIN_NAME_MAX], size_t cap)
{
    size_t n = 0;
    natsInbox *inbox = NULL;
    natsSubscription *sub = NULL;
    if (natsInbox_Create(&inbox) != NATS_OK)
        return 0;
    Statsync__HealthRequest req = STATSYNC__HEALTH_REQUEST__INIT;
    uint8_t buf[8];
    size_t len = statsync__health_request__pack(&req, buf);
    if (natsConnection_SubscribeSync(&sub, c->nc, inbox) == NATS_OK &&
        natsConnection_PublishRequest(c->nc, SS_SUBJ_HEALTH ".stats", inbox, buf, (int)len) ==
            NATS_OK) {
        ss_partition_set covered;
        memset(&covered, 0, sizeof(covered));
        int64_t wait = c->timeout_ms < CTL_DISCOVER_MAX_MS ? c->timeout_ms : CTL_DISCOVER_MAX_MS;
        int64_t deadline = ss_mono_ms() + wait;
        for (int64_t left = wait; left > 0; left = deadline - ss_mono_ms()) {
            natsMsg *m = NULL;
            if (natsSubscription_NextMsg(&m, sub, left) != NATS_OK)
                break;
            Statsync__HealthReply *h = statsync__health_reply__unpack(
                NULL, (size_t)natsMsg_GetDataLength(m), (const uint8_t *)natsMsg_GetData(m));
            natsMsg_Destroy(m);
            if (h == NULL)
                continue;
            ctl__heard(h, names, cap, &n, &covered);
            statsync__health_reply__free_unpacked(h, NULL);
            if (covered.count > 0 && ss_partition_set_size(&covered) == covered.count &&
                deadline > ss_mono_ms() + CTL_SETTLE_MS)
                deadline = ss_mono_ms() + CTL_SETTLE_MS;
        }
    }
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    return n;
}

ss_err admin_ctl_lease(admin_ctl *c, uint32_t p, char *owner, size_t cap, char *why,
                       size_t why_cap)
{
    char said[340];
    owner[0] = '\0';
    if (c->kv == NULL && c->kv_why[0] == '\0') {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = c->timeout_ms;
        natsStatus s = natsConnection_JetStream(&c->js, c->nc, &jo);
        if (s == NATS_OK)
            s = js_KeyValue(&c->kv, c->js, CTL_BUCKET);
        if (s != NATS_OK) {
            ctl__server_said(c, said, sizeof(said));
            admin_fmt(c->kv_why, sizeof(c->kv_why),
                     "the lease bucket %s cannot be read: %s%s (reading it needs JetStream and "
                     "read rights on the bucket: stats-service/README.md)",
                     CTL_BUCKET, natsStatus_GetText(s), said);
        }
    }
    if (c->kv == NULL) {
        admin_fmt(why, why_cap, "%s", c->kv_why);
        return SS_ERR_UNAVAILABLE;
    }
    char key[32];
    snprintf(key, sizeof(key), "p.%u", p);
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, c->kv, key);
    if (s == NATS_NOT_FOUND)
        return SS_OK;
    if (s != NATS_OK) {
        ctl__server_said(c, said, sizeof(said));
        admin_fmt(why, why_cap, "lease %s: %s%s", key, natsStatus_GetText(s), said);
        return SS_ERR_UNAVAILABLE;
    }
    snprintf(owner, cap, "%.*s", kvEntry_ValueLen(e), (const char *)kvEntry_Value(e));
    kvEntry_Destroy(e);
    return SS_OK;
}

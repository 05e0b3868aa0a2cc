/* test_presence_registry.c — presence-service/registry.c: join, leave, ping,
 * gateway expiry, socket expiry, snapshot replace, bounds, change events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "registry.h"

#include <stdio.h>
#include <string.h>

typedef struct changes {
    int n;
    char user[64][16];
    uint32_t devices[64];
} changes;

static void on_change(void *arg, const char *user, uint32_t devices, const char *gw,
                      const char *sock)
{
    (void)gw;
    (void)sock;
    changes *c = arg;
    if (c->n < 64) {
        snprintf(c->user[c->n], sizeof(c->user[0]), "%s", user);
        c->devices[c->n] = devices;
    }
    c->n++;
}

static registry *mk(changes *c, size_t max_sockets)
{
    registry_config cfg = {max_sockets, 4, 1000, 3000, on_change, c};
    registry *r = NULL;
    assert_int_equal(registry_create(&r, &cfg), 0);
    return r;
}

static void join_leave_counts(void **state)
{
    (void)state;
    changes c = {0};
    registry *r = mk(&c, 100);
    assert_int_equal(registry_join(r, "g1", "s1", "alice", 0), REGISTRY_OK);
    assert_int_equal(registry_join(r, "g1", "s2", "alice", 0), REGISTRY_OK);
    assert_int_equal(registry_join(r, "g2", "s1", "alice", 0), REGISTRY_OK); /* same id, other gw */
    assert_int_equal(registry_join(r, "g2", "s3", "bob", 0), REGISTRY_OK);
    assert_int_equal(registry_join(r, "g2", "s3", "bob", 0), REGISTRY_SAME);
    registry_counts k = registry_get_counts(r);
    assert_int_equal(k.sockets, 4);
    assert_int_equal(k.users, 2);
    assert_int_equal(k.gateways, 2);
    assert_int_equal(registry_devices(r, "alice"), 3);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.user[2], "alice");
    assert_int_equal(c.devices[2], 3);
    assert_int_equal(registry_leave(r, "g1", "s1", 0), REGISTRY_OK);
    assert_int_equal(registry_leave(r, "g1", "s1", 0), REGISTRY_SAME);
    assert_int_equal(registry_devices(r, "alice"), 2);
    assert_int_equal(registry_leave(r, "g2", "s3", 0), REGISTRY_OK);
    assert_int_equal(c.devices[c.n - 1], 0); /* bob offline */
    k = registry_get_counts(r);
    assert_int_equal(k.sockets, 2);
    assert_int_equal(k.users, 1);
    assert_int_equal(registry_join(r, "", "s", "u", 0), REGISTRY_INVALID);
    registry_destroy(r);
}

static void ping_registers_and_counts(void **state)
{
    (void)state;
    changes c = {0};
    registry *r = mk(&c, 100);
    uint32_t d = 0;
    assert_int_equal(registry_ping(r, "g1", "s1", "alice", 0, &d), REGISTRY_OK);
    assert_int_equal(d, 1);
    assert_int_equal(registry_join(r, "g2", "s9", "alice", 0), REGISTRY_OK);
    assert_int_equal(registry_ping(r, "g1", "s1", "alice", 10, &d), REGISTRY_SAME);
    assert_int_equal(d, 2);
    registry_destroy(r);
}

static void gateway_expiry(void **state)
{
    (void)state;
    changes c = {0};
    registry *r = mk(&c, 100);
    assert_int_equal(registry_heartbeat(r, "g1", 0, NULL, 200, 0), 0);
    assert_int_equal(registry_heartbeat(r, "g2", 0, NULL, 200, 0), 0);
    registry_join(r, "g1", "a", "alice", 0);
    registry_join(r, "g1", "b", "bob", 0);
    registry_join(r, "g2", "c", "alice", 0);
    size_t gws = 9, socks = 9;
    /* g2 keeps beating; g1 goes silent after t=0 */
    for (int64_t t = 0; t <= 380; t += 20) {
        if (t % 200 == 0)
            assert_int_equal(registry_heartbeat(r, "g2", 1, NULL, 200, t), 0);
        registry_expire(r, t, &gws, &socks);
        assert_int_equal(gws, 0);
    }
    registry_expire(r, 381, &gws, &socks); /* > 1.9 intervals after the last message */
    assert_int_equal(gws, 1);
    assert_int_equal(socks, 2);
    registry_counts k = registry_get_counts(r);
    assert_int_equal(k.sockets, 1);
    assert_int_equal(k.users, 1);
    assert_int_equal(k.gateways, 1);
    assert_int_equal(registry_devices(r, "alice"), 1);
    assert_int_equal(registry_devices(r, "bob"), 0);
    registry_destroy(r);
}

static void socket_ttl(void **state)
{
    (void)state;
    changes c = {0};
    registry *r = mk(&c, 100); /* ttl 3000, interval 1000 */
    registry_join(r, "g1", "a", "alice", 0);
    registry_join(r, "g1", "b", "bob", 0);
    size_t gws, socks;
    /* heartbeats agree (2 sockets): they vouch for both, no socket expires */
    for (int64_t t = 1000; t <= 6000; t += 1000) {
        assert_int_equal(registry_heartbeat(r, "g1", 2, NULL, 1000, t), 0);
        registry_expire(r, t, &gws, &socks);
        assert_int_equal(socks, 0);
    }
    /* the gateway now says 1: no longer vouching; resync asked; only pings keep a socket */
    for (int64_t t = 7000; t <= 10000; t += 1000) {
        assert_int_equal(registry_heartbeat(r, "g1", 1, NULL, 1000, t), 1);
        uint32_t d;
        registry_ping(r, "g1", "a", "alice", t, &d);
        registry_expire(r, t, &gws, &socks);
    }
    assert_int_equal(registry_devices(r, "alice"), 1);
    assert_int_equal(registry_devices(r, "bob"), 0);
    assert_int_equal(registry_heartbeat(r, "g1", 1, NULL, 1000, 10001), 0);
    registry_destroy(r);
}

static void snapshot_replaces(void **state)
{
    (void)state;
    changes c = {0};
    registry *r = mk(&c, 100);
    registry_join(r, "g1", "a", "alice", 0);
    registry_join(r, "g1", "zombie", "zed", 0); /* its leave was lost */
    registry_join(r, "g2", "x", "alice", 0);
    registry_sock_ref p0[] = {{"a", "alice"}, {"b", "bob"}};
    registry_sock_ref p1[] = {{"c", "alice"}};
    assert_int_equal(registry_snapshot(r, "g1", 7, 0, 0, p0, 2, 1000, 5), REGISTRY_OK);
    assert_int_equal(registry_devices(r, "zed"), 1); /* not before the last part */
    assert_int_equal(registry_snapshot(r, "g1", 7, 1, 1, p1, 1, 1000, 6), REGISTRY_OK);
    assert_int_equal(registry_devices(r, "zed"), 0);
    assert_int_equal(registry_devices(r, "alice"), 3); /* a, c on g1 + x on g2 */
    assert_int_equal(registry_devices(r, "bob"), 1);
    assert_int_equal(registry_gateway_sockets(r, "g1"), 3);
    assert_int_equal(registry_gateway_sockets(r, "g2"), 1);
    /* a part out of order is refused; an empty snapshot empties the gateway */
    assert_int_equal(registry_snapshot(r, "g1", 8, 1, 1, NULL, 0, 1000, 7), REGISTRY_INVALID);
    assert_int_equal(registry_gateway_sockets(r, "g1"), 3);
    assert_int_equal(registry_snapshot(r, "g1", 9, 0, 1, NULL, 0, 1000, 8), REGISTRY_OK);
    assert_int_equal(registry_gateway_sockets(r, "g1"), 0);
    assert_int_equal(registry_devices(r, "alice"), 1);
    registry_destroy(r);
}

static void bounded(void **state)
{
    (void)state;
    changes c = {0};
    registry *r = mk(&c, 3);
    char id[8];
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "s%d", i);
        assert_int_equal(registry_join(r, "g1", id, "u", 0), REGISTRY_OK);
    }
    assert_int_equal(registry_join(r, "g1", "s9", "u", 0), REGISTRY_FULL);
    assert_int_equal(registry_get_counts(r).sockets, 3);
    /* gateways bounded too (max 4) */
    assert_int_equal(registry_heartbeat(r, "g2", 0, NULL, 100, 0), 0);
    assert_int_equal(registry_heartbeat(r, "g3", 0, NULL, 100, 0), 0);
    assert_int_equal(registry_heartbeat(r, "g4", 0, NULL, 100, 0), 0);
    assert_int_equal(registry_heartbeat(r, "g5", 0, NULL, 100, 0), -1);
    registry_destroy(r);
}

static void grace_after_own_outage(void **state)
{
    (void)state;
    changes c = {0};
    registry *r = mk(&c, 100);
    registry_heartbeat(r, "g1", 0, NULL, 100, 0);
    registry_join(r, "g1", "a", "alice", 0);
    registry_grace(r, 1000);
    size_t gws, socks;
    registry_expire(r, 1100, &gws, &socks);
    assert_int_equal(gws, 0);
    assert_int_equal(registry_devices(r, "alice"), 1);
    registry_expire(r, 1191, &gws, &socks);
    assert_int_equal(gws, 1);
    registry_destroy(r);
}

static void many_sockets(void **state)
{
    (void)state;
    registry_config cfg = {100000, 4, 1000, 0, NULL, NULL};
    registry *r = NULL;
    assert_int_equal(registry_create(&r, &cfg), 0);
    char s[16], u[16];
    for (int i = 0; i < 20000; i++) {
        snprintf(s, sizeof(s), "s%d", i);
        snprintf(u, sizeof(u), "u%d", i % 700);
        assert_int_equal(registry_join(r, i % 2 ? "g1" : "g2", s, u, 0), REGISTRY_OK);
    }
    registry_counts k = registry_get_counts(r);
    assert_int_equal(k.sockets, 20000);
    assert_int_equal(k.users, 700);
    for (int i = 0; i < 20000; i += 2) {
        snprintf(s, sizeof(s), "s%d", i);
        assert_int_equal(registry_leave(r, "g2", s, 0), REGISTRY_OK);
    }
    assert_int_equal(registry_get_counts(r).sockets, 10000);
    registry_destroy(r);
}

#include "ss_presence_digest.h"

static void heartbeat_digest_and_synced(void **state)
{
    (void)state;
    changes c = {0};
    registry *r = mk(&c, 100);
    registry_join(r, "g1", "a", "alice", 0);
    assert_int_equal(registry_unsynced(r), 1); /* heard of, never matched */
    registry_join(r, "g1", "b", "bob", 0);
    uint64_t d = ss_presence_digest_socket("a", "alice") + ss_presence_digest_socket("b", "bob");
    assert_true(registry_gateway_digest(r, "g1") == d);
    assert_int_equal(registry_heartbeat(r, "g1", 2, &d, 1000, 10), 0);
    assert_int_equal(registry_unsynced(r), 0);
    /* same count, other sockets: the digest tells */
    uint64_t other = ss_presence_digest_socket("a", "alice") + ss_presence_digest_socket("z", "zed");
    assert_int_equal(registry_heartbeat(r, "g1", 2, &other, 1000, 20), 1);
    assert_int_equal(registry_unsynced(r), 1);
    registry_sock_ref snap[] = {{"a", "alice"}, {"z", "zed"}};
    assert_int_equal(registry_snapshot(r, "g1", 1, 0, 1, snap, 2, 1000, 30), REGISTRY_OK);
    assert_int_equal(registry_unsynced(r), 0);
    assert_true(registry_gateway_digest(r, "g1") == other);
    assert_int_equal(registry_heartbeat(r, "g1", 2, &other, 1000, 40), 0);
    /* a leave takes its hash out again */
    registry_leave(r, "g1", "z", 50);
    assert_true(registry_gateway_digest(r, "g1") == ss_presence_digest_socket("a", "alice"));
    registry_destroy(r);
}

static void reapply_changes_nothing(void **state)
{
    (void)state;
    changes c = {0};
    registry *r = mk(&c, 100);
    registry_sock_ref snap[] = {{"a", "alice"}, {"b", "alice"}};
    registry_snapshot(r, "g1", 1, 0, 1, snap, 2, 1000, 0);
    int n = c.n;
    /* the same snapshot again (another instance asked, or we restarted): no event */
    assert_int_equal(registry_snapshot(r, "g1", 2, 0, 1, snap, 2, 1000, 10), REGISTRY_OK);
    assert_int_equal(c.n, n);
    registry_destroy(r);
}

static void count_users(void *arg, const char *user, uint32_t devices)
{
    (void)user;
    (void)devices;
    (*(int *)arg)++;
}

static void each_user_since(void **state)
{
    (void)state;
    changes c = {0};
    registry *r = mk(&c, 100);
    registry_join(r, "g1", "a", "alice", 100);
    registry_join(r, "g1", "b", "bob", 200);
    registry_join(r, "g1", "c", "carol", 300);
    registry_leave(r, "g1", "c", 400); /* carol offline: not a user any more */
    int n = 0;
    assert_int_equal(registry_each_user(r, INT64_MIN, count_users, &n), 2);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(registry_each_user(r, 150, count_users, &n), 1); /* bob only */
    registry_join(r, "g2", "x", "alice", 500);
    n = 0;
    assert_int_equal(registry_each_user(r, 450, count_users, &n), 1); /* alice changed again */
    registry_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(join_leave_counts),    cmocka_unit_test(ping_registers_and_counts),
        cmocka_unit_test(gateway_expiry),       cmocka_unit_test(socket_ttl),
        cmocka_unit_test(snapshot_replaces),    cmocka_unit_test(bounded),
        cmocka_unit_test(grace_after_own_outage), cmocka_unit_test(many_sockets),
        cmocka_unit_test(heartbeat_digest_and_synced), cmocka_unit_test(reapply_changes_nothing),
        cmocka_unit_test(each_user_since),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

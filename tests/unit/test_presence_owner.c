/* test_presence_owner.c — the pure parts that let several presence-service
 * instances share the work: the membership digest (common/
 * ss_presence_digest.c), rendezvous ownership (presence-service/owner.c)
 * and the live set of instances (presence-service/peers.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "owner.h"
#include "peers.h"
#include "ss_presence_digest.h"

#include <stdio.h>
#include <string.h>

/* ---- digest ---------------------------------------------------------------------- */

static void digest_is_a_set_sum(void **state)
{
    (void)state;
    uint64_t a = ss_presence_digest_socket("s1", "alice");
    uint64_t b = ss_presence_digest_socket("s2", "alice");
    uint64_t c = ss_presence_digest_socket("s1", "bob");
    assert_true(a != b && a != c && b != c);
    /* any order, and a leave undoes its join */
    assert_true(a + b + c == c + a + b);
    uint64_t d = a + b + c;
    d -= b;
    assert_true(d == a + c);
    /* the NUL between the parts: "s1"+"alice" is not "s1a"+"lice" */
    assert_true(ss_presence_digest_socket("s1a", "lice") != a);
    /* a socket counted twice does not cancel out (a sum, not an XOR) */
    assert_true(a + a != 0);
    /* stable: the gateway and every instance compute the same value */
    assert_true(ss_presence_digest_socket("s1", "alice") == a);
}

/* ---- rendezvous ------------------------------------------------------------------- */

static void owner_is_deterministic_and_balanced(void **state)
{
    (void)state;
    const char *ids[] = {"presence-a", "presence-b", "presence-c"};
    int per[3] = {0};
    char user[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(user, sizeof(user), "user%d", i);
        int o = owner_pick(ids, 3, user);
        assert_true(o >= 0 && o < 3);
        /* the same answer whatever the order of the set */
        const char *rev[] = {ids[2], ids[1], ids[0]};
        assert_string_equal(rev[owner_pick(rev, 3, user)], ids[o]);
        for (int j = 0; j < 3; j++)
            if (j != o)
                assert_true(owner_beats(ids[o], ids[j], user));
        per[o]++;
    }
    for (int j = 0; j < 3; j++)
        assert_true(per[j] > 800 && per[j] < 1200); /* about a third each */
    assert_int_equal(owner_pick(ids, 0, "u"), -1);
}

static void owner_removal_moves_only_its_users(void **state)
{
    (void)state;
    const char *all[] = {"p1", "p2", "p3"};
    const char *without2[] = {"p1", "p3"};
    char user[32];
    int moved = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        const char *before = all[owner_pick(all, 3, user)];
        const char *after = without2[owner_pick(without2, 2, user)];
        if (strcmp(before, "p2") != 0)
            assert_string_equal(before, after); /* nobody else's users move */
        else
            moved++;
    }
    assert_true(moved > 0);
}

/* ---- peers ------------------------------------------------------------------------ */

static peers_rc seen(peers *p, const char *id, uint64_t inc, bool ready, int64_t now,
                     int64_t *last_ready)
{
    const peers_word w = {id, inc, ready, 100, 2};
    return peers_seen(p, &w, now, last_ready);
}

static void peers_join_leave_expire(void **state)
{
    (void)state;
    peers *p = NULL;
    assert_int_equal(peers_create(&p, "me", 7), 0);
    assert_string_equal(peers_self(p), "me");
    assert_false(peers_owns(p, "alice")); /* not ready: owns nobody */
    peers_set_ready(p, true);
    assert_true(peers_owns(p, "alice")); /* alone: owns everybody */

    int64_t lr = -1;
    assert_int_equal(seen(p, "other", 1, false, 0, &lr), PEERS_SAME); /* known, not in the set */
    assert_int_equal(peers_count(p), 1);
    assert_int_equal(peers_ready_count(p), 0);
    assert_int_equal(seen(p, "other", 1, true, 50, &lr), PEERS_JOINED);
    assert_int_equal(seen(p, "other", 1, true, 100, &lr), PEERS_SAME);
    assert_int_equal(peers_ready_count(p), 1);
    assert_int_equal(peers_most_gateways(p), 2);
    /* the set is {me, other}: exactly one of us owns each user */
    char user[16];
    for (int i = 0; i < 50; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        assert_true(peers_owns(p, user) == owner_beats("me", "other", user));
    }
    /* not ready any more: left, with its last ready word */
    assert_int_equal(seen(p, "other", 1, false, 150, &lr), PEERS_LEFT);
    assert_int_equal(lr, 100);
    assert_true(peers_owns(p, "u1") && peers_owns(p, "u2"));
    /* own echo is nothing; another incarnation of our id is a clash */
    assert_int_equal(seen(p, "me", 7, true, 150, NULL), PEERS_SAME);
    assert_int_equal(seen(p, "me", 8, true, 150, NULL), PEERS_CLASH);
    assert_int_equal(seen(p, "", 1, true, 150, NULL), PEERS_INVALID);
    peers_destroy(p);
}

typedef struct gone_log {
    int n;
    char id[8][16];
    int64_t last_ready[8];
} gone_log;

static void on_gone(void *arg, const char *id, int64_t last_ready)
{
    gone_log *g = arg;
    snprintf(g->id[g->n], sizeof(g->id[0]), "%s", id);
    g->last_ready[g->n++] = last_ready;
}

static void peers_expiry_and_takeover(void **state)
{
    (void)state;
    peers *p = NULL;
    assert_int_equal(peers_create(&p, "me", 1), 0);
    peers_set_ready(p, true);
    seen(p, "dead", 5, true, 0, NULL);
    seen(p, "idle", 6, false, 0, NULL);
    gone_log g = {0};
    /* gone after PEERS_EXPIRY of its 100 ms intervals without a word */
    assert_int_equal(peers_expire(p, PEERS_EXPIRY * 100, on_gone, &g), 0);
    assert_int_equal(peers_expire(p, PEERS_EXPIRY * 100 + 1, on_gone, &g), 2);
    assert_int_equal(g.n, 1); /* only the one that was in the owner set is reported */
    assert_string_equal(g.id[0], "dead");
    assert_int_equal(g.last_ready[0], 0);
    assert_int_equal(peers_count(p), 0);
    /* took_over: ours now, and "dead" ranked above us */
    char user[16];
    int taken = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        bool t = peers_took_over(p, "dead", user);
        assert_true(t == owner_beats("dead", "me", user));
        taken += t;
    }
    assert_true(taken > 50 && taken < 150);
    peers_destroy(p);
}

static void peers_restart_leaves_the_set(void **state)
{
    (void)state;
    peers *p = NULL;
    assert_int_equal(peers_create(&p, "me", 1), 0);
    int64_t lr = -1;
    assert_int_equal(seen(p, "x", 1, true, 10, &lr), PEERS_JOINED);
    /* a new incarnation saying "ready" (we missed its not-ready word): out
     * until its next word, so its gap is republished */
    assert_int_equal(seen(p, "x", 2, true, 20, &lr), PEERS_LEFT);
    assert_int_equal(lr, 10);
    assert_int_equal(seen(p, "x", 2, true, 30, &lr), PEERS_JOINED);
    peers_destroy(p);
}

static void peers_bounded(void **state)
{
    (void)state;
    peers *p = NULL;
    assert_int_equal(peers_create(&p, "me", 1), 0);
    char id[16];
    for (int i = 0; i < PEERS_MAX; i++) {
        snprintf(id, sizeof(id), "p%d", i);
        assert_int_equal(seen(p, id, 1, true, 0, NULL), PEERS_JOINED);
    }
    assert_int_equal(seen(p, "one-more", 1, true, 0, NULL), PEERS_FULL);
    assert_int_equal(peers_ready_count(p), PEERS_MAX);
    peers_destroy(p);
}

static void sync_done_rules(void **state)
{
    (void)state;
    /* settle 100, cap 400 */
    assert_false(peers_sync_done(50, 100, 400, 0, 2, 0));  /* too early */
    assert_true(peers_sync_done(100, 100, 400, 0, 2, 0));
    assert_false(peers_sync_done(200, 100, 400, 1, 2, 0)); /* a gateway not synced */
    assert_false(peers_sync_done(200, 100, 400, 0, 1, 2)); /* a ready peer knows more */
    assert_true(peers_sync_done(200, 100, 400, 0, 2, 2));
    assert_true(peers_sync_done(400, 100, 400, 3, 0, 9)); /* the cap */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digest_is_a_set_sum),
        cmocka_unit_test(owner_is_deterministic_and_balanced),
        cmocka_unit_test(owner_removal_moves_only_its_users),
        cmocka_unit_test(peers_join_leave_expire),
        cmocka_unit_test(peers_expiry_and_takeover),
        cmocka_unit_test(peers_restart_leaves_the_set),
        cmocka_unit_test(peers_bounded),
        cmocka_unit_test(sync_done_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

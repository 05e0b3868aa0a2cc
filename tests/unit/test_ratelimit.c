/* test_ratelimit.c — token buckets, their bounded table, socket counts, IP
 * keys and exemptions (gateway/ratelimit.c), and the JSON element bound
 * (gateway/json_bounds.c). Time is injected: every call gets now_ms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "json_bounds.h"
#include "log_redact.h"
#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_burst_then_refill(void **state)
{
    (void)state;
    rl_table *t;
    assert_int_equal(rl_table_create(&t, 2.0 /* per s */, 5.0, 100), 0);
    int64_t now = 1000000;
    for (int i = 0; i < 5; i++) /* the whole burst at one instant */
        assert_int_equal(rl_table_take(t, "alice", now), 0);
    /* empty: one token takes 500 ms at 2/s */
    assert_int_equal(rl_table_take(t, "alice", now), 500);
    /* a refusal takes nothing: still 500 ms */
    assert_int_equal(rl_table_take(t, "alice", now), 500);
    assert_int_equal(rl_table_take(t, "alice", now + 200), 300);
    assert_int_equal(rl_table_take(t, "alice", now + 500), 0);  /* refilled one */
    assert_int_equal(rl_table_take(t, "alice", now + 500), 500);
    /* other keys have buckets of their own */
    assert_int_equal(rl_table_take(t, "bob", now + 500), 0);
    /* refill never goes past the burst */
    int64_t later = now + 3600 * 1000;
    for (int i = 0; i < 5; i++)
        assert_int_equal(rl_table_take(t, "alice", later), 0);
    assert_true(rl_table_take(t, "alice", later) > 0);
    /* a clock that goes backwards takes nothing away and adds nothing */
    assert_true(rl_table_take(t, "alice", later - 10000) > 0);
    rl_table_destroy(t);
}

static void test_fractional_rate(void **state)
{
    (void)state;
    rl_table *t;
    assert_int_equal(rl_table_create(&t, 0.5 /* one per 2 s */, 1.0, 10), 0);
    assert_int_equal(rl_table_take(t, "k", 0), 0);
    assert_int_equal(rl_table_take(t, "k", 0), 2000);
    assert_int_equal(rl_table_take(t, "k", 1999), 1);
    assert_int_equal(rl_table_take(t, "k", 2000), 0);
    rl_table_destroy(t);
}

static void test_unlimited(void **state)
{
    (void)state;
    rl_table *t;
    assert_int_equal(rl_table_create(&t, 0, 0, 10), 0);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(rl_table_take(t, "k", 0), 0);
    assert_int_equal(rl_table_count(t), 0);
    rl_table_destroy(t);
    assert_int_equal(rl_table_take(NULL, "k", 0), 0);
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(rl_retry_after_s(0), 1);
    assert_int_equal(rl_retry_after_s(1), 1);
    assert_int_equal(rl_retry_after_s(999), 1);
    assert_int_equal(rl_retry_after_s(1000), 1);
    assert_int_equal(rl_retry_after_s(1001), 2);
    assert_int_equal(rl_retry_after_s(59500), 60);
}

/* The table never holds more than max_keys; idle buckets leave by themselves. */
static void test_table_bound(void **state)
{
    (void)state;
    rl_table *t;
    assert_int_equal(rl_table_create(&t, 1.0, 2.0, 100), 0); /* full again after 2 s idle */
    char key[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "user%d", i);
        assert_int_equal(rl_table_take(t, key, 0), 0);
        assert_true(rl_table_count(t) <= 100);
    }
    assert_int_equal(rl_table_count(t), 100);
    /* the most recent keys are the ones kept (LRU): user99999 is still drained */
    assert_int_equal(rl_table_take(t, "user99999", 0), 0);
    assert_int_equal(rl_table_take(t, "user99999", 0), 1000);
    /* after the refill time every idle bucket is dropped at the next take */
    assert_int_equal(rl_table_take(t, "fresh", 2000), 0);
    assert_int_equal(rl_table_count(t), 1);
    rl_table_destroy(t);
}

/* A key touched recently survives eviction; the least recently used goes. */
static void test_lru_order(void **state)
{
    (void)state;
    rl_table *t;
    assert_int_equal(rl_table_create(&t, 1.0, 3.0, 3), 0);
    assert_int_equal(rl_table_take(t, "a", 0), 0);
    assert_int_equal(rl_table_take(t, "b", 1), 0);
    assert_int_equal(rl_table_take(t, "c", 2), 0);
    assert_int_equal(rl_table_take(t, "a", 3), 0); /* a: 2 tokens used */
    assert_int_equal(rl_table_take(t, "d", 4), 0); /* evicts b, the LRU */
    assert_int_equal(rl_table_count(t), 3);
    assert_int_equal(rl_table_take(t, "a", 5), 0); /* a kept its bucket: third token */
    assert_true(rl_table_take(t, "a", 5) > 0);
    rl_table_destroy(t);
}

static void test_long_keys(void **state)
{
    (void)state;
    rl_table *t;
    assert_int_equal(rl_table_create(&t, 1.0, 1.0, 10), 0);
    char k1[200], k2[200];
    memset(k1, 'x', sizeof(k1) - 1);
    k1[sizeof(k1) - 1] = '\0';
    memcpy(k2, k1, sizeof(k1));
    k2[150] = 'y'; /* differs only past RL_KEY_MAX: the same bucket */
    assert_int_equal(rl_table_take(t, k1, 0), 0);
    assert_true(rl_table_take(t, k2, 0) > 0);
    rl_table_destroy(t);
}

static void test_slots(void **state)
{
    (void)state;
    rl_slots *s;
    assert_int_equal(rl_slots_create(&s, 2), 0);
    assert_true(rl_slots_acquire(s, "alice"));
    assert_true(rl_slots_acquire(s, "alice"));
    assert_false(rl_slots_acquire(s, "alice"));
    assert_true(rl_slots_acquire(s, "bob"));
    assert_int_equal(rl_slots_held(s, "alice"), 2);
    assert_int_equal(rl_slots_count(s), 2);
    rl_slots_release(s, "alice");
    assert_true(rl_slots_acquire(s, "alice"));
    rl_slots_release(s, "alice");
    rl_slots_release(s, "alice");
    rl_slots_release(s, "bob");
    assert_int_equal(rl_slots_count(s), 0); /* nobody connected: nothing held */
    rl_slots_release(s, "nobody");          /* harmless */
    /* many users: the table grows, counts stay exact */
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "u%d", i);
        assert_true(rl_slots_acquire(s, key));
    }
    assert_int_equal(rl_slots_count(s), 20000);
    assert_int_equal(rl_slots_held(s, "u12345"), 1);
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "u%d", i);
        rl_slots_release(s, key);
    }
    assert_int_equal(rl_slots_count(s), 0);
    rl_slots_destroy(s);
}

static void test_ip_key(void **state)
{
    (void)state;
    char k[RL_IP_KEY_MAX + 1];
    assert_true(rl_ip_key("203.0.113.7", k));
    assert_string_equal(k, "203.0.113.7");
    assert_true(rl_ip_key("::ffff:203.0.113.7", k));
    assert_string_equal(k, "203.0.113.7");
    assert_true(rl_ip_key("2001:db8:1:2:3:4:5:6", k));
    assert_string_equal(k, "2001:db8:1:2::/64");
    assert_true(rl_ip_key("2001:db8:1:2:ffff::1", k));
    assert_string_equal(k, "2001:db8:1:2::/64");
    assert_false(rl_ip_key("not an address", k));
}

static void test_gateway_limits(void **state)
{
    (void)state;
    ratelimit_config c = {
        .mutation_per_s = 1, .mutation_burst = 2, .rest_ip_per_s = 0, .rest_ip_burst = 0,
        .handshake_ip_per_s = 1, .handshake_ip_burst = 1, .sockets_per_user = 1,
        .max_keys = 100, .exempt = "loopback, 198.51.100.9",
    };
    ratelimit *r;
    assert_int_equal(ratelimit_create(&r, &c), 0);
    assert_true(ratelimit_exempt(r, "127.0.0.1"));
    assert_true(ratelimit_exempt(r, "127.3.2.1"));
    assert_true(ratelimit_exempt(r, "::1"));
    assert_true(ratelimit_exempt(r, "::ffff:127.0.0.1"));
    assert_true(ratelimit_exempt(r, "198.51.100.9"));
    assert_false(ratelimit_exempt(r, "198.51.100.10"));
    assert_false(ratelimit_exempt(r, "::2"));
    assert_int_equal(ratelimit_take(r, RL_MUTATION, "alice", 0), 0);
    assert_int_equal(ratelimit_take(r, RL_MUTATION, "alice", 0), 0);
    assert_int_equal(ratelimit_take(r, RL_MUTATION, "alice", 0), 1000);
    assert_int_equal(ratelimit_take(r, RL_REST_IP, "1.2.3.4", 0), 0); /* 0 = unlimited */
    assert_int_equal(ratelimit_take(r, RL_HANDSHAKE_IP, "1.2.3.4", 0), 0);
    assert_true(ratelimit_take(r, RL_HANDSHAKE_IP, "1.2.3.4", 0) > 0);
    assert_true(ratelimit_socket_acquire(r, "alice"));
    assert_false(ratelimit_socket_acquire(r, "alice"));
    ratelimit_socket_release(r, "alice");
    assert_true(ratelimit_socket_acquire(r, "alice"));
    assert_int_equal(ratelimit_sockets_per_user(r), 1);
    assert_string_equal(ratelimit_kind_name(RL_SOCKETS_USER), "sockets_per_user");
    ratelimit_destroy(r);

    c.exempt = "none";
    assert_int_equal(ratelimit_create(&r, &c), 0);
    assert_false(ratelimit_exempt(r, "127.0.0.1"));
    ratelimit_destroy(r);
    c.exempt = "loopback,not-an-ip";
    assert_int_equal(ratelimit_create(&r, &c), -1);
}

static void test_json_elements(void **state)
{
    (void)state;
#define N(s) json_bounds_elements(s, strlen(s), 1000)
    assert_int_equal(N("{}"), 0);
    assert_int_equal(N("[]"), 0);
    assert_int_equal(N("[ ]"), 0);
    assert_int_equal(N("{\"a\":1}"), 1);
    assert_int_equal(N("{\"a\":[1,2]}"), 3);
    assert_int_equal(N("[[1,2],[3]]"), 5);
    assert_int_equal(N("[\"user:clientUpdate\",{\"delta\":{\"xp\":1}}]"), 4);
    assert_int_equal(N("[\"a,b,[c]{\\\",\"]"), 1); /* commas and brackets in a string */
    assert_int_equal(N("  [ 1 , 2 ]  "), 2);
#undef N
    /* stops early */
    size_t len = 1000000;
    char *big = malloc(len);
    big[0] = '[';
    for (size_t i = 1; i < len - 1; i += 2) {
        big[i] = '0';
        big[i + 1] = ',';
    }
    big[len - 1] = '0';
    assert_int_equal(json_bounds_elements(big, len, 10000), 10001);
    free(big);
}

static void test_log_redact(void **state)
{
    (void)state;
    char a[] = "GET /socket.io/?EIO=4&token=eyJhbGciOi.eyJzdWIi.sig&transport=polling HTTP/1.1";
    log_redact(a);
    assert_string_equal(a, "GET /socket.io/?EIO=4&token=***&transport=polling HTTP/1.1");
    char b[] = "Authorization: Bearer abc.def.ghi, TOKEN=secretvalue";
    log_redact(b);
    assert_string_equal(b, "Authorization: Bearer ***, TOKEN=***");
    char c[] = "no credentials here; token= ";
    log_redact(c);
    assert_string_equal(c, "no credentials here; token= ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refill), cmocka_unit_test(test_fractional_rate),
        cmocka_unit_test(test_unlimited),         cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_table_bound),       cmocka_unit_test(test_lru_order),
        cmocka_unit_test(test_long_keys),         cmocka_unit_test(test_slots),
        cmocka_unit_test(test_ip_key),            cmocka_unit_test(test_gateway_limits),
        cmocka_unit_test(test_json_elements),     cmocka_unit_test(test_log_redact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_htab.c — common/ss_htab: FNV-1a 64 against the published test
 * vectors, and the intrusive table: find / add / del, growth that keeps
 * every entry, colliding hashes told apart by the equality callback, a walk
 * that unlinks as it goes, and a composite key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ss_htab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct item {
    int value;
    ss_hnode h; /* not first: SS_HTAB_ENTRY must undo the offset */
    char key[24];
} item;

static bool item_eq(const ss_hnode *n, const void *key)
{
    return strcmp(SS_HTAB_ENTRY(n, item, h)->key, key) == 0;
}

static uint64_t str_hash(const char *s)
{
    return ss_hash(SS_HASH_INIT, s, strlen(s));
}

static item *item_find(const ss_htab *t, const char *key)
{
    ss_hnode *n = ss_htab_find(t, str_hash(key), key);
    return n != NULL ? SS_HTAB_ENTRY(n, item, h) : NULL;
}

/* Most tests get an empty table of items with 1 bucket in *state. */
static int table_setup(void **state)
{
    static ss_htab t;
    if (ss_htab_init(&t, 1, item_eq) != 0)
        return -1;
    *state = &t;
    return 0;
}

static int table_teardown(void **state)
{
    ss_htab_free(*state);
    return 0;
}

static void test_fnv1a_64_vectors(void **state)
{
    (void)state;
    assert_true(SS_HASH_INIT == 0xcbf29ce484222325ULL);
    assert_true(ss_hash(SS_HASH_INIT, "", 0) == 0xcbf29ce484222325ULL);
    assert_true(str_hash("a") == 0xaf63dc4c8601ec8cULL);
    assert_true(str_hash("foobar") == 0x85944171f73967e8ULL);
    /* in parts: the same as in one go */
    assert_true(ss_hash(ss_hash(SS_HASH_INIT, "foo", 3), "bar", 3) == str_hash("foobar"));
}

static void test_add_find_del(void **state)
{
    ss_htab *t = *state;
    item a = {.value = 1, .key = "alice"}, b = {.value = 2, .key = "bob"};
    assert_null(item_find(t, "alice"));
    ss_htab_add(t, &a.h, str_hash(a.key));
    ss_htab_add(t, &b.h, str_hash(b.key));
    assert_int_equal(t->count, 2);
    assert_ptr_equal(item_find(t, "alice"), &a);
    assert_ptr_equal(item_find(t, "bob"), &b);
    assert_null(item_find(t, "carol"));
    assert_true(ss_htab_del(t, &a.h));
    assert_false(ss_htab_del(t, &a.h)); /* not linked any more */
    assert_int_equal(t->count, 1);
    assert_null(item_find(t, "alice"));
    assert_ptr_equal(item_find(t, "bob"), &b);
    ss_htab_free(t);
    ss_htab_free(t); /* twice is harmless (and the teardown's third) */
    assert_null(item_find(t, "bob"));
}

static void test_bucket_count_is_a_power_of_two(void **state)
{
    (void)state;
    ss_htab t;
    assert_int_equal(ss_htab_init(&t, 0, item_eq), 0);
    assert_int_equal(t.mask, 0);
    ss_htab_free(&t);
    assert_int_equal(ss_htab_init(&t, 100, item_eq), 0);
    assert_int_equal(t.mask, 127);
    ss_htab_free(&t);
}

#define MANY 5000

/* n items valued 0..n-1, keyed "<prefix><i>", linked under their key's hash,
 * or under i % spread when spread > 0 (few hashes: long chains). */
static item *items_add(ss_htab *t, int n, const char *prefix, int spread)
{
    item *items = calloc((size_t)n, sizeof(*items));
    assert_non_null(items);
    for (int i = 0; i < n; i++) {
        items[i].value = i;
        snprintf(items[i].key, sizeof(items[i].key), "%s%d", prefix, i);
        uint64_t h = spread > 0 ? (uint64_t)(i % spread) : str_hash(items[i].key);
        ss_htab_add(t, &items[i].h, h);
    }
    return items;
}

static void test_growth_keeps_every_entry(void **state)
{
    ss_htab *t = *state;
    item *items = items_add(t, MANY, "user-", 0);
    assert_int_equal(t->count, MANY);
    assert_true(t->mask + 1 >= MANY); /* grew: at most one entry per bucket on average */
    for (int i = 0; i < MANY; i++) {
        char key[24];
        snprintf(key, sizeof(key), "user-%d", i);
        item *it = item_find(t, key);
        assert_non_null(it);
        assert_int_equal(it->value, i);
    }
    free(items);
}

/* Entries with one hash: only the callback tells them apart. */
static void test_colliding_hashes(void **state)
{
    ss_htab *t = *state;
    item x = {.key = "x"}, y = {.key = "y"}, z = {.key = "z"};
    ss_htab_add(t, &x.h, 42);
    ss_htab_add(t, &y.h, 42);
    ss_htab_add(t, &z.h, 42);
    assert_ptr_equal(ss_htab_find(t, 42, "x"), &x.h);
    assert_ptr_equal(ss_htab_find(t, 42, "y"), &y.h);
    assert_ptr_equal(ss_htab_find(t, 42, "z"), &z.h);
    assert_null(ss_htab_find(t, 43, "x")); /* right key, other hash */
    assert_true(ss_htab_del(t, &y.h)); /* from the middle of the chain */
    assert_null(ss_htab_find(t, 42, "y"));
    assert_ptr_equal(ss_htab_find(t, 42, "x"), &x.h);
    assert_ptr_equal(ss_htab_find(t, 42, "z"), &z.h);
}

static void test_walk_visits_each_once_and_may_unlink(void **state)
{
    ss_htab *t = *state;
    enum { N = 300 };
    item *items = items_add(t, N, "k", 7); /* several entries per bucket */
    int seen[N] = {0};
    ss_htab_iter it;
    for (ss_hnode *n = ss_htab_first(&it, t); n != NULL; n = ss_htab_next(&it)) {
        item *e = SS_HTAB_ENTRY(n, item, h);
        seen[e->value]++;
        if (e->value % 2 == 0)
            assert_true(ss_htab_del(t, n)); /* the one just returned */
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(t->count, N / 2);
    int left = 0;
    for (ss_hnode *n = ss_htab_first(&it, t); n != NULL; n = ss_htab_next(&it)) {
        assert_int_equal(SS_HTAB_ENTRY(n, item, h)->value % 2, 1);
        left++;
    }
    assert_int_equal(left, N / 2);
    free(items);
}

static void test_walk_of_an_empty_table(void **state)
{
    ss_htab *t = *state;
    ss_htab_iter it;
    assert_null(ss_htab_first(&it, t));
    ss_htab_free(t);
    assert_null(ss_htab_first(&it, t)); /* freed: nothing either */
}

/* A key made of two strings, hashed in parts with a separator. */
typedef struct pair_item {
    ss_hnode h;
    const char *a, *b;
} pair_item;

typedef struct pair_key {
    const char *a, *b;
} pair_key;

static bool pair_eq(const ss_hnode *n, const void *key)
{
    const pair_item *p = SS_HTAB_ENTRY(n, pair_item, h);
    const pair_key *k = key;
    return strcmp(p->a, k->a) == 0 && strcmp(p->b, k->b) == 0;
}

static uint64_t pair_hash(const char *a, const char *b)
{
    return ss_hash(ss_hash(SS_HASH_INIT, a, strlen(a) + 1), b, strlen(b));
}

static void test_composite_key(void **state)
{
    (void)state;
    ss_htab t;
    assert_int_equal(ss_htab_init(&t, 8, pair_eq), 0);
    pair_item p1 = {.a = "ab", .b = "c"}, p2 = {.a = "a", .b = "bc"};
    assert_true(pair_hash("ab", "c") != pair_hash("a", "bc"));
    ss_htab_add(&t, &p1.h, pair_hash(p1.a, p1.b));
    ss_htab_add(&t, &p2.h, pair_hash(p2.a, p2.b));
    const pair_key k1 = {"ab", "c"}, k2 = {"a", "bc"}, k3 = {"abc", ""};
    assert_ptr_equal(ss_htab_find(&t, pair_hash("ab", "c"), &k1), &p1.h);
    assert_ptr_equal(ss_htab_find(&t, pair_hash("a", "bc"), &k2), &p2.h);
    assert_null(ss_htab_find(&t, pair_hash("abc", ""), &k3));
    ss_htab_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv1a_64_vectors),
        cmocka_unit_test_setup_teardown(test_add_find_del, table_setup, table_teardown),
        cmocka_unit_test(test_bucket_count_is_a_power_of_two),
        cmocka_unit_test_setup_teardown(test_growth_keeps_every_entry, table_setup, table_teardown),
        cmocka_unit_test_setup_teardown(test_colliding_hashes, table_setup, table_teardown),
        cmocka_unit_test_setup_teardown(test_walk_visits_each_once_and_may_unlink, table_setup, table_teardown),
        cmocka_unit_test_setup_teardown(test_walk_of_an_empty_table, table_setup, table_teardown),
        cmocka_unit_test(test_composite_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

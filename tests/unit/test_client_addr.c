/* test_client_addr.c — trusted proxies and X-Forwarded-For: the header is
 * believed only from a trusted peer and only as far as every later hop is
 * trusted; a forged entry from an untrusted peer changes nothing. */
#include "client_addr.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static client_addr_trust *trust(const char *list)
{
    client_addr_trust *t = NULL;
    char bad[64];
    assert_int_equal(client_addr_trust_create(&t, list, bad, sizeof(bad)), 0);
    return t;
}

static void expect(const client_addr_trust *t, const char *peer, const char *xff,
                   const char *want)
{
    char out[CLIENT_ADDR_MAX];
    client_addr_resolve(t, peer, xff, out);
    assert_string_equal(out, want);
}

static void test_lists(void **state)
{
    (void)state;
    client_addr_trust *t = trust("loopback, 10.0.0.0/8,192.168.1.7 ,fd00::/8");
    assert_true(client_addr_trusted(t, "127.0.0.1"));
    assert_true(client_addr_trusted(t, "127.9.9.9"));
    assert_true(client_addr_trusted(t, "::1"));
    assert_true(client_addr_trusted(t, "::ffff:127.0.0.1"));
    assert_true(client_addr_trusted(t, "10.200.3.4"));
    assert_true(client_addr_trusted(t, "192.168.1.7"));
    assert_false(client_addr_trusted(t, "192.168.1.8"));
    assert_true(client_addr_trusted(t, "fd12::1"));
    assert_false(client_addr_trusted(t, "fe80::1"));
    assert_false(client_addr_trusted(t, "11.0.0.1"));
    assert_false(client_addr_trusted(t, ""));
    assert_false(client_addr_trusted(t, NULL));
    assert_false(client_addr_trusted(t, "not-an-ip"));
    assert_false(client_addr_trust_empty(t));
    client_addr_trust_destroy(t);
    t = trust("");
    assert_true(client_addr_trust_empty(t));
    assert_false(client_addr_trusted(t, "127.0.0.1"));
    client_addr_trust_destroy(t);
    t = trust("none");
    assert_true(client_addr_trust_empty(t));
    client_addr_trust_destroy(t);
    t = trust("0.0.0.0/0");
    assert_true(client_addr_trusted(t, "8.8.8.8"));
    assert_false(client_addr_trusted(t, "2001:db8::1"));
    client_addr_trust_destroy(t);

    const char *bad[] = {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "example.com",
                         "10.0.0.1,loopbackx", "1.2.3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        client_addr_trust *x = NULL;
        char why[64];
        assert_int_equal(client_addr_trust_create(&x, bad[i], why, sizeof(why)), -1);
        assert_null(x);
        assert_true(why[0] != '\0');
    }
}

static void test_resolve(void **state)
{
    (void)state;
    client_addr_trust *t = trust("127.0.0.1,10.0.0.0/8");
    /* no header, or an untrusted peer: the peer */
    expect(t, "203.0.113.5", NULL, "203.0.113.5");
    expect(t, "203.0.113.5", "198.51.100.1", "203.0.113.5"); /* forged: ignored */
    expect(t, "127.0.0.2", "198.51.100.1", "127.0.0.2");     /* not on the list */
    expect(t, "127.0.0.1", NULL, "127.0.0.1");
    expect(t, "127.0.0.1", "", "127.0.0.1");
    /* one trusted hop */
    expect(t, "127.0.0.1", "198.51.100.1", "198.51.100.1");
    expect(t, "127.0.0.1", " 198.51.100.1 ", "198.51.100.1");
    /* the client wrote its own entry first: the hop the proxy added wins */
    expect(t, "127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1");
    /* several trusted hops are walked through */
    expect(t, "127.0.0.1", "198.51.100.1, 10.1.2.3", "198.51.100.1");
    expect(t, "127.0.0.1", "6.6.6.6,198.51.100.1,10.1.2.3,10.9.9.9", "198.51.100.1");
    /* all trusted: the leftmost */
    expect(t, "127.0.0.1", "10.1.1.1, 10.2.2.2", "10.1.1.1");
    /* garbage ends the walk at the last good hop */
    expect(t, "127.0.0.1", "198.51.100.1, junk", "127.0.0.1");
    expect(t, "127.0.0.1", "198.51.100.1, 10.1.1.1, junk", "127.0.0.1");
    expect(t, "127.0.0.1", "junk, 10.1.1.1", "10.1.1.1");
    expect(t, "127.0.0.1", ",,,", "127.0.0.1");
    /* canonical forms */
    expect(t, "::ffff:127.0.0.1", "2001:DB8:0:0:0:0:0:1", "2001:db8::1");
    expect(t, "127.0.0.1", "::ffff:198.51.100.1", "198.51.100.1");
    expect(t, "::ffff:203.0.113.5", "1.1.1.1", "203.0.113.5");
    /* a port or brackets are not addresses */
    expect(t, "127.0.0.1", "198.51.100.1:5555", "127.0.0.1");
    expect(t, "127.0.0.1", "[2001:db8::1]", "127.0.0.1");
    /* an unparsable peer is passed through */
    expect(t, "", "198.51.100.1", "");
    client_addr_trust_destroy(t);
    /* nobody trusted: the header never counts */
    t = trust("");
    expect(t, "127.0.0.1", "198.51.100.1", "127.0.0.1");
    client_addr_trust_destroy(t);
    expect(NULL, "127.0.0.1", "198.51.100.1", "127.0.0.1");
}

static void test_long_header(void **state)
{
    (void)state;
    client_addr_trust *t = trust("loopback");
    static char xff[CLIENT_ADDR_XFF_MAX * 2];
    size_t n = 0;
    while (n + 16 < sizeof(xff)) {
        memcpy(xff + n, "127.0.0.1, ", 11);
        n += 11;
    }
    memcpy(xff + n, "9.9.9.9", 8);
    char out[CLIENT_ADDR_MAX];
    client_addr_resolve(t, "127.0.0.1", xff, out); /* read only up to the bound */
    assert_true(out[0] != '\0');
    client_addr_trust_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_long_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

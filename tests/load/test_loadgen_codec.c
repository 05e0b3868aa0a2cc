/* test_loadgen_codec.c — the load generator's pure parts: histogram, JWT,
 * websocket frames and handshake, Socket.IO packets, HTTP responses, and
 * which connections are one user's devices. */
#include "lg_group.h"
#include "lg_hist.h"
#include "lg_http.h"
#include "lg_jwt.h"
#include "lg_sio.h"
#include "lg_ws.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jwt.h>

/* ---- histogram ---------------------------------------------------------- */

static void hist_buckets_cover_values_within_one_percent(void **state)
{
    (void)state;
    uint32_t prev = 0;
    for (uint64_t v = 0; v < (UINT64_C(1) << 36); v = v < 1000 ? v + 1 : v + v / 97 + 1) {
        uint32_t i = lg_hist_index(v);
        assert_true(i < LG_HIST_BUCKETS);
        assert_true(i >= prev); /* monotonic */
        prev = i;
        uint64_t lo = lg_hist_bucket_low(i), hi = lg_hist_bucket_high(i);
        assert_true(lo <= v && v <= hi);
        assert_true((double)(hi - lo) <= 0.01 * (double)(lo ? lo : 1) || hi == lo);
    }
    assert_int_equal(lg_hist_index(LG_HIST_MAX), LG_HIST_BUCKETS - 1);
    assert_int_equal(lg_hist_index(UINT64_MAX), LG_HIST_BUCKETS - 1);
    for (uint32_t i = 1; i < LG_HIST_BUCKETS; i++)
        assert_int_equal(lg_hist_bucket_low(i), lg_hist_bucket_high(i - 1) + 1);
}

static void hist_percentiles_of_a_uniform_run(void **state)
{
    (void)state;
    lg_hist *h = malloc(sizeof *h);
    lg_hist_init(h);
    assert_int_equal(lg_hist_percentile(h, 99), 0);
    for (uint64_t v = 1; v <= 100000; v++)
        lg_hist_record(h, v);
    const double ps[] = {50, 90, 99, 99.9};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        double want = ps[k] * 1000.0;
        double got = (double)lg_hist_percentile(h, ps[k]);
        assert_true(got >= want && got <= want * 1.01);
    }
    assert_int_equal(lg_hist_percentile(h, 100), 100000);
    assert_int_equal(h->max, 100000);
    assert_int_equal(h->min, 1);
    assert_true(lg_hist_mean(h) > 50000.0 && lg_hist_mean(h) < 50001.0);
    free(h);
}

static void hist_small_values_are_exact(void **state)
{
    (void)state;
    lg_hist *h = malloc(sizeof *h);
    lg_hist_init(h);
    lg_hist_record(h, 7);
    lg_hist_record(h, 7);
    lg_hist_record(h, 200);
    assert_int_equal(lg_hist_percentile(h, 50), 7);
    assert_int_equal(lg_hist_percentile(h, 66), 7);
    assert_int_equal(lg_hist_percentile(h, 67), 200);
    free(h);
}

/* ---- JWT ---------------------------------------------------------------- */

static const char SECRET[] = "statsync-test-secret-0123456789abcdef";

static void jwt_matches_the_node_harness(void **state)
{
    (void)state;
    /* tests/lib/system.js mintToken('u42', {claims: {sub, iat, exp}}) */
    static const char want[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1NDIiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6M"
        "TcwMDAwMzYwMH0.FxfQAJq3kssuEe33BDY9F8fEZTG116OIM3Z0dYZziZo";
    char tok[LG_JWT_MAX];
    int n = lg_jwt_mint(tok, sizeof tok, SECRET, strlen(SECRET), "u42", 1700000000, 1700003600);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(tok, want);
}

static void jwt_verifies_with_libjwt(void **state)
{
    (void)state;
    char tok[LG_JWT_MAX];
    assert_true(lg_jwt_mint(tok, sizeof tok, SECRET, strlen(SECRET), "user_A-9", 1, 4000000000) > 0);
    jwt_t *j = NULL;
    assert_int_equal(jwt_decode(&j, tok, (const unsigned char *)SECRET, (int)strlen(SECRET)), 0);
    assert_int_equal(jwt_get_alg(j), JWT_ALG_HS256);
    assert_string_equal(jwt_get_grant(j, "sub"), "user_A-9");
    assert_int_equal(jwt_get_grant_int(j, "exp"), 4000000000LL);
    jwt_free(j);
    /* A wrong secret does not verify. */
    j = NULL;
    assert_int_not_equal(jwt_decode(&j, tok, (const unsigned char *)"other-secret-0123456789", 23), 0);
    jwt_free(j);
}

static void jwt_refuses_bad_subjects_and_small_buffers(void **state)
{
    (void)state;
    char tok[LG_JWT_MAX];
    assert_int_equal(lg_jwt_mint(tok, sizeof tok, SECRET, 10, "", 1, 2), -1);
    assert_int_equal(lg_jwt_mint(tok, sizeof tok, SECRET, 10, "a.b", 1, 2), -1);
    assert_int_equal(lg_jwt_mint(tok, sizeof tok, SECRET, 10, "a\"b", 1, 2), -1);
    assert_int_equal(lg_jwt_mint(tok, 40, SECRET, 10, "u1", 1, 2), -1);
}

static void base64_both_alphabets(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(lg_base64(out, sizeof out, "\xfb\xff", 2, 0), 4);
    assert_string_equal(out, "+/8=");
    assert_int_equal(lg_base64(out, sizeof out, "\xfb\xff", 2, 1), 3);
    assert_string_equal(out, "-_8");
    assert_int_equal(lg_base64(out, sizeof out, "f", 1, 0), 4);
    assert_string_equal(out, "Zg==");
    assert_int_equal(lg_base64(out, 4, "foo", 3, 0), 0); /* no room for the NUL */
}

/* ---- websocket ---------------------------------------------------------- */

static void ws_accept_of_the_rfc_example(void **state)
{
    (void)state;
    char acc[29];
    lg_ws_accept_for_key("dGhlIHNhbXBsZSBub25jZQ==", acc);
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    char key[25];
    lg_ws_make_key(key, 12345);
    assert_int_equal(strlen(key), 24);
    assert_int_equal(key[22], '=');
}

static void ws_handshake_check(void **state)
{
    (void)state;
    const char *acc = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                      "\r\n\x81\x01"
                      "2";
    size_t head = 0;
    int status = 0;
    assert_int_equal(lg_ws_handshake_check(ok, sizeof ok - 1, 8192, acc, &head, &status), LG_WS_HS_OK);
    assert_int_equal(head, sizeof ok - 1 - 3);
    assert_int_equal(lg_ws_handshake_check(ok, 40, 8192, acc, &head, &status), LG_WS_HS_INCOMPLETE);
    const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(lg_ws_handshake_check(bad, sizeof bad - 1, 8192, acc, &head, &status),
                     LG_WS_HS_STATUS);
    assert_int_equal(status, 400);
    const char wrong[] = "HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: nope\r\n\r\n";
    assert_int_equal(lg_ws_handshake_check(wrong, sizeof wrong - 1, 8192, acc, &head, &status),
                     LG_WS_HS_ACCEPT);
    char req[512];
    size_t n = lg_ws_handshake_request(req, sizeof req, "127.0.0.1", 3001,
                                       "/socket.io/?EIO=4&transport=websocket", "abc");
    assert_true(n > 0);
    assert_non_null(strstr(req, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"));
    assert_non_null(strstr(req, "Sec-WebSocket-Key: abc\r\n"));
    assert_int_equal(lg_ws_handshake_request(req, 20, "h", 1, "/", "k"), 0);
}

static void ws_frames_round_trip_in_all_length_forms(void **state)
{
    (void)state;
    const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 100000};
    uint8_t *payload = malloc(100000), *frame = malloc(100000 + LG_WS_HEADER_MAX);
    for (size_t i = 0; i < 100000; i++)
        payload[i] = (uint8_t)(i * 31 + 7);
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t n = lens[k];
        size_t fl = lg_ws_encode(frame, LG_WS_OP_TEXT, payload, n, 0xA1B2C3D4u);
        assert_true(frame[1] & 0x80); /* client frames are masked */
        lg_ws_frame f;
        /* Every strict prefix is incomplete. */
        assert_int_equal(lg_ws_decode(frame, fl - 1, 1 << 20, &f), 0);
        assert_int_equal(lg_ws_decode(frame, fl, 1 << 20, &f), (ssize_t)fl);
        assert_int_equal(f.opcode, LG_WS_OP_TEXT);
        assert_true(f.fin);
        assert_int_equal(f.len, n);
        if (n)
            assert_memory_equal(f.payload, payload, n);
    }
    free(payload);
    free(frame);
}

static void ws_decode_server_frames_and_errors(void **state)
{
    (void)state;
    uint8_t f1[] = {0x81, 0x03, '4', '2', '['};
    lg_ws_frame f;
    assert_int_equal(lg_ws_decode(f1, sizeof f1, 100, &f), 5);
    assert_int_equal(f.len, 3);
    assert_memory_equal(f.payload, "42[", 3);
    uint8_t rsv[] = {0xC1, 0x00};
    assert_int_equal(lg_ws_decode(rsv, sizeof rsv, 100, &f), -1);
    uint8_t bigping[] = {0x89, 0x7E, 0x00, 0x80};
    assert_int_equal(lg_ws_decode(bigping, sizeof bigping, 1000, &f), -1);
    uint8_t fragping[] = {0x09, 0x00};
    assert_int_equal(lg_ws_decode(fragping, sizeof fragping, 1000, &f), -1);
    uint8_t op3[] = {0x83, 0x00};
    assert_int_equal(lg_ws_decode(op3, sizeof op3, 1000, &f), -1);
    uint8_t toolong[] = {0x81, 0x7E, 0x01, 0x00};
    assert_int_equal(lg_ws_decode(toolong, sizeof toolong, 255, &f), -1);
    uint8_t cont[] = {0x01, 0x01, 'a'};
    assert_int_equal(lg_ws_decode(cont, sizeof cont, 100, &f), 3);
    assert_false(f.fin);
}

/* ---- Socket.IO ---------------------------------------------------------- */

static void sio_classify_packets(void **state)
{
    (void)state;
    assert_int_equal(lg_sio_classify("0{\"sid\":\"a\"}", 12), LG_PKT_EIO_OPEN);
    assert_int_equal(lg_sio_classify("2", 1), LG_PKT_EIO_PING);
    assert_int_equal(lg_sio_classify("1", 1), LG_PKT_EIO_CLOSE);
    assert_int_equal(lg_sio_classify("6", 1), LG_PKT_EIO_NOOP);
    assert_int_equal(lg_sio_classify("40{\"sid\":\"x\"}", 13), LG_PKT_SIO_CONNECT);
    assert_int_equal(lg_sio_classify("41", 2), LG_PKT_SIO_DISCONNECT);
    assert_int_equal(lg_sio_classify("42[\"a\"]", 7), LG_PKT_SIO_EVENT);
    assert_int_equal(lg_sio_classify("431[{}]", 7), LG_PKT_SIO_ACK);
    assert_int_equal(lg_sio_classify("44{\"message\":\"no\"}", 18), LG_PKT_SIO_CONNECT_ERROR);
    assert_int_equal(lg_sio_classify("42/admin,[\"a\"]", 14), LG_PKT_OTHER);
    assert_int_equal(lg_sio_classify("", 0), LG_PKT_OTHER);
    assert_int_equal(lg_sio_classify("4", 1), LG_PKT_OTHER);
}

static int parse(const char *s, int64_t *xp, char *uid)
{
    const char *u;
    size_t ul;
    int r = lg_sio_parse_data_updated(s, strlen(s), xp, &u, &ul);
    uid[0] = '\0';
    if (r == 1 && u) {
        memcpy(uid, u, ul);
        uid[ul] = '\0';
    }
    return r;
}

static void sio_parse_data_updated(void **state)
{
    (void)state;
    int64_t xp = -1;
    char uid[80];
    assert_int_equal(parse("42[\"user:data:updated\",{\"userId\":\"u7\",\"xp\":1234,\"hearts\":5}]",
                           &xp, uid), 1);
    assert_int_equal(xp, 1234);
    assert_string_equal(uid, "u7");
    /* A nested "xp" (lastGameResults) before the real one does not fool it,
     * nor do strings holding braces and quotes. */
    assert_int_equal(parse("42[\"user:data:updated\",{\"lastGameResults\":{\"xp\":99,\"s\":\"}\\\"{\"},"
                           "\"timePerQuestion\":[1,2,{\"xp\":3}],\"note\":\"\\\"xp\\\":5\","
                           "\"xp\":-3,\"userId\":\"a_b\",\"version\":10}]",
                           &xp, uid), 1);
    assert_int_equal(xp, -3);
    assert_string_equal(uid, "a_b");
    /* Whitespace, and an ack id. */
    assert_int_equal(parse("427[ \"user:data:updated\" , { \"xp\" : 5 } ]", &xp, uid), 1);
    assert_int_equal(xp, 5);
    assert_string_equal(uid, "");
    /* Other events. */
    assert_int_equal(parse("42[\"user:update\",{\"xp\":1}]", &xp, uid), 0);
    assert_int_equal(parse("42[\"presence:pong\",{}]", &xp, uid), 0);
    assert_int_equal(parse("43[\"user:data:updated\"]", &xp, uid), 0);
    /* Malformed documents. */
    assert_int_equal(parse("42[\"user:data:updated\"]", &xp, uid), -1);
    assert_int_equal(parse("42[\"user:data:updated\",{\"xp\":1.5}]", &xp, uid), -1);
    assert_int_equal(parse("42[\"user:data:updated\",{\"xp\":\"7\"}]", &xp, uid), -1);
    assert_int_equal(parse("42[\"user:data:updated\",{\"hearts\":5}]", &xp, uid), -1);
    assert_int_equal(parse("42[\"user:data:updated\",{\"xp\":", &xp, uid), -1);
    assert_int_equal(parse("42[\"user:data:updated\",{\"a\":\"unterminated", &xp, uid), -1);
}

static void sio_parse_user_error(void **state)
{
    (void)state;
    int status = -1, upd = -1;
    const char *e1 = "42[\"user:error\",{\"event\":\"user:clientUpdate\",\"error\":{\"code\":"
                     "\"rate_limited\",\"message\":\"too many\",\"status\":429}}]";
    assert_int_equal(lg_sio_parse_user_error(e1, strlen(e1), &status, &upd), 1);
    assert_int_equal(status, 429);
    assert_int_equal(upd, 1);
    const char *e2 = "42[\"user:error\",{\"error\":{\"status\":400,\"code\":\"bad_request\"},"
                     "\"event\":\"presence:join\"}]";
    assert_int_equal(lg_sio_parse_user_error(e2, strlen(e2), &status, &upd), 1);
    assert_int_equal(status, 400);
    assert_int_equal(upd, 0);
    const char *e3 = "42[\"user:error\"]";
    assert_int_equal(lg_sio_parse_user_error(e3, strlen(e3), &status, &upd), 1);
    assert_int_equal(status, 0);
    const char *e4 = "42[\"user:data:updated\",{\"xp\":1}]";
    assert_int_equal(lg_sio_parse_user_error(e4, strlen(e4), &status, &upd), 0);
}

static void sio_builders(void **state)
{
    (void)state;
    char b[128];
    assert_int_equal(lg_sio_connect(b, sizeof b, "T.o.k"), strlen("40{\"token\":\"T.o.k\"}"));
    assert_string_equal(b, "40{\"token\":\"T.o.k\"}");
    lg_sio_join(b, sizeof b, "u3");
    assert_string_equal(b, "42[\"presence:join\",{\"userId\":\"u3\"}]");
    lg_sio_update(b, sizeof b, NULL);
    assert_string_equal(b, "42[\"user:clientUpdate\",{\"delta\":{\"xp\":1}}]");
    lg_sio_update(b, sizeof b, "op-1");
    assert_string_equal(b, "42[\"user:clientUpdate\",{\"opId\":\"op-1\",\"delta\":{\"xp\":1}}]");
    assert_int_equal(lg_sio_update(b, 10, NULL), 0);
}

/* ---- HTTP --------------------------------------------------------------- */

static void http_content_length_and_keep_alive(void **state)
{
    (void)state;
    const char r[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 16\r\n"
                     "\r\n{\"success\":true}HTTP/1.1";
    int status = 0, close = -1;
    size_t total = 0;
    assert_int_equal(lg_http_response(r, sizeof r - 1, 8192, &status, &total, &close), LG_HTTP_OK);
    assert_int_equal(status, 200);
    assert_int_equal(close, 0);
    assert_int_equal(total, sizeof r - 1 - 8);
    assert_int_equal(lg_http_response(r, total - 1, 8192, &status, &total, &close),
                     LG_HTTP_INCOMPLETE);
    const char c[] = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nConnection: close\r\n"
                     "Content-Length: 0\r\n\r\n";
    assert_int_equal(lg_http_response(c, sizeof c - 1, 8192, &status, &total, &close), LG_HTTP_OK);
    assert_int_equal(status, 429);
    assert_int_equal(close, 1);
}

static void http_chunked_and_bad(void **state)
{
    (void)state;
    const char r[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n1;x=y\r\n!\r\n0\r\n\r\n";
    int status = 0, close = -1;
    size_t total = 0;
    assert_int_equal(lg_http_response(r, sizeof r - 1, 8192, &status, &total, &close), LG_HTTP_OK);
    assert_int_equal(total, sizeof r - 1);
    for (size_t cut = 50; cut < sizeof r - 1; cut++)
        assert_int_equal(lg_http_response(r, cut, 8192, &status, &total, &close),
                         LG_HTTP_INCOMPLETE);
    const char nolen[] = "HTTP/1.1 200 OK\r\n\r\nbody";
    assert_int_equal(lg_http_response(nolen, sizeof nolen - 1, 8192, &status, &total, &close),
                     LG_HTTP_BAD);
    const char junk[] = "SSH-2.0-OpenSSH\r\n\r\n";
    assert_int_equal(lg_http_response(junk, sizeof junk - 1, 8192, &status, &total, &close),
                     LG_HTTP_BAD);
    const char nohead[] = "HTTP/1.1 200 OK\r\nX: y";
    assert_int_equal(lg_http_response(nohead, sizeof nohead - 1, 10, &status, &total, &close),
                     LG_HTTP_BAD);
}

/* ---- devices per user ------------------------------------------------- */

/* Both layouts: every connection is exactly one device of one user, and the
 * devices of a user are the connections that map to it. */
static void group_layouts_are_one_to_one(void **state)
{
    (void)state;
    const struct { long conns, users, devices; } cases[] = {
        {12, 4, 3}, {10, 4, 3}, {7, 7, 1}, {9, 9, 0}, {300, 150, 0}, {10, 4, 0}, {5, 8, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lg_options o = {.conns = cases[c].conns, .users = cases[c].users,
                        .devices = cases[c].devices};
        long sum = 0;
        for (uint32_t u = 0; u < (uint32_t)o.users; u++) {
            uint32_t n = lg_group_devices_of(&o, u);
            sum += n;
            for (uint32_t d = 0; d < n; d++) {
                uint32_t i = lg_group_conn_of(&o, u, d);
                assert_true(i < (uint32_t)o.conns);
                assert_int_equal(lg_group_user_of(&o, i), u);
                assert_int_equal(lg_group_device_of(&o, i), d);
            }
        }
        assert_int_equal(sum, o.conns);
    }
    lg_options three = {.conns = 10, .users = 4, .devices = 3};
    assert_int_equal(lg_group_user_of(&three, 5), 1); /* u<i / N> */
    assert_int_equal(lg_group_device_of(&three, 5), 2);
    assert_int_equal(lg_group_devices_of(&three, 3), 1); /* the last user: what is left */
    lg_options mod = {.conns = 10, .users = 4};
    assert_int_equal(lg_group_user_of(&mod, 5), 1); /* u<i % U> */
    assert_int_equal(lg_group_devices_of(&mod, 1), 3); /* 1, 5, 9 */
    assert_int_equal(lg_group_devices_of(&mod, 2), 2); /* 2, 6 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hist_buckets_cover_values_within_one_percent),
        cmocka_unit_test(hist_percentiles_of_a_uniform_run),
        cmocka_unit_test(hist_small_values_are_exact),
        cmocka_unit_test(jwt_matches_the_node_harness),
        cmocka_unit_test(jwt_verifies_with_libjwt),
        cmocka_unit_test(jwt_refuses_bad_subjects_and_small_buffers),
        cmocka_unit_test(base64_both_alphabets),
        cmocka_unit_test(ws_accept_of_the_rfc_example),
        cmocka_unit_test(ws_handshake_check),
        cmocka_unit_test(ws_frames_round_trip_in_all_length_forms),
        cmocka_unit_test(ws_decode_server_frames_and_errors),
        cmocka_unit_test(sio_classify_packets),
        cmocka_unit_test(sio_parse_data_updated),
        cmocka_unit_test(sio_parse_user_error),
        cmocka_unit_test(sio_builders),
        cmocka_unit_test(http_content_length_and_keep_alive),
        cmocka_unit_test(http_chunked_and_bad),
        cmocka_unit_test(group_layouts_are_one_to_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

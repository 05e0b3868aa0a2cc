/* test_sio_codec.c — Engine.IO / Socket.IO codec: round trips and every rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sio_codec.h"

#include <stdlib.h>
#include <string.h>

static const sio_limits LIM = {.max_len = 1000000, .max_depth = 32};

static sio_codec_err dec(const char *s, sio_packet *p)
{
    return sio_decode(s, strlen(s), &LIM, p);
}

static void test_eio_decode(void **st)
{
    (void)st;
    eio_packet p;
    assert_int_equal(eio_decode("2", 1, &p), SIO_OK);
    assert_int_equal(p.type, EIO_PING);
    assert_int_equal(p.len, 0);
    assert_int_equal(eio_decode("2probe", 6, &p), SIO_OK);
    assert_int_equal(p.type, EIO_PING);
    assert_int_equal(p.len, 5);
    assert_memory_equal(p.data, "probe", 5);
    assert_int_equal(eio_decode("42[\"a\"]", 7, &p), SIO_OK);
    assert_int_equal(p.type, EIO_MESSAGE);
    assert_int_equal(eio_decode("", 0, &p), SIO_ERR_EMPTY);
    assert_int_equal(eio_decode("7", 1, &p), SIO_ERR_TYPE);
    assert_int_equal(eio_decode("x", 1, &p), SIO_ERR_TYPE);
    assert_int_equal(eio_decode("bAAEC", 5, &p), SIO_ERR_BINARY);
}

static void test_eio_payload(void **st)
{
    (void)st;
    const char body[] = "2\x1e" "42[\"x\",1]\x1e" "bAQI=\x1e" "\x1e" "6";
    eio_payload_iter it;
    eio_packet p;
    eio_payload_init(&it, body, sizeof(body) - 1);
    assert_int_equal(eio_payload_next(&it, &p), 1);
    assert_int_equal(p.type, EIO_PING);
    assert_int_equal(eio_payload_next(&it, &p), 1);
    assert_int_equal(p.type, EIO_MESSAGE);
    assert_int_equal(p.len, 8);
    assert_int_equal(eio_payload_next(&it, &p), -SIO_ERR_BINARY);
    assert_int_equal(eio_payload_next(&it, &p), -SIO_ERR_EMPTY);
    assert_int_equal(eio_payload_next(&it, &p), 1);
    assert_int_equal(p.type, EIO_NOOP);
    assert_int_equal(eio_payload_next(&it, &p), 0);
    assert_int_equal(eio_payload_next(&it, &p), 0);

    eio_payload_init(&it, "", 0);
    assert_int_equal(eio_payload_next(&it, &p), -SIO_ERR_EMPTY);
    assert_int_equal(eio_payload_next(&it, &p), 0);
}

static void test_eio_encode(void **st)
{
    (void)st;
    size_t len;
    char *b = eio_encode_open("abc", 1, 25000, 20000, 1000000, 16, &len);
    assert_non_null(b);
    assert_string_equal(b + 16, "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,"
                                "\"pingTimeout\":20000,\"maxPayload\":1000000}");
    assert_int_equal(len, strlen(b + 16));
    free(b);
    b = eio_encode_open("abc", 0, 1, 2, 3, 0, &len);
    assert_string_equal(b, "0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":2,"
                           "\"maxPayload\":3}");
    free(b);
    b = eio_encode(EIO_PONG, "probe", 5, 16, &len);
    assert_string_equal(b + 16, "3probe");
    assert_int_equal(len, 6);
    free(b);
    b = eio_encode(EIO_NOOP, NULL, 0, 0, &len);
    assert_string_equal(b, "6");
    free(b);
}

static void test_sio_connect(void **st)
{
    (void)st;
    sio_packet p;
    assert_int_equal(dec("0", &p), SIO_OK);
    assert_int_equal(p.type, SIO_CONNECT);
    assert_string_equal(p.nsp, "/");
    assert_int_equal(p.ack_id, -1);
    assert_null(p.data);

    assert_int_equal(dec("0{\"token\":\"t\"}", &p), SIO_OK);
    assert_string_equal(json_string_value(json_object_get(p.data, "token")), "t");
    sio_packet_clear(&p);

    assert_int_equal(dec("0/admin,{\"token\":\"t\"}", &p), SIO_OK);
    assert_string_equal(p.nsp, "/admin");
    sio_packet_clear(&p);

    assert_int_equal(dec("0/admin", &p), SIO_OK);
    assert_string_equal(p.nsp, "/admin");

    /* CONNECT data must be an object */
    assert_int_equal(dec("0[1]", &p), SIO_ERR_SHAPE);
    assert_null(p.data);
    assert_int_equal(dec("0\"x\"", &p), SIO_ERR_SHAPE);
}

static void test_sio_event_and_ack(void **st)
{
    (void)st;
    sio_packet p;
    assert_int_equal(dec("2[\"user:clientUpdate\",{\"delta\":{\"xp\":1}}]", &p), SIO_OK);
    assert_int_equal(p.type, SIO_EVENT);
    assert_string_equal(sio_event_name(&p), "user:clientUpdate");
    assert_true(json_is_object(sio_event_arg(&p, 0)));
    assert_null(sio_event_arg(&p, 1));
    sio_packet_clear(&p);

    assert_int_equal(dec("212[\"presence:ping\",{\"ts\":5}]", &p), SIO_OK);
    assert_int_equal(p.ack_id, 12);
    sio_packet_clear(&p);

    assert_int_equal(dec("2/x,7[\"e\"]", &p), SIO_OK);
    assert_string_equal(p.nsp, "/x");
    assert_int_equal(p.ack_id, 7);
    sio_packet_clear(&p);

    assert_int_equal(dec("22147483647[\"e\"]", &p), SIO_OK);
    assert_int_equal(p.ack_id, 2147483647);
    sio_packet_clear(&p);

    assert_int_equal(dec("31[{\"ok\":true}]", &p), SIO_OK);
    assert_int_equal(p.type, SIO_ACK);
    assert_int_equal(p.ack_id, 1);
    sio_packet_clear(&p);

    assert_int_equal(dec("1", &p), SIO_OK);
    assert_int_equal(p.type, SIO_DISCONNECT);
    assert_int_equal(dec("4{\"message\":\"m\"}", &p), SIO_OK);
    sio_packet_clear(&p);
    assert_int_equal(dec("4\"m\"", &p), SIO_OK);
    sio_packet_clear(&p);
}

static void test_sio_rejections(void **st)
{
    (void)st;
    sio_packet p;
    assert_int_equal(sio_decode("", 0, &LIM, &p), SIO_ERR_EMPTY);
    assert_int_equal(dec("7", &p), SIO_ERR_TYPE);
    assert_int_equal(dec("x[]", &p), SIO_ERR_TYPE);
    /* ack ids: > 2^31-1 and > 10 digits */
    assert_int_equal(dec("22147483648[\"e\"]", &p), SIO_ERR_ACK_ID);
    assert_int_equal(dec("299999999999999999999[\"e\"]", &p), SIO_ERR_ACK_ID);
    assert_int_equal(dec("200000000001[\"e\"]", &p), SIO_ERR_ACK_ID);
    /* truncated / bad JSON keeps the header for an error ack */
    assert_int_equal(dec("25[\"user:clientUpdate\",{\"delta\":", &p), SIO_ERR_JSON);
    assert_int_equal(p.type, SIO_EVENT);
    assert_int_equal(p.ack_id, 5);
    assert_null(p.data);
    assert_int_equal(dec("2[\"e\"] trailing", &p), SIO_ERR_JSON);
    assert_int_equal(dec("2[\"e\",{\"a\":1,\"a\":2}]", &p), SIO_ERR_JSON);
    /* shapes */
    assert_int_equal(dec("2", &p), SIO_ERR_SHAPE);
    assert_int_equal(dec("2[]", &p), SIO_ERR_SHAPE);
    assert_int_equal(dec("2{\"a\":1}", &p), SIO_ERR_SHAPE);
    assert_int_equal(dec("2[1,2]", &p), SIO_ERR_SHAPE);
    assert_int_equal(dec("2[\"connect\"]", &p), SIO_ERR_SHAPE);
    assert_int_equal(dec("2[\"disconnect\",1]", &p), SIO_ERR_SHAPE);
    assert_int_equal(dec("3{}", &p), SIO_ERR_SHAPE);
    assert_int_equal(dec("3", &p), SIO_ERR_SHAPE);
    assert_int_equal(dec("1{}", &p), SIO_ERR_SHAPE);
    assert_int_equal(dec("4[1]", &p), SIO_ERR_SHAPE);
    /* binary packets are refused, header still parsed */
    assert_int_equal(dec("51-3[\"e\",{\"_placeholder\":true,\"num\":0}]", &p), SIO_ERR_BINARY);
    assert_int_equal(p.type, SIO_BINARY_EVENT);
    assert_int_equal(p.ack_id, 3);
    assert_int_equal(dec("61-/x,4[{}]", &p), SIO_ERR_BINARY);
    assert_string_equal(p.nsp, "/x");
    assert_int_equal(p.ack_id, 4);
    assert_int_equal(dec("5[\"e\"]", &p), SIO_ERR_BINARY);
    assert_int_equal(dec("5-", &p), SIO_ERR_BINARY);
    assert_int_equal(dec("51", &p), SIO_ERR_BINARY);
    /* namespaces */
    char nsp[200] = "0/";
    memset(nsp + 2, 'a', 100);
    nsp[102] = ',';
    nsp[103] = '\0';
    assert_int_equal(dec(nsp, &p), SIO_ERR_NSP);
    assert_int_equal(sio_decode("0/a b,", 6, &LIM, &p), SIO_ERR_NSP);
    assert_int_equal(sio_decode("0/a\0b,", 6, &LIM, &p), SIO_ERR_NSP);
    /* depth */
    char deep[200] = "2[\"e\",";
    size_t n = strlen(deep);
    for (int i = 0; i < 40; i++)
        deep[n++] = '[';
    for (int i = 0; i < 40; i++)
        deep[n++] = ']';
    deep[n++] = ']';
    deep[n] = '\0';
    assert_int_equal(dec(deep, &p), SIO_ERR_DEPTH);
    /* brackets inside strings do not count */
    assert_int_equal(dec("2[\"e\",\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"\"]", &p), SIO_OK);
    sio_packet_clear(&p);
    /* size */
    sio_limits small = {.max_len = 8, .max_depth = 4};
    assert_int_equal(sio_decode("2[\"event\"]", 10, &small, &p), SIO_ERR_TOO_LARGE);
    /* NUL inside JSON */
    assert_int_equal(sio_decode("2[\"e\0\"]", 7, &LIM, &p), SIO_ERR_JSON);
}

static void test_sio_depth(void **st)
{
    (void)st;
    assert_int_equal(sio_json_depth("{}", 2, 10), 1);
    assert_int_equal(sio_json_depth("[[1],{\"a\":[2]}]", 15, 10), 3);
    assert_int_equal(sio_json_depth("\"[[[\"", 5, 10), 0);
    assert_int_equal(sio_json_depth("[[[[", 4, 2), 3);
}

static void test_sio_encode_round_trip(void **st)
{
    (void)st;
    size_t len;
    json_t *d = json_pack("{s:s}", "sid", "S1");
    char *b = sio_encode(SIO_CONNECT, "/", -1, d, 16, &len);
    assert_string_equal(b + 16, "40{\"sid\":\"S1\"}");
    free(b);
    json_decref(d);

    d = json_pack("{s:s}", "message", "Invalid namespace");
    b = sio_encode(SIO_CONNECT_ERROR, "/admin", -1, d, 0, &len);
    assert_string_equal(b, "44/admin,{\"message\":\"Invalid namespace\"}");
    free(b);
    json_decref(d);

    d = json_pack("[{s:b}]", "ok", 1);
    b = sio_encode(SIO_ACK, NULL, 2147483647, d, 0, &len);
    assert_string_equal(b, "432147483647[{\"ok\":true}]");
    /* decode what we encoded (minus the Engine.IO "4") */
    sio_packet p;
    assert_int_equal(sio_decode(b + 1, len - 1, &LIM, &p), SIO_OK);
    assert_int_equal(p.type, SIO_ACK);
    assert_int_equal(p.ack_id, 2147483647);
    assert_true(json_equal(p.data, d));
    sio_packet_clear(&p);
    free(b);
    json_decref(d);

    b = sio_encode(SIO_DISCONNECT, NULL, -1, NULL, 0, &len);
    assert_string_equal(b, "41");
    free(b);

    d = json_pack("{s:i,s:s}", "xp", 10, "userId", "alice");
    b = sio_encode_event("user:data:updated", d, 16, &len);
    assert_string_equal(b + 16, "42[\"user:data:updated\",{\"xp\":10,\"userId\":\"alice\"}]");
    assert_int_equal(sio_decode(b + 17, len - 1, &LIM, &p), SIO_OK);
    assert_string_equal(sio_event_name(&p), "user:data:updated");
    assert_true(json_equal(sio_event_arg(&p, 0), d));
    sio_packet_clear(&p);
    free(b);
    json_decref(d);

    b = sio_encode_event("x", NULL, 0, &len);
    assert_string_equal(b, "42[\"x\"]");
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eio_decode),
        cmocka_unit_test(test_eio_payload),
        cmocka_unit_test(test_eio_encode),
        cmocka_unit_test(test_sio_connect),
        cmocka_unit_test(test_sio_event_and_ack),
        cmocka_unit_test(test_sio_rejections),
        cmocka_unit_test(test_sio_depth),
        cmocka_unit_test(test_sio_encode_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

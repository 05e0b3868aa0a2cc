/* test_nats_unpack.c — common/ss_nats: ss_nats_unpack() decodes a message's
 * payload as the given protobuf type (and refuses what is not one), and the
 * handle calls that take NULL do nothing. No server needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ss_nats.h"
#include "statsync.pb-c.h"

#include <string.h>

static natsMsg *msg_with(const void *data, int len)
{
    natsMsg *m = NULL;
    assert_int_equal(natsMsg_Create(&m, "t.subject", NULL, data, len), NATS_OK);
    return m;
}

static void test_decodes_its_type(void **state)
{
    (void)state;
    Statsync__PresenceSyncRequest r = STATSYNC__PRESENCE_SYNC_REQUEST__INIT;
    r.has_epoch = 1;
    r.epoch = 0x1234567890abcdefULL;
    uint8_t buf[64];
    size_t n = statsync__presence_sync_request__pack(&r, buf);
    natsMsg *m = msg_with(buf, (int)n);
    ProtobufCMessage *base = ss_nats_unpack(m, &statsync__presence_sync_request__descriptor);
    assert_non_null(base);
    assert_ptr_equal(base->descriptor, &statsync__presence_sync_request__descriptor);
    const Statsync__PresenceSyncRequest *got = (const Statsync__PresenceSyncRequest *)base;
    assert_true(got->has_epoch);
    assert_true(got->epoch == r.epoch);
    protobuf_c_message_free_unpacked(base, NULL);
    natsMsg_Destroy(m);
}

static void test_empty_payload_is_an_empty_message(void **state)
{
    (void)state;
    natsMsg *m = msg_with(NULL, 0);
    ProtobufCMessage *base = ss_nats_unpack(m, &statsync__presence_sync_request__descriptor);
    assert_non_null(base);
    assert_false(((const Statsync__PresenceSyncRequest *)base)->has_epoch);
    protobuf_c_message_free_unpacked(base, NULL);
    natsMsg_Destroy(m);
}

static void test_refuses_garbage(void **state)
{
    (void)state;
    const char junk[] = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
    natsMsg *m = msg_with(junk, (int)sizeof(junk) - 1);
    assert_null(ss_nats_unpack(m, &statsync__presence_sync_request__descriptor));
    natsMsg_Destroy(m);
}

static void test_null_handle(void **state)
{
    (void)state;
    assert_null(ss_nats_conn(NULL));
    assert_false(ss_nats_connected(NULL));
    ss_nats_batch(NULL, true);
    ss_nats_batch(NULL, false);
    assert_int_equal(ss_nats_set_reader(NULL, NULL, NULL), SS_ERR_INTERNAL);
    ss_nats_destroy(NULL, 0);
}

int main(void)
{
    if (nats_Open(-1) != NATS_OK) /* natsMsg_Destroy needs the library's collector */
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes_its_type),
        cmocka_unit_test(test_empty_payload_is_an_empty_message),
        cmocka_unit_test(test_refuses_garbage),
        cmocka_unit_test(test_null_handle),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nats_Close();
    return rc;
}

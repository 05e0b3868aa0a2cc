/* fuzz_client_addr.c — libFuzzer target for what a client controls about its
 * address: the X-Forwarded-For header (gateway/client_addr.c) behind a
 * trusted proxy and from an untrusted peer, and the trust list parser.
 *
 * Input: the header bytes. Invariants: the answer is the peer itself when
 * the peer is untrusted; otherwise it is the peer or one of the header's
 * entries, in canonical text form, and never an address on the trust list
 * unless every hop is trusted; nothing is read past CLIENT_ADDR_XFF_MAX. */
#include "client_addr.h"
#include "fuzz_common.h"

#include <arpa/inet.h>

static client_addr_trust *fuzz__trust;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz__trust == NULL) {
        char bad[64];
        FUZZ_CHECK(client_addr_trust_create(&fuzz__trust, "loopback,10.0.0.0/8,fd00::/8", bad,
                                            sizeof(bad)) == 0);
    }
    char *xff = malloc(size + 1);
    FUZZ_CHECK(xff != NULL);
    memcpy(xff, data, size);
    xff[size] = '\0';
    char out[CLIENT_ADDR_MAX];
    /* untrusted peer: the header never counts */
    client_addr_resolve(fuzz__trust, "203.0.113.9", xff, out);
    FUZZ_CHECK(strcmp(out, "203.0.113.9") == 0);
    /* trusted peer: an address, in canonical form */
    client_addr_resolve(fuzz__trust, "127.0.0.1", xff, out);
    unsigned char bin[16];
    char canon[CLIENT_ADDR_MAX];
    if (inet_pton(AF_INET, out, bin) == 1) {
        inet_ntop(AF_INET, bin, canon, sizeof(canon));
    } else {
        FUZZ_CHECK(inet_pton(AF_INET6, out, bin) == 1);
        inet_ntop(AF_INET6, bin, canon, sizeof(canon));
    }
    FUZZ_CHECK(strcmp(out, canon) == 0);
    /* the trust list parser refuses or accepts, never crashes */
    client_addr_trust *t = NULL;
    char bad[64];
    if (client_addr_trust_create(&t, xff, bad, sizeof(bad)) == 0)
        client_addr_trust_destroy(t);
    else
        FUZZ_CHECK(t == NULL);
    free(xff);
    return 0;
}

/* lg_jwt.c — see lg_jwt.h. */
#include "lg_jwt.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t lg_base64(char *out, size_t cap, const void *in, size_t len, int url)
{
    const unsigned char *p = in;
    const char *tab = url ? B64URL : B64;
    size_t need = url ? (len * 4 + 2) / 3 : (len + 2) / 3 * 4;
    if (cap < need + 1)
        return 0;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        if (i + 1 < len)
            out[o++] = tab[v >> 6 & 63];
        else if (!url)
            out[o++] = '=';
        if (!url)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int jwt__sub_ok(const char *sub)
{
    size_t n = strlen(sub);
    if (n < 1 || n > LG_JWT_SUB_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = sub[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int lg_jwt_mint(char *out, size_t cap, const char *secret, size_t secret_len, const char *sub,
                int64_t iat, int64_t exp)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    if (!jwt__sub_ok(sub))
        return -1;
    char claims[160];
    int cn = snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"iat\":%lld,\"exp\":%lld}", sub,
                      (long long)iat, (long long)exp);
    if (cn < 0 || (size_t)cn >= sizeof claims)
        return -1;

    size_t o = lg_base64(out, cap, header, sizeof header - 1, 1);
    if (o == 0 || o + 1 >= cap)
        return -1;
    out[o++] = '.';
    size_t n = lg_base64(out + o, cap - o, claims, (size_t)cn, 1);
    if (n == 0)
        return -1;
    o += n;

    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)out, o, mac, &mac_len))
        return -1;
    if (o + 1 >= cap)
        return -1;
    out[o++] = '.';
    n = lg_base64(out + o, cap - o, mac, mac_len, 1);
    if (n == 0)
        return -1;
    return (int)(o + n);
}

/* client_addr.c — trusted proxies and X-Forwarded-For (see client_addr.h). */
#include "client_addr.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_ADDR_MAX_NETS 64

typedef struct client_net {
    uint8_t addr[16]; /* IPv4 as IPv4-mapped IPv6 */
    int bits;         /* prefix length over the 128 bits */
} client_net;

struct client_addr_trust {
    client_net nets[CLIENT_ADDR_MAX_NETS];
    size_t n;
};

/* Text -> 16 bytes (IPv4 mapped). Accepts only a bare address. */
static bool client_addr__parse(const char *s, size_t len, uint8_t out[16], bool *v4)
{
    char buf[CLIENT_ADDR_MAX + 1];
    if (len == 0 || len > CLIENT_ADDR_MAX)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        *v4 = true;
        return true;
    }
    if (inet_pton(AF_INET6, buf, &a6) == 1) {
        memcpy(out, &a6, 16);
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        *v4 = memcmp(out, mapped, 12) == 0;
        return true;
    }
    return false;
}

static void client_addr__format(const uint8_t a[16], bool v4, char *out)
{
    if (v4)
        inet_ntop(AF_INET, a + 12, out, CLIENT_ADDR_MAX);
    else
        inet_ntop(AF_INET6, a, out, CLIENT_ADDR_MAX);
}

static bool client_addr__in(const client_net *n, const uint8_t a[16])
{
    int full = n->bits / 8, rest = n->bits % 8;
    if (memcmp(n->addr, a, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (n->addr[full] & mask) == (a[full] & mask);
}

static bool client_addr__trusted_bin(const client_addr_trust *t, const uint8_t a[16])
{
    for (size_t i = 0; t != NULL && i < t->n; i++)
        if (client_addr__in(&t->nets[i], a))
            return true;
    return false;
}

/* One list entry: "loopback", "addr" or "addr/bits". */
static int client_addr__add(client_addr_trust *t, const char *s, size_t len)
{
    if (len == 8 && memcmp(s, "loopback", 8) == 0) {
        static const char *const lo[] = {"127.0.0.0/8", "::1/128"};
        for (int i = 0; i < 2; i++)
            if (client_addr__add(t, lo[i], strlen(lo[i])) != 0)
                return -1;
        return 0;
    }
    if (t->n >= CLIENT_ADDR_MAX_NETS)
        return -1;
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    client_net *n = &t->nets[t->n];
    bool v4 = false;
    if (!client_addr__parse(s, alen, n->addr, &v4))
        return -1;
    int bits = v4 ? 32 : 128;
    if (slash != NULL) {
        const char *d = slash + 1;
        size_t dl = len - alen - 1;
        if (dl == 0 || dl > 3)
            return -1;
        bits = 0;
        for (size_t i = 0; i < dl; i++) {
            if (d[i] < '0' || d[i] > '9')
                return -1;
            bits = bits * 10 + (d[i] - '0');
        }
        if (bits > (v4 ? 32 : 128))
            return -1;
    }
    n->bits = v4 ? bits + 96 : bits;
    t->n++;
    return 0;
}

int client_addr_trust_create(client_addr_trust **out, const char *list, char *bad,
                             size_t bad_cap)
{
    *out = NULL;
    if (bad_cap > 0)
        bad[0] = '\0';
    client_addr_trust *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    const char *p = list ? list : "";
    if (strcmp(p, "none") == 0)
        p = "";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t len = (size_t)(e - p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0 && client_addr__add(t, p, len) != 0) {
            snprintf(bad, bad_cap, "%.*s", (int)len, p);
            free(t);
            return -1;
        }
        p = e;
    }
    *out = t;
    return 0;
}

void client_addr_trust_destroy(client_addr_trust *t)
{
    free(t);
}

bool client_addr_trust_empty(const client_addr_trust *t)
{
    return t == NULL || t->n == 0;
}

bool client_addr_trusted(const client_addr_trust *t, const char *ip)
{
    uint8_t a[16];
    bool v4;
    return ip != NULL && client_addr__parse(ip, strlen(ip), a, &v4) &&
           client_addr__trusted_bin(t, a);
}

/* The last entry of xff[0..len) (trimmed) and where the rest ends. */
static const char *client_addr__last(const char *xff, size_t *len, size_t *entry_len)
{
    size_t end = *len;
    size_t start = end;
    while (start > 0 && xff[start - 1] != ',')
        start--;
    *len = start > 0 ? start - 1 : 0;
    const char *s = xff + start;
    size_t l = end - start;
    while (l > 0 && (*s == ' ' || *s == '\t'))
        s++, l--;
    while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t'))
        l--;
    *entry_len = l;
    return s;
}

void client_addr_resolve(const client_addr_trust *t, const char *peer, const char *xff,
                         char *out)
{
    out[0] = '\0';
    uint8_t cur[16];
    bool cur_v4 = false;
    if (peer == NULL || !client_addr__parse(peer, strlen(peer), cur, &cur_v4)) {
        snprintf(out, CLIENT_ADDR_MAX, "%s", peer ? peer : "");
        return;
    }
    size_t left = xff ? strnlen(xff, CLIENT_ADDR_XFF_MAX) : 0;
    /* walk right to left while the current hop is a trusted proxy */
    while (left > 0 && client_addr__trusted_bin(t, cur)) {
        size_t el;
        const char *e = client_addr__last(xff, &left, &el);
        uint8_t next[16];
        bool next_v4;
        if (!client_addr__parse(e, el, next, &next_v4))
            break;
        memcpy(cur, next, 16);
        cur_v4 = next_v4;
    }
    client_addr__format(cur, cur_v4, out);
}

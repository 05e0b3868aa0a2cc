/* token_tool.c — statsync-token: mints a client token for local development
 * and tests (the HS256 JWT the gateway accepts: sub = userId, iat, exp).
 *
 *   statsync-token alice                  # secret from STATSYNC_JWT_SECRET
 *   statsync-token alice --ttl 600 --secret "$SECRET"
 *
 * Prints the token and a newline on stdout; errors on stderr, exit 2. */
#include "auth.h"
#include "ss_time.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_TOOL_DEFAULT_TTL 86400

static void token_tool__usage(FILE *f)
{
    fprintf(f,
            "usage: statsync-token <userId> [--ttl SECONDS] [--secret S]\n"
            "\n"
            "Prints an HS256 JWT for <userId> (claims sub, iat, exp) that statsync-gateway\n"
            "accepts as 'Authorization: Bearer <token>' and as the Socket.IO auth token.\n"
            "\n"
            "  <userId>          1-64 characters of A-Z a-z 0-9 _ -\n"
            "  --ttl SECONDS     lifetime (default %d)\n"
            "  --secret S        signing secret, at least 16 bytes\n"
            "                    (default: environment variable STATSYNC_JWT_SECRET)\n"
            "  -h, --help        this text\n",
            TOKEN_TOOL_DEFAULT_TTL);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ttl", required_argument, NULL, 't'},
        {"secret", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *secret = getenv("STATSYNC_JWT_SECRET");
    int64_t ttl = TOKEN_TOOL_DEFAULT_TTL;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 't': {
            char *end = NULL;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v <= 0 || v > 10LL * 366 * 86400) {
                fprintf(stderr, "statsync-token: --ttl wants seconds (1 .. 10 years)\n");
                return 2;
            }
            ttl = v;
            break;
        }
        case 's':
            secret = optarg;
            break;
        case 'h':
            token_tool__usage(stdout);
            return 0;
        default:
            token_tool__usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        token_tool__usage(stderr);
        return 2;
    }
    const char *user = argv[optind];
    if (!ss_userid_valid_cstr(user)) {
        fprintf(stderr, "statsync-token: userId must be 1-%d characters of A-Z a-z 0-9 _ -\n",
                SS_USERID_MAX);
        return 2;
    }
    if (secret == NULL || strlen(secret) < 16) {
        fprintf(stderr, "statsync-token: give a secret of at least 16 bytes "
                        "(--secret or STATSYNC_JWT_SECRET)\n");
        return 2;
    }
    char *tok = auth_mint(user, secret, ss_now_ms() / 1000, ttl);
    if (tok == NULL) {
        fprintf(stderr, "statsync-token: could not mint the token\n");
        return 2;
    }
    printf("%s\n", tok);
    free(tok);
    return 0;
}

/* token_tool.c — statsync-token: mints a client token for local development
 * and tests (the HS256 JWT the gateway accepts: sub = userId, iat, exp).
 *
 *   statsync-token alice                  # secret from STATSYNC_JWT_SECRET(_FILE)
 *   statsync-token alice --ttl 600 --secret "$SECRET"
 *   curl -H "Authorization: Bearer $(statsync-token alice)" \
 *        http://127.0.0.1:8080/api/users/alice/stats   # the App URL run-local.sh prints
 *
 * Prints the token and a newline on stdout; errors on stderr, exit 2. */
#include "auth.h"
#include "ss_config.h"
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
            "  <userId>          what an identity provider issues (auth0|..., an email, a UUID):\n"
            "                    1-128 bytes of UTF-8, no control characters, no whitespace\n"
            "                    at either end\n"
            "  --ttl SECONDS     lifetime (default %d)\n"
            "  --secret S        signing secret, at least 16 bytes\n"
            "                    (default: environment variable STATSYNC_JWT_SECRET, or the\n"
            "                    file STATSYNC_JWT_SECRET_FILE names, as the gateway reads it)\n"
            "  -h, --help        this text\n"
            "\n"
            "Example, against the App URL that scripts/run-local.sh prints (the edge:\n"
            "REST and Socket.IO on one URL, http://127.0.0.1:8080 by default):\n"
            "\n"
            "  TOKEN=$(statsync-token alice)\n"
            "  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8080/api/users/alice/stats\n"
            "  socket.io-client: io('http://127.0.0.1:8080', { auth: { token: TOKEN } })\n",
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
    const char *secret = NULL; /* --secret, else the environment (below) */
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
    if (secret == NULL && ss_config_secret_env("STATSYNC_JWT_SECRET", "statsync-token", &secret))
        return 2;
    const char *user = argv[optind];
    ss_userid_rule why = ss_userid_check(user, strlen(user));
    if (why != SS_USERID_OK) {
        fprintf(stderr, "statsync-token: %s\n", ss_userid_rule_text(why));
        return 2;
    }
    if (secret == NULL || strlen(secret) < 16) {
        fprintf(stderr, "statsync-token: give a secret of at least 16 bytes "
                        "(--secret, STATSYNC_JWT_SECRET or STATSYNC_JWT_SECRET_FILE)\n");
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

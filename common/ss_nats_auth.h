/* ss_nats_auth.h — who a service is on NATS and how its connection is
 * protected: a user whose password is read from a file, or a NATS .creds
 * file (user JWT + NKey seed); and TLS to the server (a CA to trust, a
 * client certificate when the server asks for one, the name the server's
 * certificate must carry). Every binary lists these options beside
 * --nats-url (SS_NATS_AUTH_OPTS in its option table); ss_nats_create()
 * applies them to the connection. Which subjects each user may use is not
 * decided here but by the server's configuration, rendered by
 * scripts/nats-config.sh (proto/README.md, "NATS permissions").
 *
 * Everything empty (the default) = no authentication and plain TCP: an open
 * server, as the tests and local development without run-local.sh use.
 *
 * Ownership: the strings of an ss_nats_auth are ss_config's (valid until
 * exit). The password is read from its file only while the connection's
 * options are built, handed to cnats (which keeps its own copy for
 * reconnects) and wiped from our buffer: nothing of ours holds it after.
 *
 * Threads: the caller's (ss_nats_create's, the owner's thread). The checks
 * are pure; ss_nats_auth_apply reads files and logs. */
#ifndef SS_NATS_AUTH_H
#define SS_NATS_AUTH_H

#include "ss_config.h"

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct ss_nats_auth {
    const char *user;          /* STATSYNC_NATS_USER; "" = no user/password */
    const char *password_file; /* STATSYNC_NATS_PASSWORD_FILE: the user's password */
    const char *creds_file;    /* STATSYNC_NATS_CREDS: a .creds file, instead of the two above */
    const char *tls_ca;        /* STATSYNC_NATS_TLS_CA: PEM CA(s) the server's certificate must chain to */
    const char *tls_cert;      /* STATSYNC_NATS_TLS_CERT: client certificate (PEM chain) ... */
    const char *tls_key;       /* STATSYNC_NATS_TLS_KEY: ... and its key, both or neither */
    const char *tls_hostname;  /* STATSYNC_NATS_TLS_HOSTNAME: name the server's certificate must carry */
} ss_nats_auth;

/* The options, for a binary's ss_opt table; a is an lvalue of type
 * ss_nats_auth whose address is constant (a field of a static struct), so
 * the table can stay data. */
#define SS_NATS_AUTH_OPTS(a)                                                                      \
    SS_OPT_STR("nats-user", "STATSYNC_NATS_USER", &(a).user, "",                                  \
               "NATS user (with --nats-password-file; empty = no user/password)"),                \
        SS_OPT_STR("nats-password-file", "STATSYNC_NATS_PASSWORD_FILE", &(a).password_file, "",   \
                   "file holding the NATS user's password (one trailing newline stripped; "       \
                   "warned about when group/world-readable)"),                                    \
        SS_OPT_STR("nats-creds", "STATSYNC_NATS_CREDS", &(a).creds_file, "",                      \
                   "NATS .creds file (user JWT + NKey seed), instead of user/password"),          \
        SS_OPT_STR("nats-tls-ca", "STATSYNC_NATS_TLS_CA", &(a).tls_ca, "",                        \
                   "PEM CA file the NATS server's certificate must chain to (turns TLS on; "      \
                   "a tls:// URL does too, with the system's CAs)"),                              \
        SS_OPT_STR("nats-tls-cert", "STATSYNC_NATS_TLS_CERT", &(a).tls_cert, "",                  \
                   "PEM client certificate for NATS (with --nats-tls-key; turns TLS on)"),        \
        SS_OPT_STR("nats-tls-key", "STATSYNC_NATS_TLS_KEY", &(a).tls_key, "",                     \
                   "PEM key of --nats-tls-cert"),                                                 \
        SS_OPT_STR("nats-tls-hostname", "STATSYNC_NATS_TLS_HOSTNAME", &(a).tls_hostname, "",      \
                   "name the NATS server's certificate must carry (empty = the host of a single " \
                   "URL; with several URLs, names are not checked)")

/* The longest password read from a file. */
#define SS_NATS_PASSWORD_MAX 1024

/* 0 when the settings fit together: a user and a password file both or
 * neither, a .creds file only without them, a client certificate and key
 * both or neither. Otherwise -1 with why written. Pure. */
int ss_nats_auth_check(const ss_nats_auth *a, char *why, size_t why_cap);

/* True when the connection is to use TLS: a CA, a client certificate or a
 * tls:// URL. Pure. */
bool ss_nats_auth_tls(const ss_nats_auth *a, const char *url);

/* Who we connect as, for log lines: the user, "(creds file)", or "" (no
 * credentials; also for a NULL a). Pure; a's string or a literal. */
const char *ss_nats_auth_who(const ss_nats_auth *a);

/* The name the server's certificate is checked against, into buf: the
 * configured one, else the host of url when url is a single URL (IPv6
 * brackets removed), else "" (several URLs: no name check). Pure. */
void ss_nats_auth_hostname(const ss_nats_auth *a, const char *url, char *buf, size_t cap);

/* Reads the password in path into buf (cap > 1): the file's bytes, one
 * trailing "\n" or "\r\n" removed; 0, with *loose set when the file can be
 * read by its group or others. -1 (why written, buf wiped) when the file
 * cannot be read, is not a regular file, is empty, holds a NUL byte or is
 * longer than cap - 1 bytes. Reads the file system only. */
int ss_nats_auth_read_password(const char *path, char *buf, size_t cap, bool *loose,
                                  char *why, size_t why_cap);

/* Applies a to the connection's options: user + password (read now) or the
 * .creds file, and TLS (secure, CA, client certificate, expected hostname).
 * A setting that is wrong is logged (with conn, the connection's name) and
 * returned as NATS_INVALID_ARG. a NULL is all empty: no credentials, TLS
 * only for a tls:// URL (cnats does not infer it from the scheme). A
 * group/world-readable password file is only warned about. */
natsStatus ss_nats_auth_apply(const ss_nats_auth *a, natsOptions *o, const char *url,
                              const char *conn);

#endif

/* ss_nats_auth.c — NATS credentials and TLS of a connection (ss_nats_auth.h).
 *
 * Threads: whoever builds the connection's options (ss_nats_create's
 * caller, the owner's thread); nothing here is shared or kept. */
#include "ss_nats_auth.h"

#include "ss_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool ss_nats_auth__set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

int ss_nats_auth_check(const ss_nats_auth *a, char *why, size_t why_cap)
{
    const char *bad = NULL;
    if (ss_nats_auth__set(a->user) != ss_nats_auth__set(a->password_file))
        bad = "STATSYNC_NATS_USER and STATSYNC_NATS_PASSWORD_FILE go together: set both or neither";
    else if (ss_nats_auth__set(a->creds_file) && ss_nats_auth__set(a->user))
        bad = "STATSYNC_NATS_CREDS replaces STATSYNC_NATS_USER / STATSYNC_NATS_PASSWORD_FILE: set "
              "one way";
    else if (ss_nats_auth__set(a->tls_cert) != ss_nats_auth__set(a->tls_key))
        bad = "STATSYNC_NATS_TLS_CERT and STATSYNC_NATS_TLS_KEY go together: set both or neither";
    if (bad == NULL)
        return 0;
    snprintf(why, why_cap, "%s", bad);
    return -1;
}

bool ss_nats_auth_tls(const ss_nats_auth *a, const char *url)
{
    if (a != NULL && (ss_nats_auth__set(a->tls_ca) || ss_nats_auth__set(a->tls_cert)))
        return true;
    /* any of the URLs: cnats itself turns TLS on for a tls:// one */
    for (const char *p = url; p != NULL && *p != '\0'; p++) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncmp(p, "tls://", 6) == 0)
            return true;
        p = strchr(p, ',');
        if (p == NULL)
            break;
    }
    return false;
}

const char *ss_nats_auth_who(const ss_nats_auth *a)
{
    if (a != NULL && ss_nats_auth__set(a->creds_file))
        return "(creds file)";
    return a != NULL && ss_nats_auth__set(a->user) ? a->user : "";
}

void ss_nats_auth_hostname(const ss_nats_auth *a, const char *url, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (cap == 0)
        return;
    if (a != NULL && ss_nats_auth__set(a->tls_hostname)) {
        snprintf(buf, cap, "%s", a->tls_hostname);
        return;
    }
    if (url == NULL || strchr(url, ',') != NULL)
        return; /* several servers: one name cannot be right for each */
    const char *h = url + strspn(url, " ");
    const char *scheme = strstr(h, "://");
    if (scheme != NULL)
        h = scheme + 3;
    const char *at = strchr(h, '@'); /* user:password@ */
    const char *slash = strchr(h, '/');
    if (at != NULL && (slash == NULL || at < slash))
        h = at + 1;
    size_t n;
    if (h[0] == '[') { /* [IPv6]:port */
        h++;
        n = strcspn(h, "]");
    } else {
        n = strcspn(h, ":/ ");
    }
    if (n + 1 <= cap) {
        memcpy(buf, h, n);
        buf[n] = '\0';
    }
}

/* Why a password file is refused, into why. Returns -1. */
static int ss_nats_auth__refuse(char *why, size_t why_cap, const char *path, const char *what)
{
    snprintf(why, why_cap, "password file %s: %s", path, what);
    return -1;
}

int ss_nats_auth_read_password(const char *path, char *buf, size_t cap, bool *loose,
                               char *why, size_t why_cap)
{
    /* Read one byte more than fits with its newline, to tell "too long". */
    char tmp[SS_NATS_PASSWORD_MAX + 3];
    *loose = false;
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return ss_nats_auth__refuse(why, why_cap, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ss_nats_auth__refuse(why, why_cap, path, "not a regular file");
    }
    *loose = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, tmp + len, sizeof(tmp) - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            explicit_bzero(tmp, sizeof(tmp));
            return ss_nats_auth__refuse(why, why_cap, path, strerror(e));
        }
        len += (size_t)r;
        if (r == 0 || len == sizeof(tmp))
            break;
    }
    close(fd);
    if (len > 0 && tmp[len - 1] == '\n') {
        len--;
        if (len > 0 && tmp[len - 1] == '\r')
            len--;
    }
    const char *bad = NULL;
    if (len == 0)
        bad = "empty";
    else if (len >= cap || len > SS_NATS_PASSWORD_MAX)
        bad = "too long";
    else if (memchr(tmp, '\0', len) != NULL)
        bad = "holds a NUL byte";
    if (bad == NULL) {
        memcpy(buf, tmp, len);
        buf[len] = '\0';
    }
    explicit_bzero(tmp, sizeof(tmp));
    return bad == NULL ? 0 : ss_nats_auth__refuse(why, why_cap, path, bad);
}

/* User and password (the file read now), or the .creds file. */
static natsStatus ss_nats_auth__identity(const ss_nats_auth *a, natsOptions *o, const char *conn)
{
    if (ss_nats_auth__set(a->creds_file)) {
        natsStatus s = natsOptions_SetUserCredentialsFromFiles(o, a->creds_file, NULL);
        if (s != NATS_OK)
            ss_log(SS_LOG_ERROR, "nats credentials file unusable", "{s:s,s:s,s:s}", "conn", conn,
                   "file", a->creds_file, "error", nats_GetLastError(NULL));
        return s;
    }
    if (!ss_nats_auth__set(a->user))
        return NATS_OK;
    char pw[SS_NATS_PASSWORD_MAX + 1];
    char why[256];
    bool loose = false;
    if (ss_nats_auth_read_password(a->password_file, pw, sizeof(pw), &loose, why, sizeof(why)) !=
        0) {
        ss_log(SS_LOG_ERROR, "nats password unusable", "{s:s,s:s,s:s}", "conn", conn, "user",
               a->user, "error", why);
        return NATS_INVALID_ARG;
    }
    if (loose)
        ss_log(SS_LOG_WARN, "nats password file is readable by group or others (chmod 0600)",
               "{s:s,s:s}", "conn", conn, "file", a->password_file);
    natsStatus s = natsOptions_SetUserInfo(o, a->user, pw);
    explicit_bzero(pw, sizeof(pw));
    return s;
}

/* Logs a failed TLS setting with OpenSSL's reason; returns s. */
static natsStatus ss_nats_auth__tls_failed(natsStatus s, const char *conn, const char *what,
                                           const char *file)
{
    ss_log(SS_LOG_ERROR, "nats tls setting unusable", "{s:s,s:s,s:s,s:s}", "conn", conn,
           "setting", what, "file", file, "error", nats_GetLastError(NULL));
    return s;
}

static natsStatus ss_nats_auth__secure(const ss_nats_auth *a, natsOptions *o, const char *url,
                                       const char *conn)
{
    if (!ss_nats_auth_tls(a, url))
        return NATS_OK;
    natsStatus s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK && ss_nats_auth__set(a->tls_ca)) {
        s = natsOptions_LoadCATrustedCertificates(o, a->tls_ca);
        if (s != NATS_OK)
            return ss_nats_auth__tls_failed(s, conn, "STATSYNC_NATS_TLS_CA", a->tls_ca);
    }
    if (s == NATS_OK && ss_nats_auth__set(a->tls_cert)) {
        s = natsOptions_LoadCertificatesChain(o, a->tls_cert, a->tls_key);
        if (s != NATS_OK)
            return ss_nats_auth__tls_failed(s, conn, "STATSYNC_NATS_TLS_CERT", a->tls_cert);
    }
    char host[256];
    ss_nats_auth_hostname(a, url, host, sizeof(host));
    if (s == NATS_OK && host[0] != '\0')
        s = natsOptions_SetExpectedHostname(o, host);
    else if (s == NATS_OK)
        ss_log(SS_LOG_WARN,
               "nats tls: the servers' certificates are checked against the CA only, not a name "
               "(set STATSYNC_NATS_TLS_HOSTNAME)",
               "{s:s}", "conn", conn);
    return s;
}

natsStatus ss_nats_auth_apply(const ss_nats_auth *a, natsOptions *o, const char *url,
                              const char *conn)
{
    static const ss_nats_auth none; /* a tls:// URL still means TLS: cnats does not infer it */
    if (a == NULL)
        a = &none;
    char why[256];
    if (ss_nats_auth_check(a, why, sizeof(why)) != 0) {
        ss_log(SS_LOG_ERROR, "nats credentials misconfigured", "{s:s,s:s}", "conn", conn, "error",
               why);
        return NATS_INVALID_ARG;
    }
    natsStatus s = ss_nats_auth__identity(a, o, conn);
    if (s == NATS_OK)
        s = ss_nats_auth__secure(a, o, url, conn);
    return s;
}

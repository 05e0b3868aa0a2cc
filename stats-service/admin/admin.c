/* admin.c — what statsync-admin's commands share (see admin.h). */
#include "admin.h"

#include "ss_time.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADMIN_TOMBSTONE_MAGIC "statsync partition tombstone\n"

bool admin_json;

void admin_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, ADMIN_PROG ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

void admin_note(const char *fmt, ...)
{
    FILE *f = admin_json ? stderr : stdout;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    fprintf(f, "\n");
    va_end(ap);
    fflush(f);
}

void admin_print_json(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text != NULL)
        printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(j);
}

int admin_cmdline_parse(const admin_cmdline *cl, int argc, char **argv, uint32_t *partition)
{
    char why[300];
    admin_positional pos;
    int rc = admin_args_parse(cl->opts, cl->n_opts, argc, argv, &pos, why, sizeof(why));
    if (rc == 1) {
        admin_args_usage(stdout, cl->usage, cl->text, cl->opts, cl->n_opts);
        return ADMIN_EXIT_OK;
    }
    if (rc != 0) {
        admin_error("%s (try: %s --help)", why, cl->usage);
        return ADMIN_EXIT_USAGE;
    }
    admin_json = *cl->json;
    unsigned long p = 0;
    if (cl->args == ADMIN_ARGS_PARTITION) {
        if (pos.n != 1 || !admin_args_uint(pos.v[0], SS_PARTITION_COUNT_MAX - 1, &p)) {
            admin_error("give one partition number (try --help)");
            return ADMIN_EXIT_USAGE;
        }
        *partition = (uint32_t)p;
    } else if (pos.n > 0) {
        admin_error("unexpected argument '%s' (try --help)", pos.v[0]);
        return ADMIN_EXIT_USAGE;
    }
    return -1;
}

admin_ctl *admin_connect(const admin_nats_opts *n)
{
    char why[600];
    admin_ctl *c = NULL;
    if (n->timeout_ms < 100 || n->timeout_ms > 600000) {
        admin_error("--timeout-ms must be 100-600000");
        return NULL;
    }
    if (ss_nats_auth_check(&n->auth, why, sizeof(why)) != 0) {
        admin_error("%s", why);
        return NULL;
    }
    if (admin_ctl_open(&c, n->url, &n->auth, n->timeout_ms, why, sizeof(why)) != SS_OK)
        admin_error("%s", why);
    return c;
}

size_t admin_each_instance(admin_ctl *c, const admin_list *named, admin_instance_fn fn,
                           void *arg)
{
    static char names[ADMIN_MAX_INSTANCES][ADMIN_NAME_MAX];
    size_t n = 0;
    for (size_t i = 0; named != NULL && i < named->n && i < ADMIN_MAX_INSTANCES; i++)
        snprintf(names[n++], ADMIN_NAME_MAX, "%s", named->v[i]);
    if (n == 0)
        n = admin_ctl_discover(c, names, ADMIN_MAX_INSTANCES);
    for (size_t i = 0; i < n; i++) {
        admin_instance in;
        char why[600];
        ss_err e = admin_ctl_command(c, names[i], ADMIN_STATUS, -1, &in, why, sizeof(why));
        if (!fn(arg, names[i], e == SS_OK ? &in : NULL, why))
            break;
    }
    return n;
}

bool admin_abs_path(const char *dir, char *out)
{
    char cwd[ADMIN_PATH_MAX];
    size_t len = strlen(dir);
    if (dir[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
        cwd[0] = '\0';
    if (len == 0 || len > ADMIN_DIR_MAX || (dir[0] != '/' && len + strlen(cwd) + 1 > ADMIN_DIR_MAX)) {
        admin_error("'%.64s…': a directory must be 1-%d characters (made absolute)", dir,
                    ADMIN_DIR_MAX);
        return false;
    }
    if (dir[0] == '/')
        admin_path(out, ADMIN_PATH_MAX, "%s", dir);
    else
        admin_path(out, ADMIN_PATH_MAX, "%s/%s", cwd, dir);
    len = strlen(out);
    while (len > 1 && out[len - 1] == '/')
        out[--len] = '\0';
    return true;
}

void admin_stamp(char *buf, size_t cap)
{
    char t[SS_RFC3339_LEN];
    ss_rfc3339_format(ss_now_ms(), t);
    for (char *p = t; *p; p++)
        if (*p == ':')
            *p = '-';
    snprintf(buf, cap, "%s", t);
}

int admin_partitions_on_disk(const char *data_dir, uint32_t count, ss_partition_set *out)
{
    memset(out, 0, sizeof(*out));
    out->count = count;
    char path[ADMIN_PATH_MAX];
    admin_path(path, sizeof(path), "%s/partitions", data_dir);
    DIR *d = opendir(path);
    if (d == NULL)
        return errno == ENOENT ? 0 : -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        unsigned long p = 0;
        char sub[ADMIN_PATH_MAX];
        admin_path(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (admin_args_uint(e->d_name, count - 1, &p) && admin_path_kind(sub) == 1)
            ss_partition_set_add(out, (uint32_t)p);
    }
    closedir(d);
    return 0;
}

bool admin_select(const char *spec, const ss_partition_set *avail, ss_partition_set *out,
                  const char *avail_what, char *why, size_t cap)
{
    if (spec == NULL || strcmp(spec, "all") == 0) {
        *out = *avail;
        if (ss_partition_set_size(out) == 0) {
            admin_fmt(why, cap, "there is no partition in %s", avail_what);
            return false;
        }
        return true;
    }
    if (!ss_partition_set_parse(out, spec, avail->count, why, cap))
        return false;
    SS_PARTITION_SET_EACH(p, out) {
        if (!ss_partition_set_has(avail, p)) {
            admin_fmt(why, cap, "partition %u is not in %s", p, avail_what);
            return false;
        }
    }
    return true;
}

void admin_set_text(const ss_partition_set *s, char *buf, size_t cap)
{
    if (ss_partition_set_size(s) == 0 || !ss_partition_set_format(s, buf, cap))
        snprintf(buf, cap, "%s", ss_partition_set_size(s) == 0 ? "none" : "(too many to list)");
}

json_t *admin_set_json(const ss_partition_set *s)
{
    json_t *a = json_array();
    SS_PARTITION_SET_EACH(p, s)
        json_array_append_new(a, json_integer(p));
    return a;
}

int admin_tombstone_write(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    size_t ml = strlen(ADMIN_TOMBSTONE_MAGIC), tl = strlen(text);
    bool ok = write(fd, ADMIN_TOMBSTONE_MAGIC, ml) == (ssize_t)ml &&
              write(fd, text, tl) == (ssize_t)tl && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok) {
        unlink(path);
        errno = e;
        return -1;
    }
    return admin_fsync_parent(path);
}

bool admin_tombstone_is(const char *path)
{
    if (admin_path_kind(path) != 2)
        return false;
    char buf[64] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    size_t ml = strlen(ADMIN_TOMBSTONE_MAGIC);
    return n >= (ssize_t)ml && memcmp(buf, ADMIN_TOMBSTONE_MAGIC, ml) == 0;
}

int admin_tombstone_read(const char *path, char *text, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    size_t ml = strlen(ADMIN_TOMBSTONE_MAGIC), n = 0;
    char buf[4096];
    for (ssize_t r; n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0;)
        n += (size_t)r;
    close(fd);
    buf[n] = '\0';
    if (n < ml || memcmp(buf, ADMIN_TOMBSTONE_MAGIC, ml) != 0 || cap == 0) {
        errno = EINVAL;
        return -1;
    }
    admin_fmt(text, cap, "%s", buf + ml);
    if (text[0] == '\0') /* an empty one stays a tombstone when written back */
        admin_fmt(text, cap, "(moved away)\n");
    return 0;
}

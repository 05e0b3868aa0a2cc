/* manifest.c — a backup's manifest.json (see manifest.h). */
#include "manifest.h"

#include "fmt.h"
#include "ss_time.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *manifest__part(const admin_manifest_part *p)
{
    json_t *dbis = json_array();
    for (size_t i = 0; i < p->sum.n_dbis; i++) {
        const admin_dbi_sum *d = &p->sum.dbis[i];
        char hex[17];
        snprintf(hex, sizeof(hex), "%016" PRIx64, d->digest);
        json_array_append_new(dbis, json_pack("{s:s,s:I,s:s}", "name", d->name, "entries",
                                              (json_int_t)d->entries, "fnv1a64", hex));
    }
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:o}", "partition", (json_int_t)p->partition,
                     "documents", (json_int_t)admin_env_sum_entries(&p->sum, ADMIN_DBI_DOCS),
                     "idempotency_records",
                     (json_int_t)admin_env_sum_entries(&p->sum, ADMIN_DBI_IDEM), "bytes",
                     (json_int_t)p->sum.bytes, "copy_ms", (json_int_t)p->copy_ms, "dbis", dbis);
}

json_t *admin_manifest_to_json(const admin_manifest *m)
{
    char created[SS_RFC3339_LEN];
    ss_rfc3339_format(m->created_ms, created);
    json_t *parts = json_array();
    for (size_t i = 0; i < m->n_parts; i++)
        json_array_append_new(parts, manifest__part(&m->parts[i]));
    return json_pack("{s:s,s:i,s:s,s:I,s:s,s:o,s:o}", "format", ADMIN_MANIFEST_FORMAT, "version",
                     ADMIN_MANIFEST_VERSION, "created", created, "created_ms",
                     (json_int_t)m->created_ms, "source_data_dir", m->source, "partition_count",
                     m->partition_count ? json_integer(m->partition_count) : json_null(),
                     "partitions", parts);
}

/* A non-negative integer member; -1 with why when absent or not one. */
static int manifest__uint(const json_t *o, const char *key, const char *where, uint64_t max,
                          uint64_t *out, char *why, size_t cap)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max) {
        admin_fmt(why, cap, "%s: \"%s\" must be an integer 0-%" PRIu64, where, key, max);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int manifest__digest(const char *hex, uint64_t *out)
{
    if (hex == NULL || strlen(hex) != 16 || strspn(hex, "0123456789abcdef") != 16)
        return -1;
    *out = strtoull(hex, NULL, 16);
    return 0;
}

static int manifest__dbis(const json_t *arr, admin_env_sum *sum, const char *where, char *why,
                          size_t cap)
{
    if (!json_is_array(arr) || json_array_size(arr) > ADMIN_MAX_DBIS) {
        admin_fmt(why, cap, "%s: \"dbis\" must be an array of at most %d", where, ADMIN_MAX_DBIS);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *d = json_array_get(arr, i);
        const char *name = json_string_value(json_object_get(d, "name"));
        const char *hex = json_string_value(json_object_get(d, "fnv1a64"));
        admin_dbi_sum *s = &sum->dbis[sum->n_dbis];
        if (name == NULL || name[0] == '\0' || strlen(name) >= ADMIN_DBI_NAME_MAX) {
            admin_fmt(why, cap, "%s: dbis[%zu] needs a \"name\"", where, i);
            return -1;
        }
        if (sum->n_dbis > 0 && strcmp(sum->dbis[sum->n_dbis - 1].name, name) >= 0) {
            admin_fmt(why, cap, "%s: dbis are not in name order at '%s'", where, name);
            return -1;
        }
        snprintf(s->name, sizeof(s->name), "%s", name);
        if (manifest__uint(d, "entries", where, INT64_MAX, &s->entries, why, cap) != 0)
            return -1;
        if (manifest__digest(hex, &s->digest) != 0) {
            admin_fmt(why, cap, "%s: dbi '%s' needs \"fnv1a64\", 16 lower-case hex digits", where,
                     name);
            return -1;
        }
        sum->n_dbis++;
    }
    return 0;
}

static int manifest__parse_part(const json_t *o, uint32_t count, admin_manifest_part *p,
                                char *why, size_t cap)
{
    memset(p, 0, sizeof(*p));
    uint64_t id = 0, docs = 0, idem = 0, bytes = 0, ms = 0;
    if (!json_is_object(o)) {
        admin_fmt(why, cap, "every member of \"partitions\" must be an object");
        return -1;
    }
    uint64_t max = (count ? count : SS_PARTITION_COUNT_MAX) - 1;
    if (manifest__uint(o, "partition", "a partition", max, &id, why, cap) != 0)
        return -1;
    char where[48];
    snprintf(where, sizeof(where), "partition %" PRIu64, id);
    if (manifest__uint(o, "documents", where, INT64_MAX, &docs, why, cap) != 0 ||
        manifest__uint(o, "idempotency_records", where, INT64_MAX, &idem, why, cap) != 0 ||
        manifest__uint(o, "bytes", where, INT64_MAX, &bytes, why, cap) != 0 ||
        manifest__uint(o, "copy_ms", where, INT64_MAX, &ms, why, cap) != 0 ||
        manifest__dbis(json_object_get(o, "dbis"), &p->sum, where, why, cap) != 0)
        return -1;
    p->partition = (uint32_t)id;
    p->sum.bytes = bytes;
    p->copy_ms = (int64_t)ms;
    if (admin_env_sum_entries(&p->sum, ADMIN_DBI_DOCS) != docs ||
        admin_env_sum_entries(&p->sum, ADMIN_DBI_IDEM) != idem) {
        admin_fmt(why, cap, "%s: \"documents\" / \"idempotency_records\" disagree with its dbis",
                 where);
        return -1;
    }
    return 0;
}

int admin_manifest_from_json(const json_t *j, admin_manifest *m, char *why, size_t cap)
{
    memset(m, 0, sizeof(*m));
    const char *format = json_string_value(json_object_get(j, "format"));
    const json_t *version = json_object_get(j, "version");
    if (!json_is_object(j) || format == NULL || strcmp(format, ADMIN_MANIFEST_FORMAT) != 0) {
        admin_fmt(why, cap, "not a statsync partition backup manifest (\"format\")");
        return -1;
    }
    if (!json_is_integer(version) || json_integer_value(version) != ADMIN_MANIFEST_VERSION) {
        admin_fmt(why, cap, "manifest version %lld is not one this tool reads (%d)",
                 json_is_integer(version) ? (long long)json_integer_value(version) : -1LL,
                 ADMIN_MANIFEST_VERSION);
        return -1;
    }
    const json_t *count = json_object_get(j, "partition_count");
    uint64_t c = 0, created = 0;
    if (!json_is_null(count) &&
        (manifest__uint(j, "partition_count", "the manifest", SS_PARTITION_COUNT_MAX, &c, why,
                        cap) != 0 ||
         c == 0)) {
        admin_fmt(why, cap, "\"partition_count\" must be null or 1-%d", SS_PARTITION_COUNT_MAX);
        return -1;
    }
    if (manifest__uint(j, "created_ms", "the manifest", INT64_MAX, &created, why, cap) != 0)
        return -1;
    m->partition_count = (uint32_t)c;
    m->created_ms = (int64_t)created;
    const char *src = json_string_value(json_object_get(j, "source_data_dir"));
    snprintf(m->source, sizeof(m->source), "%s", src ? src : "");
    const json_t *parts = json_object_get(j, "partitions");
    if (!json_is_array(parts) || json_array_size(parts) > SS_PARTITION_COUNT_MAX) {
        admin_fmt(why, cap, "\"partitions\" must be an array of at most %d",
                 SS_PARTITION_COUNT_MAX);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(parts); i++) {
        admin_manifest_part *p = &m->parts[m->n_parts];
        if (manifest__parse_part(json_array_get(parts, i), m->partition_count, p, why, cap) != 0)
            return -1;
        if (m->n_parts > 0 && m->parts[m->n_parts - 1].partition >= p->partition) {
            admin_fmt(why, cap, "partition %u: listed twice or out of order", p->partition);
            return -1;
        }
        m->n_parts++;
    }
    return 0;
}

const admin_manifest_part *admin_manifest_find(const admin_manifest *m, uint32_t p)
{
    for (size_t i = 0; i < m->n_parts; i++)
        if (m->parts[i].partition == p)
            return &m->parts[i];
    return NULL;
}

int admin_manifest_write(const admin_manifest *m, const char *dir, char *why, size_t cap)
{
    char tmp[4200], path[4200];
    admin_path(tmp, sizeof(tmp), "%s/%s.tmp", dir, ADMIN_MANIFEST_FILE);
    admin_path(path, sizeof(path), "%s/%s", dir, ADMIN_MANIFEST_FILE);
    json_t *j = admin_manifest_to_json(m);
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    int fd = text ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640) : -1;
    size_t len = text ? strlen(text) : 0, off = 0;
    while (fd >= 0 && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    bool ok = fd >= 0 && off == len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    free(text);
    if (!ok || admin_rename_durable(tmp, path) != 0) {
        admin_fmt(why, cap, "cannot write %s: %s", path, strerror(ok ? errno : e));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int admin_manifest_read(const char *dir, admin_manifest *m, char *why, size_t cap)
{
    char path[4200];
    admin_path(path, sizeof(path), "%s/%s", dir, ADMIN_MANIFEST_FILE);
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        admin_fmt(why, cap, "cannot read %s: %s (a backup without its manifest is incomplete)",
                 path, jerr.text);
        return -1;
    }
    char inner[400];
    int rc = admin_manifest_from_json(j, m, inner, sizeof(inner));
    json_decref(j);
    if (rc != 0)
        admin_fmt(why, cap, "%s: %s", path, inner);
    return rc;
}

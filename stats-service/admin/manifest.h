/* manifest.h — what a partition backup holds, written beside it as
 * DIR/manifest.json so that a restore can verify what it copies back:
 *
 *   {"format":"statsync-partition-backup","version":1,
 *    "created":"2026-12-01T12:00:00.000Z","created_ms":…,
 *    "source_data_dir":"/var/lib/statsync","partition_count":64,   (null: not known)
 *    "partitions":[{"partition":5,"documents":120,"idempotency_records":340,
 *                   "bytes":131072,"copy_ms":4,
 *                   "dbis":[{"name":"docs","entries":120,"fnv1a64":"9f…"},
 *                           {"name":"idem","entries":340,"fnv1a64":"…"},
 *                           {"name":"idem_time","entries":340,"fnv1a64":"…"}]}]}
 *
 * `documents` and `idempotency_records` are the entries of the docs and
 * idem DBIs (partenv.h: every DBI is listed, with a digest of its content).
 * The manifest is written last (a backup without one is incomplete).
 *
 * Pure but for admin_manifest_write / _read (files); any thread. */
#ifndef ADMIN_MANIFEST_H
#define ADMIN_MANIFEST_H

#include "partenv.h"
#include "ss_partition.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ADMIN_MANIFEST_FORMAT "statsync-partition-backup"
#define ADMIN_MANIFEST_VERSION 1
#define ADMIN_MANIFEST_FILE "manifest.json"

typedef struct admin_manifest_part {
    uint32_t partition;
    admin_env_sum sum;
    int64_t copy_ms;
} admin_manifest_part;

typedef struct admin_manifest {
    uint32_t partition_count; /* 0: not known */
    int64_t created_ms;
    char source[4096];
    size_t n_parts;
    admin_manifest_part parts[SS_PARTITION_COUNT_MAX]; /* ascending */
} admin_manifest;

/* A new JSON object (the caller's). */
json_t *admin_manifest_to_json(const admin_manifest *m);
/* Reads j into m. 0, or -1 with why (a missing or mistyped member, another
 * format or version, a partition twice or not below the count, counts that
 * disagree with the DBIs, DBIs out of name order). */
int admin_manifest_from_json(const json_t *j, admin_manifest *m, char *why, size_t cap);
/* The part of partition p, or NULL. */
const admin_manifest_part *admin_manifest_find(const admin_manifest *m, uint32_t p);

/* DIR/manifest.json, durably: written to a temporary file, flushed, renamed. */
int admin_manifest_write(const admin_manifest *m, const char *dir, char *why, size_t cap);
int admin_manifest_read(const char *dir, admin_manifest *m, char *why, size_t cap);

#endif

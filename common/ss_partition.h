/* ss_partition.h — users split into a fixed number of partitions (DESIGN §5):
 * the partition function, partition sets, and the stats subjects that carry
 * the partition. Defined once, here; every service that routes or checks a
 * stats message uses it.
 *
 * The partition of a userId is FNV-1a (32 bit) of its bytes, as it is in
 * the token's `sub` (not the subject encoding), modulo the cluster's count
 * (STATSYNC_PARTITION_COUNT). It must never change between versions: a
 * change would move every user to another partition, away from their
 * document. tests/unit/test_partition.c pins it with a fixed table.
 *
 * Pure functions; any thread. */
#ifndef SS_PARTITION_H
#define SS_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_PARTITION_COUNT_DEFAULT 64
#define SS_PARTITION_COUNT_MAX 1024

/* FNV-1a 32 of the userId's bytes. */
uint32_t ss_partition_hash(const char *user_id, size_t len);
/* The partition of user_id among count (1..SS_PARTITION_COUNT_MAX). */
uint32_t ss_partition_of(const char *user_id, uint32_t count);

/* A set of partitions of a cluster of `count`. */
typedef struct ss_partition_set {
    uint32_t count;
    uint64_t bits[SS_PARTITION_COUNT_MAX / 64];
} ss_partition_set;

/* Parses a set: "" or "all" (every partition), or a comma-separated list of
 * numbers and inclusive ranges ("0-31", "32-63", "0,5,9", "0-3,8").
 * Spaces around items are allowed; an empty item, a number out of
 * 0..count-1, a reversed range, an item twice (overlap) or anything else is
 * refused with *why (a sentence naming the item). */
bool ss_partition_set_parse(ss_partition_set *out, const char *spec, uint32_t count, char *why,
                            size_t why_cap);
void ss_partition_set_all(ss_partition_set *out, uint32_t count);
bool ss_partition_set_has(const ss_partition_set *s, uint32_t p);
void ss_partition_set_add(ss_partition_set *s, uint32_t p);
void ss_partition_set_del(ss_partition_set *s, uint32_t p);
uint32_t ss_partition_set_size(const ss_partition_set *s);
/* The first partition of s at or after p; s->count when there is none. */
uint32_t ss_partition_set_next(const ss_partition_set *s, uint32_t p);
/* Walks the partitions of s in ascending order:
 *   SS_PARTITION_SET_EACH(p, &sel) copy(p);  */
#define SS_PARTITION_SET_EACH(p, s)                                                          \
    for (uint32_t p = ss_partition_set_next((s), 0); p < (s)->count;                         \
         p = ss_partition_set_next((s), p + 1))
/* The canonical text ("0-31,40"; "" when empty). False when it does not fit. */
bool ss_partition_set_format(const ss_partition_set *s, char *buf, size_t cap);

/* "<base>.<partition>.<token of user_id>" (ss_subjects.h's token), the
 * partition that of user_id among count. False (buf "") when user_id is not
 * valid or it does not fit. */
bool ss_subject_partitioned(char *buf, size_t cap, const char *base, uint32_t count,
                            const char *user_id);
/* The partition number of "<base>.<partition>.<anything>"; false when the
 * subject does not have that shape (decimal, no leading zero). */
bool ss_subject_partition_parse(const char *subject, const char *base, uint32_t *partition);

#endif

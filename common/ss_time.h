/* ss_time.h — clocks and RFC 3339 timestamps (UTC, millisecond precision). */
#ifndef SS_TIME_H
#define SS_TIME_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define SS_RFC3339_LEN 25 /* "2024-01-15T10:30:00.000Z" + NUL */

/* Wall clock, ms since the Unix epoch. */
int64_t ss_now_ms(void);
/* Monotonic clock in ms (for timeouts and durations). */
int64_t ss_mono_ms(void);
/* Monotonic clock in ns. */
int64_t ss_mono_ns(void);

/* A condition variable whose timed waits run on the monotonic clock (a
 * wall-clock step never cuts or stretches a wait). */
void ss_cond_init_mono(pthread_cond_t *cv);
/* The CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait on such a
 * condition variable. */
struct timespec ss_mono_deadline(int64_t ms);

/* Formats ms since epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (>= SS_RFC3339_LEN). */
void ss_rfc3339_format(int64_t ms, char buf[SS_RFC3339_LEN]);

/* Parses an RFC 3339 date-time ("2024-01-15T10:30:00Z", optional fraction,
 * 'Z' or +hh:mm / -hh:mm offset) of exactly len bytes. Fractions past ms are
 * truncated. Returns 0 and sets *ms, or -1 when the text is not a valid
 * RFC 3339 date-time between years 1970 and 9999. */
int ss_rfc3339_parse(const char *s, size_t len, int64_t *ms);

#endif

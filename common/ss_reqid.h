/* ss_reqid.h — request ids: one id per client request (a REST request, a
 * socket event) that its log lines carry, from the gateway across NATS into
 * the stats-service.
 *
 * The gateway takes the client's X-Request-Id when it is sane (1-64 of
 * [A-Za-z0-9._-]), else makes one (ss_reqid_new), and returns it on the
 * response. A request message on NATS carries it in the header
 * X-Request-Id (ss_reqid_publish); the receiver reads it back
 * (ss_reqid_set_msg). proto/README.md, "Headers".
 *
 * The current request of a thread: whoever handles a request sets it for
 * the time it works on it (ss_reqid_set / ss_reqid_set_msg ... ss_reqid_clear)
 * and every ss_log line the thread writes meanwhile carries it as
 * "request_id" (ss_log.c). Thread-local: nothing is shared between threads. */
#ifndef SS_REQID_H
#define SS_REQID_H

#include <nats/nats.h>
#include <stdbool.h>

#define SS_REQID_MAX 64
/* The HTTP header (X-Request-Id in and out) and the NATS message header. */
#define SS_REQID_HEADER "X-Request-Id"

/* 1..SS_REQID_MAX characters of [A-Za-z0-9._-]. NULL: false. */
bool ss_reqid_valid(const char *s);
/* A new id: 16 lower-case hex digits, never the same twice in a process,
 * random across processes. Any thread. */
void ss_reqid_new(char out[SS_REQID_MAX + 1]);
/* in when it is valid, else a new id; into out. Returns out. */
const char *ss_reqid_take(const char *in, char out[SS_REQID_MAX + 1]);

/* The calling thread's current request id: id is borrowed (it must stay
 * valid until ss_reqid_clear or the next set); NULL clears. */
void ss_reqid_set(const char *id);
/* The current request is msg's: its X-Request-Id header, read only when a
 * log line asks for it (ss_reqid_current), so a thread that writes no line
 * never parses headers. msg must stay valid until ss_reqid_clear, the next
 * set or the first ss_reqid_current (which copies the id). A missing or
 * invalid header: no id. */
void ss_reqid_set_msg(natsMsg *msg);
void ss_reqid_clear(void);
/* The calling thread's current request id, or NULL. Valid until the thread
 * sets or clears it. */
const char *ss_reqid_current(void);

/* Publishes a request (reply may be NULL) carrying id in its X-Request-Id
 * header; id NULL (or a server without header support): a plain publish.
 * Any thread. */
natsStatus ss_reqid_publish(natsConnection *nc, const char *subject, const char *reply,
                            const void *data, int len, const char *id);
/* hold true: the calling thread keeps the messages ss_reqid_publish made
 * (up to a bound) and frees them at hold false, together. cnats hands every
 * message made with natsMsg_Create to its garbage-collector thread and wakes
 * it for each one that finds it waiting: held over a loop turn (the
 * gateway's service thread, rooms.c), a turn's requests wake it once, not
 * once each. */
void ss_reqid_hold(bool on);

#endif

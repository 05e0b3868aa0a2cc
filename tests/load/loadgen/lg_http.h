/* lg_http.h — just enough HTTP/1.1 response parsing for keep-alive REST load:
 * status, where the response ends (Content-Length or chunked), and whether
 * the server will close. Pure, no allocation. */
#ifndef LG_HTTP_H
#define LG_HTTP_H

#include <stddef.h>

typedef enum lg_http_rc {
    LG_HTTP_OK = 0,     /* a whole response: *status, *total, *close set */
    LG_HTTP_INCOMPLETE, /* read more                                     */
    LG_HTTP_BAD,        /* not HTTP/1.x, no length, head over max, …     */
} lg_http_rc;

/* buf holds a response from its first byte. total = head + body bytes. */
lg_http_rc lg_http_response(const char *buf, size_t len, size_t max_head, int *status,
                            size_t *total, int *close);

#endif

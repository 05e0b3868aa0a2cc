/* rest_server.h — the REST edge (libmicrohttpd) of the gateway.
 * Routes and their contract: ../shared/DESIGN.md §2, README "REST API". */
#ifndef REST_SERVER_H
#define REST_SERVER_H

#include "gateway.h"

typedef struct rest_server rest_server;

/* Starts listening on gw->cfg.api_port (MHD's own thread). Returns 0 or -1. */
int rest_server_start(gateway *gw, rest_server **out);
/* Stops accepting, waits up to gw->cfg.shutdown_grace_ms for in-flight
 * requests, then stops the daemon and frees. */
void rest_server_stop(rest_server *rs);

#endif

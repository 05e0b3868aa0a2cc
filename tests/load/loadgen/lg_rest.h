/* lg_rest.h — REST mode (see lg_rest_run.c). */
#ifndef LG_REST_H
#define LG_REST_H

#include "lg_options.h"
#include "lg_stats.h"

/* Runs the REST load described by o into st. 0 = ran (st complete),
 * 2 = setup failure (reason on stderr). */
int lg_rest_run(const lg_options *o, lg_stats *st);

#endif

/* main.c — statsync-load: a load generator for statsync, on loopback only.
 *
 *   statsync-load --port 3001 --conns 1000 --rate 2000 --duration 10 --secret …
 *   statsync-load --mode rest --port 3000 --conns 64 --duration 10 --secret …
 *
 * Prints one JSON report on stdout (and to --report FILE). SIGINT/SIGTERM end
 * the run early, still with a report of what was measured. A hard deadline
 * (--deadline, default: the sum of the phases + 10 s) ends the process
 * whatever it is doing. Threads: one. */
#include "lg_net.h"
#include "lg_options.h"
#include "lg_rest.h"
#include "lg_sio_mode.h"
#include "lg_stats.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void main__stop(int sig)
{
    (void)sig;
    lg_stop_requested = 1;
}

static void main__deadline(int sig)
{
    (void)sig;
    static const char msg[] = "statsync-load: hard deadline reached, exiting\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(3);
}

int main(int argc, char **argv)
{
    lg_options o;
    int rc = lg_options_parse(&o, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = main__stop; /* no SA_RESTART: epoll_wait returns at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGALRM, main__deadline);
    alarm((unsigned)ceil(o.deadline_s));

    lg_stats *st = malloc(sizeof *st);
    if (!st) {
        fprintf(stderr, "statsync-load: out of memory\n");
        return 2;
    }
    lg_stats_init(st);
    rc = o.mode == LG_MODE_REST ? lg_rest_run(&o, st) : lg_sio_run(&o, st);
    alarm(0);

    if (st->mode) {
        lg_report_write(stdout, st);
        fflush(stdout);
        if (o.report_file) {
            FILE *f = fopen(o.report_file, "w");
            if (!f) {
                perror("statsync-load: --report");
                rc = rc ? rc : 2;
            } else {
                lg_report_write(f, st);
                fclose(f);
            }
        }
    }
    free(st);
    return rc;
}

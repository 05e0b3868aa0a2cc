/* main.c — statsync-admin: operators' tool for the stats-service's
 * partitions (stats-service/README.md, "Moving, backing up and restoring
 * partitions"). Dispatches `partition <command>` to cmd_*.c.
 *
 * Threads: the main thread; cnats adds its own for the connection. */
#include "admin.h"

#include "ss_log.h"

#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef struct admin_cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    bool hold_signals; /* it changes files: an interrupt waits until it is done */
    const char *summary;
} admin_cmd;

static const admin_cmd admin__cmds[] = {
    {"status", cmd_status, false,
     "which instance serves which partition; the partitions without owner"},
    {"move", cmd_move, true,
     "P --from A --to B: release, copy, verify and acquire a partition elsewhere"},
    {"backup", cmd_backup, false,
     "online compacted copy of partitions while they are served, with a manifest"},
    {"restore", cmd_restore, true,
     "a backup's partitions back into a data directory, verified against the manifest"},
    {"split-legacy", cmd_split_legacy, true,
     "a data directory from before partitions (data.mdb) into partitions/<p>/"},
    {"release", cmd_release, true, "P --instance A: A stops serving P and gives its lease back"},
    {"acquire", cmd_acquire, true, "P --instance A: A takes P's lease and serves it"},
};

static void admin__usage(FILE *f)
{
    fprintf(f, ADMIN_PROG " — operators' tool for statsync's stats-service partitions\n\n"
               "Usage: " ADMIN_PROG " partition <command> [options]\n"
               "       " ADMIN_PROG " partition <command> --help\n\nCommands:\n");
    for (size_t i = 0; i < SS_COUNT(admin__cmds); i++)
        fprintf(f, "  %-14s %s\n", admin__cmds[i].name, admin__cmds[i].summary);
    fprintf(f,
            "\nNATS (status, move, release, acquire; restore when asked): --nats or "
            "STATSYNC_NATS_URL, and the\ncredentials the services use: STATSYNC_NATS_USER + "
            "STATSYNC_NATS_PASSWORD_FILE, or STATSYNC_NATS_CREDS\n(the `admin` user of "
            "scripts/nats-config.sh), STATSYNC_NATS_TLS_* for TLS.\n"
            "Exit status: 0 done, 1 failed (said on stderr), 2 usage error.\n");
}

/* SIGINT / SIGTERM / SIGHUP wait (blocked, in cnats' threads too) while a
 * command changes files: every step is bounded, and a half-done move is
 * what an interrupt must not leave. */
static void admin__hold_signals(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}

int main(int argc, char **argv)
{
    ss_log_init(ADMIN_PROG, SS_LOG_ERROR);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        admin__usage(stdout);
        return ADMIN_EXIT_OK;
    }
    if (argc < 3 || strcmp(argv[1], "partition") != 0) {
        admin__usage(stderr);
        return ADMIN_EXIT_USAGE;
    }
    for (size_t i = 0; i < SS_COUNT(admin__cmds); i++) {
        if (strcmp(argv[2], admin__cmds[i].name) != 0)
            continue;
        if (admin__cmds[i].hold_signals)
            admin__hold_signals();
        int rc = admin__cmds[i].run(argc - 3, argv + 3);
        nats_CloseAndWait(2000); /* cnats' threads and memory (nothing if unused) */
        return rc;
    }
    if (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
        admin__usage(stdout);
        return ADMIN_EXIT_OK;
    }
    admin_error("unknown command 'partition %s' (try --help)", argv[2]);
    return ADMIN_EXIT_USAGE;
}

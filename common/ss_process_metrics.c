/* ss_process_metrics.c — process_* and statsync_build_info (ss_process_metrics.h).
 * The gauge functions run on the scraping thread; they only read /proc and
 * call getrusage / getrlimit. */
#include "ss_process_metrics.h"

#include "ss_build_info.h"
#include "ss_metrics.h"
#include "ss_time.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static double ss_proc__start_s; /* written once by ss_process_metrics_init */

static double ss_proc__cpu(void *arg)
{
    (void)arg;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Field `which` (0: size, 1: resident) of /proc/self/statm, in bytes. */
static int64_t ss_proc__statm(int which)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    int n = f ? fscanf(f, "%llu %llu", &size, &resident) : 0;
    if (f)
        fclose(f);
    if (n != 2)
        return 0;
    return (int64_t)(which == 0 ? size : resident) * (int64_t)sysconf(_SC_PAGESIZE);
}

static int64_t ss_proc__rss(void *arg)
{
    (void)arg;
    return ss_proc__statm(1);
}

static int64_t ss_proc__vsize(void *arg)
{
    (void)arg;
    return ss_proc__statm(0);
}

/* Entries of /proc/self/fd, not counting the one this reading opened. */
static int64_t ss_proc__open_fds(void *arg)
{
    (void)arg;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    int self = dirfd(d);
    int64_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.' && atoi(e->d_name) != self)
            n++;
    closedir(d);
    return n;
}

static int64_t ss_proc__max_fds(void *arg)
{
    (void)arg;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 0;
    return (int64_t)rl.rlim_cur;
}

static double ss_proc__start(void *arg)
{
    (void)arg;
    return ss_proc__start_s;
}

/* Seconds since the epoch the process started: the boot time (/proc/stat
 * btime) plus its start in clock ticks after boot (/proc/self/stat field
 * 22); 0 when /proc says neither. */
static double ss_proc__read_start(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command may hold spaces and ')' */
    unsigned long long ticks = 0;
    for (int field = 2; p != NULL && field < 22; field++) /* p is at the end of field `field` */
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p + 1, "%llu", &ticks) != 1)
        return 0;
    unsigned long long btime = 0;
    char line[256];
    f = fopen("/proc/stat", "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    if (f)
        fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (btime == 0 || hz <= 0)
        return 0;
    return (double)btime + (double)ticks / (double)hz;
}

void ss_process_metrics_init(const char *service)
{
    ss_proc__start_s = ss_proc__read_start();
    if (ss_proc__start_s <= 0)
        ss_proc__start_s = (double)ss_now_ms() / 1000.0;
    ss_counter_fn_double("process_cpu_seconds_total", "Total user and system CPU time spent in "
                         "seconds.", NULL, ss_proc__cpu, NULL);
    ss_gauge_fn("process_resident_memory_bytes", "Resident memory size in bytes.", NULL,
                ss_proc__rss, NULL);
    ss_gauge_fn("process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL,
                ss_proc__vsize, NULL);
    ss_gauge_fn("process_open_fds", "Number of open file descriptors.", NULL, ss_proc__open_fds,
                NULL);
    ss_gauge_fn("process_max_fds", "Maximum number of open file descriptors.", NULL,
                ss_proc__max_fds, NULL);
    ss_gauge_fn_double("process_start_time_seconds",
                       "Start time of the process since unix epoch in seconds.", NULL,
                       ss_proc__start, NULL);
    char labels[256];
    ss_metric_labels(labels, sizeof(labels), "version", ss_build_version, "commit",
                     ss_build_commit, "service", service, NULL);
    ss_gauge_set(ss_gauge_get("statsync_build_info",
                              "The build of this process: version, git commit, service (always 1)",
                              labels),
                 1);
}

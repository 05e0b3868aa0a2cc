/* ss_process_metrics.h — what every statsync process exports about itself,
 * named as the Prometheus client libraries name it, so stock dashboards and
 * alerts work:
 *
 *   process_cpu_seconds_total       user + system CPU time (counter)
 *   process_resident_memory_bytes   resident set size
 *   process_virtual_memory_bytes    virtual memory size
 *   process_open_fds                open file descriptors
 *   process_max_fds                 the open-files limit (RLIMIT_NOFILE)
 *   process_start_time_seconds      start time, seconds since the epoch
 *   statsync_build_info{version,commit,service} 1
 *
 * All read at scrape time (Linux /proc and getrusage), none polled. */
#ifndef SS_PROCESS_METRICS_H
#define SS_PROCESS_METRICS_H

/* Registers them; service is the build_info "service" label ("gateway",
 * "stats-service", "presence-service"), borrowed. Call once, early, on the
 * main thread (the start time is read then). */
void ss_process_metrics_init(const char *service);

#endif

/* lg_report.c — the JSON report (see lg_stats.h). */
#include "lg_stats.h"

#include <string.h>

static const char *const ERR_NAMES[LG_ERR__COUNT] = {
#define LG_ERR_NAME(name) #name,
    LG_ERRORS(LG_ERR_NAME)
#undef LG_ERR_NAME
};

void lg_stats_init(lg_stats *s)
{
    memset(s, 0, sizeof *s);
    lg_hist_init(&s->hist);
    lg_hist_init(&s->all_hist);
}

static void report__hist(FILE *f, const char *name, const lg_hist *h)
{
    fprintf(f,
            "\"%s\":{\"p50\":%llu,\"p90\":%llu,\"p95\":%llu,\"p99\":%llu,\"p999\":%llu,"
            "\"max\":%llu,\"mean\":%.1f,\"count\":%llu}",
            name, (unsigned long long)lg_hist_percentile(h, 50),
            (unsigned long long)lg_hist_percentile(h, 90),
            (unsigned long long)lg_hist_percentile(h, 95),
            (unsigned long long)lg_hist_percentile(h, 99),
            (unsigned long long)lg_hist_percentile(h, 99.9), (unsigned long long)h->max,
            lg_hist_mean(h), (unsigned long long)h->total);
}

uint64_t lg_stats_error_total(const lg_stats *s)
{
    uint64_t t = 0;
    for (int i = 0; i < LG_ERR__COUNT; i++)
        t += s->errors[i];
    return t;
}

void lg_report_write(FILE *f, const lg_stats *s)
{
    uint64_t unmatched = s->sent > s->matched ? s->sent - s->matched : 0;
    double tput = s->duration_s > 0 ? (double)s->matched / s->duration_s : 0.0;
    fprintf(f,
            "{\"mode\":\"%s\",\"conns\":%ld,\"users\":%ld,\"target_rate\":%.1f,"
            "\"connected\":%ld,\"connect_errors\":%ld,\"connect_s\":%.3f,"
            "\"sent\":%llu,\"matched\":%llu,\"unmatched\":%llu,\"warmup_sent\":%llu,"
            "\"pushes\":%llu,\"send_behind\":%llu,\"throughput_per_s\":%.1f,",
            s->mode, s->conns, s->users, s->target_rate, s->connected, s->connect_errors,
            s->connect_s, (unsigned long long)s->sent, (unsigned long long)s->matched,
            (unsigned long long)unmatched, (unsigned long long)s->warmup_sent,
            (unsigned long long)s->pushes, (unsigned long long)s->send_behind, tput);
    report__hist(f, "latency_us", &s->hist);
    if (strcmp(s->mode, "sio") == 0) {
        /* every device of the sender's user (with one device each: the own push) */
        uint64_t all_unmatched = s->sent > s->all_matched ? s->sent - s->all_matched : 0;
        fprintf(f, ",\"devices\":%ld,\"all_devices_matched\":%llu,\"all_devices_unmatched\":%llu,",
                s->devices, (unsigned long long)s->all_matched,
                (unsigned long long)all_unmatched);
        report__hist(f, "all_devices_us", &s->all_hist);
    }
    fprintf(f, ",\"errors\":{");
    for (int i = 0; i < LG_ERR__COUNT; i++)
        fprintf(f, "%s\"%s\":%llu", i ? "," : "", ERR_NAMES[i], (unsigned long long)s->errors[i]);
    fprintf(f, "},\"error_total\":%llu,\"duration_s\":%.3f}\n",
            (unsigned long long)lg_stats_error_total(s), s->duration_s);
}

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
    const lg_hist *h = &s->hist;
    fprintf(f,
            "{\"mode\":\"%s\",\"conns\":%ld,\"users\":%ld,\"target_rate\":%.1f,"
            "\"connected\":%ld,\"connect_errors\":%ld,\"connect_s\":%.3f,"
            "\"sent\":%llu,\"matched\":%llu,\"unmatched\":%llu,\"warmup_sent\":%llu,"
            "\"pushes\":%llu,\"send_behind\":%llu,\"throughput_per_s\":%.1f,"
            "\"latency_us\":{\"p50\":%llu,\"p90\":%llu,\"p95\":%llu,\"p99\":%llu,\"p999\":%llu,"
            "\"max\":%llu,\"mean\":%.1f,\"count\":%llu},\"errors\":{",
            s->mode, s->conns, s->users, s->target_rate, s->connected, s->connect_errors,
            s->connect_s, (unsigned long long)s->sent, (unsigned long long)s->matched,
            (unsigned long long)unmatched, (unsigned long long)s->warmup_sent,
            (unsigned long long)s->pushes, (unsigned long long)s->send_behind, tput,
            (unsigned long long)lg_hist_percentile(h, 50), (unsigned long long)lg_hist_percentile(h, 90),
            (unsigned long long)lg_hist_percentile(h, 95), (unsigned long long)lg_hist_percentile(h, 99),
            (unsigned long long)lg_hist_percentile(h, 99.9), (unsigned long long)h->max,
            lg_hist_mean(h), (unsigned long long)h->total);
    for (int i = 0; i < LG_ERR__COUNT; i++)
        fprintf(f, "%s\"%s\":%llu", i ? "," : "", ERR_NAMES[i], (unsigned long long)s->errors[i]);
    fprintf(f, "},\"error_total\":%llu,\"duration_s\":%.3f}\n",
            (unsigned long long)lg_stats_error_total(s), s->duration_s);
}

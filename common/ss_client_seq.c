/* ss_client_seq.c — clientId / seq rules (see ss_client_seq.h). */
#include "ss_client_seq.h"

#include <stdio.h>
#include <string.h>

bool ss_client_id_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > SS_CLIENT_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool ss_client_id_valid_cstr(const char *s)
{
    return s != NULL && ss_client_id_valid(s, strlen(s));
}

bool ss_seq_valid(uint64_t seq)
{
    return seq >= 1 && seq <= SS_SEQ_MAX;
}

bool ss_client_seqs_of(Statsync__Operation *const *ops, size_t n, ss_client_seqs *out,
                       char *why, size_t cap)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const Statsync__Operation *op = ops[i];
        bool has_id = op->client_id != NULL && op->client_id[0] != '\0';
        if (has_id != (bool)op->has_seq) {
            snprintf(why, cap, "ops[%zu]: clientId and seq go together", i);
            return false;
        }
        if (!has_id)
            continue;
        if (!ss_client_id_valid_cstr(op->client_id)) {
            snprintf(why, cap, "ops[%zu]: clientId must be 1-%d characters of A-Z a-z 0-9 _ -", i,
                     SS_CLIENT_ID_MAX);
            return false;
        }
        if (!ss_seq_valid(op->seq)) {
            snprintf(why, cap, "ops[%zu]: seq must be an integer from 1 to 2^53-1", i);
            return false;
        }
        if (out->numbered == 0) {
            out->client_id = op->client_id;
            out->first = op->seq;
        } else if (strcmp(out->client_id, op->client_id) != 0) {
            snprintf(why, cap, "ops[%zu]: the numbered ops of one request are of one clientId", i);
            return false;
        } else if (op->seq != out->last + 1) {
            snprintf(why, cap, "ops[%zu]: seq %llu does not follow %llu (numbered ops go in order)",
                     i, (unsigned long long)op->seq, (unsigned long long)out->last);
            return false;
        }
        out->last = op->seq;
        out->numbered++;
    }
    return true;
}

/* clients.c — exactly-once per client: judging numbered ops against a
 * client's record, and recording their outcome (see clients.h). */
#include "clients.h"

#include <string.h>

void clients_judge(const ss_client_seqs *seqs, const store_client *rec, bool found,
                   clients_verdict *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t last = found ? rec->last_seq : seqs->first - 1;
    out->expected = last + 1;
    if (seqs->first > last + 1) {
        out->gap = true;
        return;
    }
    uint64_t decided_to = seqs->last < last ? seqs->last : last; /* first..decided_to */
    if (decided_to >= seqs->first)
        out->repeats = (size_t)(decided_to - seqs->first + 1);
    for (uint64_t s = seqs->first; found && s <= decided_to; s++) {
        ss_err e = clients_outcome(rec, s);
        if (e != SS_OK) {
            out->repeat_err = e;
            out->repeat_seq = s;
            break;
        }
    }
    out->has_new = seqs->last > last;
}

ss_err clients_outcome(const store_client *rec, uint64_t seq)
{
    for (size_t i = 0; i < rec->n_refused; i++)
        if (seq >= rec->refused[i].first && seq <= rec->refused[i].last)
            return rec->refused[i].err;
    return SS_OK;
}

bool clients_outcome_exact(const store_client *rec, uint64_t seq)
{
    return seq > rec->refused_floor;
}

bool clients_recordable(ss_err e)
{
    switch (e) {
    case SS_ERR_INVALID_JSON:
    case SS_ERR_UNKNOWN_FIELD:
    case SS_ERR_INVALID_TYPE:
    case SS_ERR_INVALID_VALUE:
    case SS_ERR_OVERFLOW:
    case SS_ERR_BAD_REQUEST:
    case SS_ERR_CONFLICT:
    case SS_ERR_INSUFFICIENT_FUNDS:
        return true;
    default:
        return false;
    }
}

void clients_record(store_client *rec, bool found, uint64_t first, uint64_t last, ss_err err,
                    int64_t used_ms)
{
    if (!found) {
        memset(rec, 0, sizeof(*rec));
        rec->last_seq = first - 1;
        rec->refused_floor = first - 1; /* nothing below first was ever refused here */
    }
    if (last <= rec->last_seq)
        return;
    if (err != SS_OK) {
        uint64_t from = rec->last_seq + 1;
        store_refusal *prev = rec->n_refused ? &rec->refused[rec->n_refused - 1] : NULL;
        if (prev != NULL && prev->err == err && prev->last + 1 == from) {
            prev->last = last;
        } else {
            if (rec->n_refused == STORE_CLIENT_REFUSALS_MAX) { /* the oldest goes */
                rec->refused_floor = rec->refused[0].last;
                memmove(&rec->refused[0], &rec->refused[1],
                        (STORE_CLIENT_REFUSALS_MAX - 1) * sizeof(rec->refused[0]));
                rec->n_refused--;
            }
            rec->refused[rec->n_refused++] = (store_refusal){from, last, err};
        }
    }
    rec->last_seq = last;
    rec->used_at_ms = used_ms;
}

/* ss_error.c — code strings and HTTP statuses of ss_err. */
#include "ss_error.h"

#include <string.h>

static const struct {
    const char *code;
    int status;
} ss_err__table[SS_ERR__COUNT] = {
    [SS_OK] = {"ok", 200},
    [SS_ERR_INVALID_JSON] = {"invalid_json", 400},
    [SS_ERR_UNKNOWN_FIELD] = {"unknown_field", 400},
    [SS_ERR_INVALID_TYPE] = {"invalid_type", 400},
    [SS_ERR_INVALID_VALUE] = {"invalid_value", 400},
    [SS_ERR_OVERFLOW] = {"overflow", 400},
    [SS_ERR_INVALID_USER_ID] = {"invalid_user_id", 400},
    [SS_ERR_BAD_REQUEST] = {"bad_request", 400},
    [SS_ERR_UNAUTHORIZED] = {"unauthorized", 401},
    [SS_ERR_FORBIDDEN] = {"forbidden", 403},
    [SS_ERR_NOT_FOUND] = {"not_found", 404},
    [SS_ERR_METHOD_NOT_ALLOWED] = {"method_not_allowed", 405},
    [SS_ERR_CONFLICT] = {"conflict", 409},
    [SS_ERR_INSUFFICIENT_FUNDS] = {"insufficient_funds", 409},
    [SS_ERR_PAYLOAD_TOO_LARGE] = {"payload_too_large", 413},
    [SS_ERR_UNSUPPORTED_MEDIA] = {"unsupported_media_type", 415},
    [SS_ERR_RATE_LIMITED] = {"rate_limited", 429},
    [SS_ERR_INTERNAL] = {"internal", 500},
    [SS_ERR_UNAVAILABLE] = {"unavailable", 503},
    [SS_ERR_TIMEOUT] = {"timeout", 503},
    [SS_ERR_STORAGE_FULL] = {"storage_full", 507},
    [SS_ERR_TOKEN_EXPIRED] = {"token_expired", 401},
    [SS_ERR_PARTITION_UNAVAILABLE] = {"partition_unavailable", 503},
    [SS_ERR_PARTITION_MISMATCH] = {"partition_mismatch", 500},
    [SS_ERR_SEQ_GAP] = {"seq_gap", 409},
};

const char *ss_err_code(ss_err e)
{
    if ((unsigned)e >= SS_ERR__COUNT)
        return "internal";
    return ss_err__table[e].code;
}

int ss_err_http_status(ss_err e)
{
    if ((unsigned)e >= SS_ERR__COUNT)
        return 500;
    return ss_err__table[e].status;
}

ss_err ss_err_from_status(int status)
{
    static const ss_err generic[] = {SS_ERR_BAD_REQUEST, SS_ERR_FORBIDDEN, SS_ERR_NOT_FOUND,
                                     SS_ERR_CONFLICT,    SS_ERR_RATE_LIMITED, SS_ERR_UNAVAILABLE,
                                     SS_ERR_STORAGE_FULL};
    for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
        if (ss_err__table[generic[i]].status == status)
            return generic[i];
    return SS_ERR_INTERNAL;
}

ss_err ss_err_from_code(const char *code)
{
    if (code == NULL)
        return SS_ERR_INTERNAL;
    for (int i = 0; i < SS_ERR__COUNT; i++)
        if (strcmp(ss_err__table[i].code, code) == 0)
            return (ss_err)i;
    return SS_ERR_INTERNAL;
}

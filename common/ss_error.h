/* ss_error.h — the one error type of statsync.
 *
 * Every layer (gateway, stats-service, presence-service) reports failures as
 * an ss_err. Each value has a stable client-facing code string (the "code" in
 * {"error":{"code","message"}} and in socket acks) and an HTTP status. */
#ifndef SS_ERROR_H
#define SS_ERROR_H

typedef enum ss_err {
    SS_OK = 0,
    SS_ERR_INVALID_JSON,       /* 400 body is not valid JSON / wrong shape   */
    SS_ERR_UNKNOWN_FIELD,      /* 400 a field name we do not know           */
    SS_ERR_INVALID_TYPE,       /* 400 right name, wrong JSON type / null     */
    SS_ERR_INVALID_VALUE,      /* 400 right type, value out of range         */
    SS_ERR_OVERFLOW,           /* 400 result would leave the safe range      */
    SS_ERR_INVALID_USER_ID,    /* 400 not a userId (ss_userid.h)             */
    SS_ERR_BAD_REQUEST,        /* 400 other malformed request                */
    SS_ERR_UNAUTHORIZED,       /* 401 missing / bad / expired token          */
    SS_ERR_FORBIDDEN,          /* 403 someone else's document                */
    SS_ERR_NOT_FOUND,          /* 404                                        */
    SS_ERR_METHOD_NOT_ALLOWED, /* 405                                        */
    SS_ERR_CONFLICT,           /* 409 full write not newer than stored       */
    SS_ERR_INSUFFICIENT_FUNDS, /* 409 diamonds would go below 0              */
    SS_ERR_PAYLOAD_TOO_LARGE,  /* 413                                        */
    SS_ERR_UNSUPPORTED_MEDIA,  /* 415                                        */
    SS_ERR_RATE_LIMITED,       /* 429                                        */
    SS_ERR_INTERNAL,           /* 500                                        */
    SS_ERR_UNAVAILABLE,        /* 503 NATS or a service is unreachable       */
    SS_ERR_TIMEOUT,            /* 503 a service did not answer in time       */
    SS_ERR_STORAGE_FULL,       /* 507 LMDB map full / disk unwritable        */
    SS_ERR_TOKEN_EXPIRED,      /* 401 a live socket's token ran out          */
    SS_ERR_PARTITION_UNAVAILABLE, /* 503 the user's partition has no owner now */
    SS_ERR_PARTITION_MISMATCH, /* 500 services disagree on the partition count */
    SS_ERR_SEQ_GAP,            /* 409 a client's op skips a sequence number   */
    SS_ERR__COUNT
} ss_err;

/* "invalid_json", "insufficient_funds", ...; "ok" for SS_OK. Static string. */
const char *ss_err_code(ss_err e);
/* HTTP status for the error (200 for SS_OK). */
int ss_err_http_status(ss_err e);
/* The error a bare HTTP-like status stands for, when a reply carries no code
 * of its own (400 bad_request, 403, 404, 409 conflict, 429, 503 unavailable,
 * 507; anything else internal). The one status -> code map of every edge. */
ss_err ss_err_from_status(int status);
/* Inverse of ss_err_code; SS_ERR_INTERNAL for an unknown string. */
ss_err ss_err_from_code(const char *code);

#endif

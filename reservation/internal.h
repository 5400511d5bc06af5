/* internal.h — helpers shared by the files of reservation/ only. */
#ifndef GS_RESERVATION_INTERNAL_H
#define GS_RESERVATION_INTERNAL_H

#include "reservation.h"

const char *gs__disk_name(int disk);
const char *gs__mode_name(int mode);

/* Whole unit-seconds: thousandths of a unit times seconds, rounded up (plan.c). */
uint64_t gs__unit_seconds(uint64_t milli, uint64_t seconds);
/* "30 days" or "12 hours" (split.c). */
void gs__duration_text(uint64_t s, char *out, size_t len);
/* A signandpay document's JSON around its DataToSign (split.c); caller frees. */
char *gs__document_json(const gs_doc_opts_t *o, const char *session, const char *amount,
                        const char *data_to_sign);
/* A new session id from the options' generator, or random (split.c). */
void gs__new_session(const gs_doc_opts_t *o, char out[GS_SESSION_LEN + 1]);

#endif

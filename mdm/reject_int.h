/* Internals shared by the files of the reject module (reject.c owns record_reject,
 * reject_retry.c retries through ingest); not for other modules. */
#ifndef MDM_MDM_REJECT_INT_H
#define MDM_MDM_REJECT_INT_H

#include "mdm/reject.h"

/* The record of a payload: the load's {"file", "line", "record"} wrapper is opened (file
 * and line returned when asked), anything else is the record itself. NULL when the
 * payload is not JSON (withheld). New reference. */
json_t *mdm_reject_payload_record(const char *payload, json_t **file, json_t **line);

/* One page of at most want rejects matching f (after f->after, in id order); *res is the
 * caller's to PQclear. MDM_EINVAL for a bad filter. */
mdm_status mdm_reject_page(mdm_db *db, const mdm_reject_filter *f, int want, PGresult **res,
                           mdm_err *err) __attribute__((warn_unused_result));

/* After a retry: reject id (text) accepted, naming the record it wrote; or refused again
 * with the new reasons. */
mdm_status mdm_reject_mark_accepted(mdm_db *db, const char *id, int64_t record_id, mdm_err *err)
    __attribute__((warn_unused_result));
mdm_status mdm_reject_mark_refused(mdm_db *db, const char *id, const json_t *reasons, mdm_err *err)
    __attribute__((warn_unused_result));

#endif

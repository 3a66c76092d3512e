/* Data quality of a golden record: the issues flagged on its member records.
 *
 * Ingest keeps a record whose optional values are invalid and flags each one in the
 * record's "issues" ({pointer, field, reason[, value, dropped]}; mdm/ingest.h). A golden
 * record's data quality lists the issues of its active member records, each with the
 * record it belongs to, so a steward sees why a value is missing or not matched on.
 *
 * Reads are split in two (mdm/db.h pipelining): mdm_quality_call fills the call,
 * mdm_quality_text consumes its result. */
#ifndef MDM_MDM_QUALITY_H
#define MDM_MDM_QUALITY_H

#include "common/mem.h"
#include "mdm/db.h"

#include <stdint.h>

void mdm_quality_call(int64_t entity_id, mdm_db_call *call);

/* Appends {"issues": [{record_id, source, source_key, pointer, field, reason, ...}]} to out
 * and clears res. */
void mdm_quality_text(PGresult *res, mdm_buf *out);

#endif

/* W3C Trace Context (https://www.w3.org/TR/trace-context/): the traceparent header that
 * ties a request, the log lines it writes and the webhooks its changes cause into one
 * trace a tracing system can show.
 *
 *   traceparent: 00-<trace-id: 32 hex>-<parent-id: 16 hex>-<flags: 2 hex>
 *
 * The HTTP server continues the caller's trace (or starts one) with a span of its own,
 * makes it the thread's current span while the handler runs (mdm_trace_current), and
 * names trace_id and span_id in its access line. The outbox stores the current span with
 * each event, and the delivery of that event continues the trace with a span per attempt
 * (docs/OPERATIONS.md, Tracing). */
#ifndef MDM_TRACE_H
#define MDM_TRACE_H

#include <stdbool.h>

typedef struct mdm_trace {
    char trace_id[33]; /* 32 lowercase hex digits, not all zero */
    char span_id[17];  /* 16 lowercase hex digits, not all zero */
    char flags[3];     /* 2 hex digits; bit 0 = sampled */
} mdm_trace;

/* Length of a traceparent value without its NUL. */
#define MDM_TRACEPARENT_LEN 55

/* Parses a traceparent header value. Version 00 must be exactly 55 characters; a later
 * version may add fields after a '-' (the specification's forward compatibility); version
 * ff, upper-case hex and all-zero ids are invalid. False leaves *out unspecified. */
bool mdm_trace_parse(const char *header, mdm_trace *out);

/* A new trace: random trace and span ids, flags 00 (not sampled). */
void mdm_trace_start(mdm_trace *out);

/* A span inside parent's trace: the same trace id and flags, a new random span id. */
void mdm_trace_child(const mdm_trace *parent, mdm_trace *out);

/* Writes the traceparent value of t (version 00) into out. */
void mdm_trace_format(const mdm_trace *t, char out[MDM_TRACEPARENT_LEN + 1]);

/* The calling thread's current span (NULL: none), set by the HTTP server for the time a
 * handler runs; set NULL to clear. The pointer is borrowed and must outlive its use. */
void mdm_trace_set_current(const mdm_trace *t);
const mdm_trace *mdm_trace_current(void);

#endif

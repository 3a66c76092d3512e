/* The message push delivery sends to a subscribed source system (mdm/publish_message.c):
 * the publish-back of a golden change in the receiver's own terms. No database, no
 * network; thread-safe.
 *
 * - An entity's event carries the receiving system's own source keys for the entity and
 *   the golden record mapped to its layout (the subscription's mapping); an attribute
 *   whose surviving value comes from that system's own record, or that its record
 *   already holds with the same value, is withheld (listed in "withheld"). Events that
 *   carry data-quality scores add them ("quality"), other payload fields go to
 *   "details".
 * - A household event carries ids, roles and keys only: the household, its version, its
 *   members, who joined and who left, each with the receiver's keys for it.
 * - Nothing is sent (skipped) for an event a subject erasure scrubbed (except its
 *   "deleted"), for an "updated" event whose every attribute the receiver owns or holds,
 *   and for an "updated" event whose content hash equals the one the receiver was last
 *   sent (unless replayed). */
#ifndef MDM_MDM_PUBLISH_MESSAGE_H
#define MDM_MDM_PUBLISH_MESSAGE_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* One claimed delivery as the message needs it: the outbox event, the receiving
 * subscription, and what the store knows of the receiver's view. Texts as stored (NULL
 * where the column is NULL: the defaults below apply); borrowed. */
typedef struct mdm_publish_event {
    const char *delivery_id; /* named in errors */
    const char *event_id, *type, *occurred_at;
    const char *source;       /* the receiving system */
    long long seq, entity_id; /* entity_id 0 for a household event */
    long long household_id;   /* 0 for an entity's event */
    int version;              /* entity_version, or the household's version */
    const char *payload;      /* the outbox payload (JSON; "{}") */
    const char *source_keys;  /* the receiver's keys for the entity (JSON array; "[]") */
    const char *member_keys;  /* of a household event: {"ID": [keys]} ("{}") */
    const char *held;         /* attributes the receiver owns or holds (JSON array) */
    const char *mapping;      /* the subscription's mapping (JSON object; "{}") */
    const char *sent_hash;    /* content hash of what the receiver has; NULL = unknown */
    bool replayed;            /* a replay sends even an unchanged update */
} mdm_publish_event;

/* The message for one event (a new string, the caller frees), or NULL: skipped (nothing
 * to send; *unchanged when an "updated" event would tell the receiver what it already
 * has) or, with err set, unreadable stored data. hash receives the content's hash (hex
 * SHA-256 of the mapped record and the receiver's keys) when a message was built or found
 * unchanged, else "". */
char *mdm_publish_message(const mdm_publish_event *ev, char hash[65], bool *unchanged,
                          mdm_err *err);

/* Applies an outbound mapping ({"Target": "path.to.field", ...}; special sources
 * "$source_key", "$source_keys", "$entity_id") to a canonical record. An empty mapping
 * returns a copy of the record. Missing paths are left out. New reference. */
json_t *mdm_publish_map(const json_t *mapping, const json_t *record, const json_t *source_keys,
                        int64_t entity_id);

#endif

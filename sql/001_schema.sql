-- 001_schema: the whole data model of docs/ARCHITECTURE.md.
-- Runs inside the transaction of `mdm migrate`; never edited once applied.

-- Source systems and their records --------------------------------------------------

CREATE TABLE source_system (
    code            text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{0,31}$'),
    name            text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('crm', 'loyalty', 'commerce', 'erp', 'pos', 'other')),
    trust           jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(trust) = 'object'),
    mapping         jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(mapping) = 'object'),
    default_country text NOT NULL DEFAULT 'US' CHECK (default_country ~ '^[A-Z]{2}$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE source_system IS 'A system of record (CRM, loyalty, web shop, POS, ERP) that sends customer records; synchronized from configuration.';
COMMENT ON COLUMN source_system.trust IS 'Per-attribute trust, {"email": 90, "*": 50}: higher wins under the source-trust survivorship rule.';
COMMENT ON COLUMN source_system.mapping IS 'Field mapping from the system''s own layout onto the canonical record (and back, for publishing).';

CREATE TABLE source_record (
    id                bigserial PRIMARY KEY,
    source            text NOT NULL REFERENCES source_system (code),
    source_key        text NOT NULL CHECK (source_key <> ''),
    raw               jsonb NOT NULL,
    normalized        jsonb NOT NULL,
    content_hash      text NOT NULL,
    source_updated_at timestamptz,
    received_at       timestamptz NOT NULL DEFAULT now(),
    version           integer NOT NULL DEFAULT 1,
    deleted           boolean NOT NULL DEFAULT false,
    erased            boolean NOT NULL DEFAULT false,
    resolved_at       timestamptz,
    UNIQUE (source, source_key)
);
CREATE INDEX source_record_unresolved ON source_record (id) WHERE resolved_at IS NULL;
COMMENT ON TABLE source_record IS 'The current copy of each record of each source system, raw and normalized to the canonical record.';
COMMENT ON COLUMN source_record.content_hash IS 'SHA-256 of the canonical content: the same content again changes nothing.';
COMMENT ON COLUMN source_record.resolved_at IS 'NULL while the record waits for resolution (bulk loads resolve later).';

CREATE TABLE source_record_history (
    id                bigserial PRIMARY KEY,
    record_id         bigint NOT NULL REFERENCES source_record (id),
    version           integer NOT NULL,
    change            text NOT NULL CHECK (change IN ('insert', 'update', 'delete', 'stale', 'erase')),
    raw               jsonb,
    normalized        jsonb,
    content_hash      text,
    source_updated_at timestamptz,
    changed_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX source_record_history_record ON source_record_history (record_id, id);
COMMENT ON TABLE source_record_history IS 'Every received version of a source record, including stale (out-of-order) updates that were not applied.';

CREATE TABLE record_reject (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,
    source_key  text,
    payload     text NOT NULL,
    reasons     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE record_reject IS 'Records refused by validation, kept with field-level reasons so that nothing is silently lost.';

-- Golden records ----------------------------------------------------------------------

CREATE TABLE entity (
    id          bigserial PRIMARY KEY,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired', 'erased')),
    survivor_id bigint REFERENCES entity (id),
    version     integer NOT NULL DEFAULT 1,
    golden      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (survivor_id IS NULL OR status = 'retired'),
    CHECK (survivor_id IS DISTINCT FROM id)
);
CREATE INDEX entity_survivor ON entity (survivor_id) WHERE survivor_id IS NOT NULL;
COMMENT ON TABLE entity IS 'A golden record: one real person. A merge retires the younger id, whose survivor_id points to the one that lives on.';
COMMENT ON COLUMN entity.golden IS 'The surviving values, materialized from golden_value for fast reads.';
COMMENT ON COLUMN entity.version IS 'Incremented on every change; optimistic concurrency for stewards (If-Match).';

CREATE TABLE entity_version (
    entity_id  bigint NOT NULL REFERENCES entity (id),
    version    integer NOT NULL,
    golden     jsonb NOT NULL,
    reason     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_id, version)
);
COMMENT ON TABLE entity_version IS 'History of golden records: every version with the reason it changed.';

CREATE TABLE membership (
    id          bigserial PRIMARY KEY,
    record_id   bigint NOT NULL REFERENCES source_record (id),
    entity_id   bigint NOT NULL REFERENCES entity (id),
    active      boolean NOT NULL DEFAULT true,
    linked_at   timestamptz NOT NULL DEFAULT now(),
    unlinked_at timestamptz,
    CHECK (active = (unlinked_at IS NULL))
);
CREATE UNIQUE INDEX membership_one_active ON membership (record_id) WHERE active;
CREATE INDEX membership_entity ON membership (entity_id) WHERE active;
COMMENT ON TABLE membership IS 'Cross-reference of source records to golden records; a record has at most one active membership.';

CREATE TABLE link_event (
    id              bigserial PRIMARY KEY,
    action          text NOT NULL CHECK (action IN ('create', 'link', 'unlink', 'merge', 'unmerge', 'split', 'retire', 'erase')),
    method          text NOT NULL CHECK (method IN ('auto', 'manual', 'system')),
    entity_id       bigint NOT NULL REFERENCES entity (id),
    record_id       bigint REFERENCES source_record (id),
    other_entity_id bigint REFERENCES entity (id),
    score           double precision,
    probability     double precision,
    rule            text,
    actor           text NOT NULL,
    reason          text,
    details         jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX link_event_entity ON link_event (entity_id, id);
CREATE INDEX link_event_other ON link_event (other_entity_id) WHERE other_entity_id IS NOT NULL;
CREATE INDEX link_event_record ON link_event (record_id) WHERE record_id IS NOT NULL;
COMMENT ON TABLE link_event IS 'Every link decision (automatic or manual) with score, rule and actor; history is replayed from it and any merge can be undone.';

CREATE TABLE blocking_key (
    key       text NOT NULL,
    record_id bigint NOT NULL REFERENCES source_record (id),
    PRIMARY KEY (key, record_id)
);
CREATE INDEX blocking_key_record ON blocking_key (record_id);
COMMENT ON TABLE blocking_key IS 'Blocking keys of each source record (rule-prefixed strings); candidate lookup for incremental resolution.';

CREATE TABLE key_frequency (
    key     text PRIMARY KEY,
    records integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE key_frequency IS 'How many records share a blocking key; values shared by many people stop counting as evidence.';

CREATE TABLE golden_value (
    entity_id        bigint NOT NULL REFERENCES entity (id),
    attr             text NOT NULL,
    value            jsonb NOT NULL,
    source_record_id bigint REFERENCES source_record (id),
    rule             text NOT NULL,
    chosen_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_id, attr)
);
COMMENT ON TABLE golden_value IS 'The surviving value of each attribute of a golden record, with lineage: winning source record, rule, time.';

CREATE TABLE golden_pin (
    entity_id  bigint NOT NULL REFERENCES entity (id),
    attr       text NOT NULL,
    value      jsonb NOT NULL,
    actor      text NOT NULL,
    reason     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_id, attr)
);
COMMENT ON TABLE golden_pin IS 'Steward overrides of survivorship: a pinned value wins over every rule.';

-- Stewardship ---------------------------------------------------------------------------

CREATE TABLE review_item (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('record_entity', 'entity_entity')),
    record_id       bigint REFERENCES source_record (id),
    entity_id       bigint NOT NULL REFERENCES entity (id),
    other_entity_id bigint REFERENCES entity (id),
    score           double precision NOT NULL,
    probability     double precision NOT NULL,
    explanation     jsonb NOT NULL DEFAULT '[]'::jsonb,
    priority        double precision NOT NULL DEFAULT 0,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'deferred', 'decided', 'superseded')),
    assignee        text,
    decision        text CHECK (decision IN ('match', 'no_match', 'defer')),
    reason          text,
    decided_by      text,
    decided_at      timestamptz,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'record_entity') = (record_id IS NOT NULL)),
    CHECK ((kind = 'entity_entity') = (other_entity_id IS NOT NULL))
);
CREATE INDEX review_item_open ON review_item (priority DESC, id) WHERE status IN ('open', 'claimed', 'deferred');
CREATE INDEX review_item_entity ON review_item (entity_id);
COMMENT ON TABLE review_item IS 'Match-review queue: candidate links between the review and auto-link thresholds, for a data steward to decide.';

CREATE TABLE steward_assertion (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('never_link', 'always_link')),
    record_a    bigint NOT NULL REFERENCES source_record (id),
    record_b    bigint NOT NULL REFERENCES source_record (id),
    actor       text NOT NULL,
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (record_a < record_b),
    UNIQUE (record_a, record_b)
);
COMMENT ON TABLE steward_assertion IS 'Steward decisions that automation never overrides: two records are (never|always) the same person.';

CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    role       text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    reason     text,
    before     jsonb,
    after      jsonb,
    prev_hash  text NOT NULL,
    hash       text NOT NULL UNIQUE
);
COMMENT ON TABLE audit_log IS 'Append-only log of every write by a person or system; each row''s hash covers the previous row''s hash (tamper evidence).';

-- Consent ---------------------------------------------------------------------------------

CREATE TABLE consent_event (
    id            bigserial PRIMARY KEY,
    record_id     bigint REFERENCES source_record (id),
    source        text NOT NULL REFERENCES source_system (code),
    source_key    text NOT NULL,
    purpose       text NOT NULL,
    channel       text NOT NULL,
    contact_point text,
    status        text NOT NULL CHECK (status IN ('granted', 'denied', 'withdrawn')),
    captured_at   timestamptz NOT NULL,
    expires_at    timestamptz,
    lawful_basis  text,
    evidence      text,
    received_at   timestamptz NOT NULL DEFAULT now(),
    event_hash    text NOT NULL UNIQUE
);
CREATE INDEX consent_event_record ON consent_event (record_id, captured_at);
CREATE INDEX consent_event_received ON consent_event (received_at, id);
COMMENT ON TABLE consent_event IS 'Append-only consent events from every source; state per (purpose, channel) is derived from them. event_hash makes an identical event idempotent.';

CREATE TABLE erasure_tombstone (
    id          bigserial PRIMARY KEY,
    entity_id   bigint NOT NULL,
    source_keys jsonb NOT NULL,
    key_hashes  text[] NOT NULL,
    requester   text NOT NULL,
    reason      text,
    erased_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX erasure_tombstone_hashes ON erasure_tombstone USING gin (key_hashes);
COMMENT ON TABLE erasure_tombstone IS 'What remains of an erased subject: ids and hashes of source keys (to flag re-ingest of a stale copy), no personal data.';

-- Publishing ------------------------------------------------------------------------------

CREATE TABLE outbox (
    seq            bigserial PRIMARY KEY,
    event_id       uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    type           text NOT NULL CHECK (type IN ('created', 'updated', 'merged', 'split', 'consent_changed', 'deleted')),
    entity_id      bigint NOT NULL REFERENCES entity (id),
    entity_version integer NOT NULL,
    payload        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_entity ON outbox (entity_id, seq);
COMMENT ON TABLE outbox IS 'Every golden change, written in the same transaction as the change; the change feed and push deliveries read from it.';

CREATE TABLE subscription (
    id           bigserial PRIMARY KEY,
    source       text NOT NULL REFERENCES source_system (code),
    url          text NOT NULL CHECK (url ~ '^https?://'),
    secret       text NOT NULL,
    event_types  text[] NOT NULL DEFAULT '{created,updated,merged,split,consent_changed,deleted}',
    mapping      jsonb NOT NULL DEFAULT '{}'::jsonb,
    active       boolean NOT NULL DEFAULT true,
    max_attempts integer NOT NULL DEFAULT 8 CHECK (max_attempts > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, url)
);
COMMENT ON TABLE subscription IS 'Push subscription of a source system: where and how golden changes are sent back to it.';

CREATE TABLE delivery (
    id              bigserial PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES subscription (id),
    seq             bigint NOT NULL REFERENCES outbox (seq),
    entity_id       bigint NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'acknowledged', 'rejected', 'dead', 'skipped')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer,
    last_response   text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscription_id, seq)
);
CREATE INDEX delivery_due ON delivery (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX delivery_entity ON delivery (subscription_id, entity_id, seq) WHERE state = 'pending';
COMMENT ON TABLE delivery IS 'One outbox event to one subscription: attempts, backoff, acknowledgement or dead letter.';

-- Security and model ----------------------------------------------------------------------

CREATE TABLE api_key (
    id           bigserial PRIMARY KEY,
    prefix       text NOT NULL UNIQUE,
    salt         bytea NOT NULL,
    hash         bytea NOT NULL,
    role         text NOT NULL CHECK (role IN ('source', 'reader', 'steward', 'compliance', 'admin')),
    source       text REFERENCES source_system (code),
    name         text,
    rate_per_sec double precision NOT NULL DEFAULT 100 CHECK (rate_per_sec > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    CHECK ((role = 'source') = (source IS NOT NULL))
);
COMMENT ON TABLE api_key IS 'API keys: only a salted SHA-256 hash is stored; the key itself is shown once at creation.';

CREATE TABLE match_model (
    version    serial PRIMARY KEY,
    model      jsonb NOT NULL,
    trained_at timestamptz NOT NULL DEFAULT now(),
    active     boolean NOT NULL DEFAULT false,
    note       text
);
CREATE UNIQUE INDEX match_model_one_active ON match_model (active) WHERE active;
COMMENT ON TABLE match_model IS 'Trained Fellegi-Sunter models (m/u per comparison level, thresholds), versioned; one is active.';

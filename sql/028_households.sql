-- 028_households: households as entities of their own, beside persons (issue 21).
--
-- A household groups golden records (persons) that live at one normalized address and
-- share surname, phone or e-mail evidence (rules: the "households" section of mdm.json).
-- Households are derived from the golden records by mdm/household.c, the only writer of
-- these tables, which follows the outbox (household_cursor) so merges, splits, moves and
-- erasures reach them. Household is not identity: nothing here is read by matching.

CREATE TABLE household (
    id         bigserial PRIMARY KEY,
    status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    addr_hash  text,
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz,
    CHECK ((status = 'active') = (addr_hash IS NOT NULL)),
    CHECK ((status = 'retired') = (retired_at IS NOT NULL))
);
CREATE INDEX household_addr ON household (addr_hash) WHERE status = 'active';
COMMENT ON TABLE household IS 'A household: golden records living at one address and sharing surname, phone or e-mail evidence. Ids are stable; a household left without members is retired, never reused.';
COMMENT ON COLUMN household.addr_hash IS 'SHA-256 (hex) of the normalized address key (street line, postal code, country); NULL once retired, so a retired household keeps no trace of an address.';
COMMENT ON COLUMN household.version IS 'Incremented on every membership or role change (household.changed events carry it).';

CREATE TABLE household_member (
    entity_id    bigint PRIMARY KEY REFERENCES entity (id),
    household_id bigint NOT NULL REFERENCES household (id),
    role         text NOT NULL CHECK (role IN ('head', 'member')),
    joined_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX household_member_household ON household_member (household_id);
COMMENT ON TABLE household_member IS 'Membership of active golden records in active households, with the role (head: the oldest member by birth date, then the oldest golden id). A golden record belongs to at most one household.';

CREATE TABLE household_cursor (
    id         integer PRIMARY KEY CHECK (id = 1),
    last_seq   bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO household_cursor (id, last_seq) VALUES (1, 0);
COMMENT ON TABLE household_cursor IS 'One row: the outbox seq up to which golden-record changes have been applied to households.';

-- household events travel through the same outbox as entity events, in the same seq order
ALTER TABLE outbox ALTER COLUMN entity_id DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN household_id bigint REFERENCES household (id);
ALTER TABLE outbox DROP CONSTRAINT outbox_type_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_type_check CHECK (type IN (
    'created', 'updated', 'merged', 'split', 'consent_changed', 'deleted',
    'household.created', 'household.changed', 'household.retired'));
ALTER TABLE outbox ADD CONSTRAINT outbox_subject CHECK (
    (entity_id IS NOT NULL AND household_id IS NULL AND type NOT LIKE 'household.%')
    OR (entity_id IS NULL AND household_id IS NOT NULL AND type LIKE 'household.%'));
CREATE INDEX outbox_household ON outbox (household_id, seq) WHERE household_id IS NOT NULL;
COMMENT ON COLUMN outbox.household_id IS 'The household of a household.* event (entity_id is NULL then); NULL for entity events.';

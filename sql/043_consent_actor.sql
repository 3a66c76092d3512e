-- 043_consent_actor: consent evidence names the actor (issue 22 item 3). Every consent
-- event stores who captured it: the API key's actor name and role for events posted over
-- HTTP and for the consents[] of records sent over HTTP, the command's user for `mdm load`
-- and the other CLI commands. Consents carried in a record take the sender of the record
-- version that carried them, so the history of a record now names the role as well as the
-- actor, and bulk loads name theirs (they wrote NULL before).
ALTER TABLE consent_event
    ADD COLUMN captured_by   text,
    ADD COLUMN captured_role text;
COMMENT ON COLUMN consent_event.captured_by IS 'Who captured the event into mdm: "api:KEY NAME" (the API key that posted it, or that sent the record carrying it), "cli:USER" (mdm load and other commands); NULL for events stored before migration 043. The first sender of an identical event is kept.';
COMMENT ON COLUMN consent_event.captured_role IS 'The role of captured_by: the API key''s role (source, admin, ...), admin for commands; NULL when unknown (events stored before migration 043).';

ALTER TABLE source_record_history ADD COLUMN actor_role text;
COMMENT ON COLUMN source_record_history.actor IS 'Who sent this version: the API key ("api:NAME") or the command ("cli:USER", bulk loads included since migration 043); NULL for older rows.';
COMMENT ON COLUMN source_record_history.actor_role IS 'The role of actor (the API key''s role; admin for commands); NULL for rows written before migration 043 and for retries of refused records.';

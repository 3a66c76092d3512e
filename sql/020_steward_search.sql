-- 020_steward_search: the steward's free-text search (mdm_golden_find) finds a golden record
-- by the start of a first or last name ("whit" -> Whitaker) as well as by whole names; the
-- GIN index of 015 answers whole values, these answer prefixes (text_pattern_ops: byte order,
-- as the comparison keys are lower-case ASCII).
CREATE INDEX source_record_last_prefix ON source_record ((normalized -> 'keys' ->> 'last') text_pattern_ops);
CREATE INDEX source_record_first_prefix ON source_record ((normalized -> 'keys' ->> 'first') text_pattern_ops);
COMMENT ON INDEX source_record_last_prefix IS 'Prefix search of comparison-form last names (steward search).';
COMMENT ON INDEX source_record_first_prefix IS 'Prefix search of comparison-form first names (steward search).';

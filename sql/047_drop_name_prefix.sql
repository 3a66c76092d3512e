-- 047_drop_name_prefix: the two prefix indexes of 020 served the steward's search of
-- first and last names per source record; search reads names from entity_name (046)
-- now, and nothing else reads them. Every source record written paid for both
-- (two more index entries per insert, and no HOT update when a name changed).
DROP INDEX source_record_last_prefix;
DROP INDEX source_record_first_prefix;

-- 015_core_search: golden-record search by contact point or identifier, whatever the
-- blocking rules of the matching model are.

-- the comparison forms of each source record (normalized.keys: emails, phones,
-- loyalty_id, tax_id ...) answer containment queries (@>) through this index
CREATE INDEX source_record_keys ON source_record USING gin ((normalized -> 'keys') jsonb_path_ops);

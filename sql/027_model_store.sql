-- 027_model_store: models trained from the store are versioned with what they were
-- trained on, and activation is recorded (issue 18, deliverable 2).
ALTER TABLE match_model
    ADD COLUMN trained_on jsonb,
    ADD COLUMN trained_by text,
    ADD COLUMN activated_at timestamptz,
    ADD COLUMN activated_by text;
COMMENT ON COLUMN match_model.trained_on IS 'What the model was trained on: {"from": "store", records, candidate_pairs, em_iterations, lambda, base_version}.';
COMMENT ON COLUMN match_model.trained_by IS 'Who trained it (mdm train --from-store: cli:<user>).';
COMMENT ON COLUMN match_model.activated_at IS 'When it was last made the active model.';
COMMENT ON COLUMN match_model.activated_by IS 'Who made it the active model.';

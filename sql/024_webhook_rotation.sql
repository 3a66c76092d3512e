-- 024_webhook_rotation: Standard Webhooks signatures and secret rotation (issue 23 item 1).
--
-- When a subscription's secret changes (PUT /v1/subscriptions/{id}, or the configuration),
-- the old secret stays valid for 24 hours: every delivery in that window carries two
-- signatures in webhook-signature (the new secret's and the old one's), so a receiver can
-- switch to the new secret at any moment of the window without rejecting a delivery.
ALTER TABLE subscription
    ADD COLUMN previous_secret       text,
    ADD COLUMN previous_secret_until timestamptz;
COMMENT ON COLUMN subscription.previous_secret IS 'The secret before the last change; deliveries are also signed with it until previous_secret_until.';
COMMENT ON COLUMN subscription.previous_secret_until IS 'End of the rotation window (24 hours after the secret changed).';

CREATE FUNCTION subscription_rotate_secret() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.secret IS DISTINCT FROM OLD.secret THEN
        NEW.previous_secret := OLD.secret;
        NEW.previous_secret_until := now() + interval '24 hours';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER subscription_rotate_secret BEFORE UPDATE OF secret ON subscription
    FOR EACH ROW EXECUTE FUNCTION subscription_rotate_secret();

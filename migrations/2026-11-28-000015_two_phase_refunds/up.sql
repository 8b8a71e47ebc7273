-- Refunds in two phases, like payments: the row (and the ledger row taking the credits back)
-- is committed before the provider is called, then finished; a crash in between is finished by
-- the reconciler, which asks the provider about `refund-<id>`. A refused refund gives the
-- credits back with a second, positive `refund` ledger row.
ALTER TABLE refunds
    ADD COLUMN status TEXT NOT NULL DEFAULT 'succeeded'
        CHECK (status IN ('pending', 'succeeded', 'failed')),
    ADD COLUMN failure TEXT,
    ADD COLUMN reversal_entry_id BIGINT UNIQUE REFERENCES ledger_entries (id) ON DELETE RESTRICT,
    ADD COLUMN finished_at TIMESTAMPTZ,
    ALTER COLUMN provider_reference DROP NOT NULL;
UPDATE refunds SET finished_at = created_at;
ALTER TABLE refunds
    ALTER COLUMN status DROP DEFAULT,
    ADD CHECK ((status = 'pending') = (finished_at IS NULL)),
    ADD CHECK ((status = 'succeeded') = (provider_reference IS NOT NULL)),
    ADD CHECK ((status = 'failed') = (reversal_entry_id IS NOT NULL AND failure IS NOT NULL));
CREATE INDEX refunds_pending ON refunds (created_at) WHERE status = 'pending';

DROP INDEX refunds_pending;
DELETE FROM refunds WHERE status <> 'succeeded';
ALTER TABLE refunds
    DROP COLUMN finished_at,
    DROP COLUMN reversal_entry_id,
    DROP COLUMN failure,
    DROP COLUMN status;
ALTER TABLE refunds ALTER COLUMN provider_reference SET NOT NULL;

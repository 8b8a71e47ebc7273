-- The paid-service pipeline's outbox: one row per piece of work a service does for a database
-- (an SMS, a mass SMS, …). It is written with the hold of its credits and the service's own
-- records in one transaction that commits before the outside provider is called; a worker (or
-- the request itself, right after the commit) claims it, calls the provider, then captures what
-- was used and releases the rest. A crash between the steps leaves the job pending, and the
-- next claim finishes it: the provider de-duplicates by the records' ids.
CREATE TABLE service_jobs (
    id BIGSERIAL PRIMARY KEY,
    service_id BIGINT NOT NULL REFERENCES services (id) ON DELETE RESTRICT,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    account_id BIGINT NOT NULL REFERENCES iap_accounts (id) ON DELETE RESTRICT,
    hold_id BIGINT NOT NULL UNIQUE REFERENCES holds (id) ON DELETE RESTRICT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- While a worker runs the job, no other worker claims it.
    claimed_until TIMESTAMPTZ,
    -- What was captured when it closed.
    used BIGINT CHECK (used >= 0),
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    closed_at TIMESTAMPTZ,
    CHECK ((status = 'pending') = (closed_at IS NULL)),
    CHECK ((status = 'pending') = (used IS NULL))
);
CREATE INDEX service_jobs_due ON service_jobs (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX service_jobs_by_account ON service_jobs (account_id, id);

-- An SMS is now recorded as queued before the carrier is called, with the job that sends it.
ALTER TABLE sms_messages
    DROP CONSTRAINT sms_messages_status_check,
    ADD CONSTRAINT sms_messages_status_check
        CHECK (status IN ('queued', 'sent', 'delivered', 'error')),
    ADD COLUMN job_id BIGINT REFERENCES service_jobs (id) ON DELETE RESTRICT;
CREATE INDEX sms_messages_by_job ON sms_messages (job_id, id) WHERE job_id IS NOT NULL;

-- Low-credit alert settings of each IAP account (Warn Me, Threshold, Warning Email), and the
-- failed sign-ins used to throttle password guessing.

ALTER TABLE iap_accounts
    ADD COLUMN warn_me BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN threshold BIGINT NOT NULL DEFAULT 0 CHECK (threshold >= 0),
    ADD COLUMN warning_email TEXT NOT NULL DEFAULT '';

CREATE TABLE failed_sign_ins (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX failed_sign_ins_by_email ON failed_sign_ins (email, attempted_at);

DROP TABLE sign_in_throttle;
CREATE TABLE failed_sign_ins (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX failed_sign_ins_by_email ON failed_sign_ins (email, attempted_at);

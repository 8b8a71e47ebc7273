-- Sign-in throttling per client address and per account, one row per key ("address:…",
-- "account:…"): each attempt is counted (atomically, by one UPDATE on the key's row) before the
-- password is checked, so parallel guesses cannot outrun the count. Replaces failed_sign_ins.
DROP TABLE failed_sign_ins;

CREATE TABLE sign_in_throttle (
    key TEXT PRIMARY KEY CHECK (length(key) <= 300),
    -- Attempts not (yet) followed by a success since window_start.
    failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    window_start TIMESTAMPTZ NOT NULL,
    -- How many times this key was locked out (the next lockout of an address doubles).
    lockouts INTEGER NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
    locked_until TIMESTAMPTZ
);
CREATE INDEX sign_in_throttle_old ON sign_in_throttle (window_start);

-- Sessions kept server-side: the cookie only names one (a random id). Every request checks it
-- here, so signing out, "sign out everywhere" and the lifetimes end it for real — a copied
-- cookie stops working with the session it names.
CREATE TABLE user_sessions (
    id TEXT PRIMARY KEY CHECK (length(id) >= 32),
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ
);
CREATE INDEX user_sessions_by_user ON user_sessions (user_id) WHERE ended_at IS NULL;
CREATE INDEX user_sessions_old ON user_sessions (last_seen_at);

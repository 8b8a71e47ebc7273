//! What the session cookie holds: the signed-in user's id, a CSRF token and when it was last
//! used (cookie sessions cannot be revoked early, so idleness is checked on every request).

use crate::ids::UserId;
use actix_session::Session;
use chrono::Utc;
use rand::Rng;
use rand::distr::Alphanumeric;

const USER_ID: &str = "uid";
const CSRF: &str = "csrf";
const LAST_SEEN: &str = "seen";
/// Signed-in sessions end after this much inactivity.
pub const IDLE_TIMEOUT_SECONDS: i64 = 8 * 3600;

fn random_token() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(43)
        .map(char::from)
        .collect()
}

/// The session's CSRF token, created on first need.
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(CSRF) {
        return token;
    }
    let token = random_token();
    let _ = session.insert(CSRF, &token);
    token
}

/// Starts a fresh session for the user (a new cookie and a new CSRF token: no fixation).
pub fn begin(session: &Session, user_id: UserId) {
    session.renew();
    session.clear();
    let _ = session.insert(USER_ID, user_id);
    let _ = session.insert(CSRF, random_token());
    let _ = session.insert(LAST_SEEN, Utc::now().timestamp());
}

pub fn end(session: &Session) {
    session.purge();
}

/// The signed-in user's id, unless the session has been idle too long (then it is ended).
pub fn user_id(session: &Session) -> Option<UserId> {
    let user_id = session.get::<UserId>(USER_ID).ok().flatten()?;
    let last_seen = session.get::<i64>(LAST_SEEN).ok().flatten().unwrap_or(0);
    let now = Utc::now().timestamp();
    if now - last_seen > IDLE_TIMEOUT_SECONDS {
        end(session);
        return None;
    }
    let _ = session.insert(LAST_SEEN, now);
    Some(user_id)
}

/// Constant-time comparison, so a token cannot be guessed byte by byte from timings.
pub fn tokens_match(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

//! What the session cookie holds: the id of a server-side session (`sessions`, checked on every
//! request) and a CSRF token. Nothing in it grants access by itself.

use actix_session::Session;
use rand::Rng;
use rand::distr::Alphanumeric;

const SESSION_ID: &str = "sid";
const CSRF: &str = "csrf";
/// The cookie lasts as long as an idle session (the server decides the rest).
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

/// Puts a fresh server-side session in the cookie (a new cookie and a new CSRF token: no
/// fixation).
pub fn begin(session: &Session, session_id: &str) {
    session.renew();
    session.clear();
    let _ = session.insert(SESSION_ID, session_id);
    let _ = session.insert(CSRF, random_token());
}

pub fn end(session: &Session) {
    session.purge();
}

/// The id of the server-side session the cookie names, if any.
pub fn session_id(session: &Session) -> Option<String> {
    session.get::<String>(SESSION_ID).ok().flatten()
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

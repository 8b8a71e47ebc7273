//! Authentication: password hashing, signing in (with throttling) and the session's contents.

pub mod password;
pub mod session;
pub mod sessions;
pub mod sign_in;
pub mod throttle;

//! Authentication: signing in (with throttling) and the session's contents; passwords are
//! hashed by `kernel::password`.

pub mod session;
pub mod sessions;
pub mod sign_in;
pub mod throttle;

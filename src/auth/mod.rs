//! Authentication: password hashing (sign-in and sessions arrive with the buying issue).

pub mod password;

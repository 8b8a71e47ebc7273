//! Passwords are stored only as argon2id hashes (PHC strings with their own salt).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest password accepted for new accounts.
pub const MIN_PASSWORD_LEN: usize = 8;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    #[error("a password can have at most 1024 characters")]
    TooLong,
    #[error("could not hash the password: {0}")]
    Hash(String),
}

/// Checks a new password against the house rules.
pub fn check_new_password(password: &str) -> Result<(), PasswordError> {
    match password.chars().count() {
        n if n < MIN_PASSWORD_LEN => Err(PasswordError::TooShort),
        n if n > 1024 => Err(PasswordError::TooLong),
        _ => Ok(()),
    }
}

pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let mut salt_bytes = [0u8; 16];
    rand::fill(&mut salt_bytes);
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// True when `password` matches the stored hash; a malformed hash never matches.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("wrong horse", &a));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn new_passwords_have_a_minimum_length() {
        assert_eq!(check_new_password("short"), Err(PasswordError::TooShort));
        assert!(check_new_password("long enough").is_ok());
    }
}

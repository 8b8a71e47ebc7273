//! Signing in: argon2 verification, throttled per client address and per account
//! (`throttle`).

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::throttle;
use crate::domain::tenancy::Role;
use crate::kernel::ids::{DatabaseId, UserId};
use crate::kernel::password;
use crate::platform::schema::{databases, users};

/// The longest email address (RFC 5321's path limit); longer ones are refused unread.
pub const MAX_EMAIL_LEN: usize = 254;

/// Who is signed in, with the name of their database.
#[derive(Debug, Clone)]
pub struct SignedInUser {
    pub id: UserId,
    pub database_id: DatabaseId,
    pub database_name: String,
    pub email: String,
    pub role: Role,
}

impl SignedInUser {
    pub fn is_admin(&self) -> bool {
        matches!(self.role, Role::Admin)
    }

    /// The IAP operator, who runs the platform's catalog and dashboard.
    pub fn is_operator(&self) -> bool {
        matches!(self.role, Role::Platform)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("Wrong email or password.")]
    InvalidCredentials,
    #[error("Too many failed attempts. Try again in {}.", wait_text(*.0))]
    Throttled(DateTime<Utc>),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// A hash to verify against when the email is unknown, so that both cases take as long.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| password::hash_password("decoy password").unwrap_or_default())
}

/// "a minute", "5 minutes": the wait until `until`, in whole minutes (at least one).
fn wait_text(until: DateTime<Utc>) -> String {
    match ((until - Utc::now()).num_seconds().max(0) + 59)
        .div_euclid(60)
        .max(1)
    {
        1 => "a minute".into(),
        minutes => format!("{minutes} minutes"),
    }
}

/// Signs in `email` from the client `address`: the attempt is counted first (so throttled
/// attempts check no password), then the password is checked.
pub fn sign_in(
    conn: &mut PgConnection,
    address: &str,
    email: &str,
    given_password: &str,
) -> Result<SignedInUser, SignInError> {
    let email = email.trim().to_lowercase();
    if email.len() > MAX_EMAIL_LEN {
        return Err(SignInError::InvalidCredentials);
    }
    throttle::reserve_attempt(conn, address, &email, Utc::now())?
        .map_err(SignInError::Throttled)?;
    let found: Option<(UserId, String)> = users::table
        .filter(users::email.eq(&email))
        .select((users::id, users::password_hash))
        .first(conn)
        .optional()?;
    let hash = found.as_ref().map_or(decoy_hash(), |(_, h)| h.as_str());
    let verified = password::verify_password(given_password, hash);
    match found {
        Some((user_id, _)) if verified => {
            throttle::forgive(conn, address, &email)?;
            load_user(conn, user_id)?.ok_or(SignInError::InvalidCredentials)
        }
        _ => Err(SignInError::InvalidCredentials),
    }
}

pub fn load_user(conn: &mut PgConnection, user_id: UserId) -> QueryResult<Option<SignedInUser>> {
    users::table
        .inner_join(databases::table)
        .filter(users::id.eq(user_id))
        .select((
            users::id,
            users::database_id,
            databases::name,
            users::email,
            users::role,
        ))
        .first::<(UserId, DatabaseId, String, String, Role)>(conn)
        .optional()
        .map(|row| {
            row.map(
                |(id, database_id, database_name, email, role)| SignedInUser {
                    id,
                    database_id,
                    database_name,
                    email,
                    role,
                },
            )
        })
}

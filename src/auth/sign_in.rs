//! Signing in: argon2 verification with throttling of repeated failures per email address.

use std::sync::OnceLock;

use chrono::Utc;
use diesel::prelude::*;

use super::password;
use crate::ids::{DatabaseId, UserId};
use crate::schema::{databases, failed_sign_ins, users};
use crate::tenancy::Role;

/// Failures allowed per email address within `WINDOW_MINUTES` before sign-in is refused.
pub const MAX_FAILURES: i64 = 5;
pub const WINDOW_MINUTES: i64 = 15;

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
    #[error("Too many failed attempts. Try again in {WINDOW_MINUTES} minutes.")]
    Throttled,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// A hash to verify against when the email is unknown, so that both cases take as long.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| password::hash_password("decoy password").unwrap_or_default())
}

pub fn sign_in(
    conn: &mut PgConnection,
    email: &str,
    given_password: &str,
) -> Result<SignedInUser, SignInError> {
    let email = email.trim().to_lowercase();
    let since = Utc::now() - chrono::Duration::minutes(WINDOW_MINUTES);
    let failures: i64 = failed_sign_ins::table
        .filter(failed_sign_ins::email.eq(&email))
        .filter(failed_sign_ins::attempted_at.gt(since))
        .count()
        .get_result(conn)?;
    if failures >= MAX_FAILURES {
        return Err(SignInError::Throttled);
    }
    let found: Option<(UserId, String)> = users::table
        .filter(users::email.eq(&email))
        .select((users::id, users::password_hash))
        .first(conn)
        .optional()?;
    let hash = found.as_ref().map_or(decoy_hash(), |(_, h)| h.as_str());
    let verified = password::verify_password(given_password, hash);
    match found {
        Some((user_id, _)) if verified => {
            diesel::delete(failed_sign_ins::table.filter(failed_sign_ins::email.eq(&email)))
                .execute(conn)?;
            load_user(conn, user_id)?.ok_or(SignInError::InvalidCredentials)
        }
        _ => {
            diesel::insert_into(failed_sign_ins::table)
                .values(failed_sign_ins::email.eq(&email))
                .execute(conn)?;
            Err(SignInError::InvalidCredentials)
        }
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

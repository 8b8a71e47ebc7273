//! Customer databases (the tenants) and their users. Owner of `databases` and `users`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::kernel::ids::{DatabaseId, UserId};
use crate::kernel::password::{self, PasswordError};
use crate::platform::schema::{databases, users};
use crate::sql_text_enum;

sql_text_enum! {
    /// The kind of subscription a customer database runs on; it decides trial credits.
    pub enum Subscription {
        Enterprise => "enterprise",
        Demo => "demo",
        Educational => "educational",
        OneAppFree => "one-app-free",
        None => "none",
    }
}

impl Subscription {
    /// Databases with a valid Enterprise subscription (demo, educational and one-app-free
    /// included) receive free trial credits.
    pub fn gets_trial_credits(self) -> bool {
        !matches!(self, Subscription::None)
    }
}

sql_text_enum! {
    /// What a user may do: `user` uses services, `admin` also buys and configures,
    /// `platform` operates the IAP service itself.
    pub enum Role {
        User => "user",
        Admin => "admin",
        Platform => "platform",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = databases, check_for_backend(diesel::pg::Pg))]
pub struct Database {
    pub id: DatabaseId,
    pub name: String,
    pub subscription: Subscription,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: UserId,
    pub database_id: DatabaseId,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = databases, check_for_backend(diesel::pg::Pg))]
pub struct DatabaseRow {
    pub id: DatabaseId,
    pub name: String,
    pub subscription: Subscription,
    pub created_at: DateTime<Utc>,
}

/// Databases as the operator lists them.
pub const PAGE_SIZE: crate::kernel::pagination::Keyset = crate::kernel::pagination::Keyset(50);

/// Databases whose name contains `search` (any case), by id, `limit` after id `after`. Unless
/// `include_unused`, only databases in use: with users of their own (made by the operator), or
/// that bought or spent credits — not the ones anyone can make by calling the Odoo protocol
/// with a made-up dbuuid.
pub fn search(
    conn: &mut PgConnection,
    search: &str,
    include_unused: bool,
    after: Option<DatabaseId>,
    limit: i64,
) -> QueryResult<Vec<DatabaseRow>> {
    use crate::platform::schema::{iap_accounts, ledger_daily};
    use diesel::dsl::exists;
    let mut query = databases::table
        .order(databases::id)
        .limit(limit)
        .select(DatabaseRow::as_select())
        .into_boxed();
    if !include_unused {
        let has_users = exists(users::table.filter(users::database_id.eq(databases::id)));
        let bought_or_spent = exists(
            ledger_daily::table
                .inner_join(iap_accounts::table)
                .filter(iap_accounts::database_id.eq(databases::id)),
        );
        query = query.filter(has_users.or(bought_or_spent));
    }
    let search = search.trim();
    if let Some(dbuuid) = crate::kernel::ids::Dbuuid::parse(search) {
        // A dbuuid pasted from Odoo: that database (its name may say it too).
        let named = format!("%{}%", crate::platform::db::escape_like(search));
        query = query.filter(
            databases::dbuuid
                .eq(dbuuid.as_str().to_string())
                .or(databases::name.ilike(named)),
        );
    } else if !search.is_empty() {
        query = query.filter(
            databases::name.ilike(format!("%{}%", crate::platform::db::escape_like(search))),
        );
    }
    if let Some(after) = after {
        query = query.filter(databases::id.gt(after));
    }
    query.load(conn)
}

pub fn database_row(conn: &mut PgConnection, id: DatabaseId) -> QueryResult<Option<DatabaseRow>> {
    databases::table
        .find(id)
        .select(DatabaseRow::as_select())
        .first(conn)
        .optional()
}

#[derive(Insertable)]
#[diesel(table_name = databases)]
struct DatabaseInsertForm<'a> {
    name: &'a str,
    subscription: Subscription,
    /// `None`: now.
    created_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct UserInsertForm<'a> {
    database_id: DatabaseId,
    email: &'a str,
    password_hash: &'a str,
    role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error("a database named {0:?} already exists")]
    DuplicateDatabase(String),
    #[error("a database name cannot be empty or longer than 100 characters")]
    InvalidDatabaseName,
    #[error("there is no database named {0:?}")]
    UnknownDatabase(String),
    #[error("a user with the email {0} already exists")]
    DuplicateEmail(String),
    #[error("{0:?} is not a valid email address")]
    InvalidEmail(String),
    #[error("a demo contact is invalid: {0}")]
    InvalidDemoContact(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Database(#[from] DieselError),
}

fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Trims a database name and checks its length.
pub fn parse_database_name(name: &str) -> Result<String, TenancyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(TenancyError::InvalidDatabaseName);
    }
    Ok(name.to_string())
}

/// Lower-cased, syntactically valid email address: a plain `local@domain`, never a display
/// name, a quoted local part, a comment or a second address.
pub fn parse_email(email: &str) -> Result<String, TenancyError> {
    let normalized = email.trim().to_lowercase();
    let plain = normalized.len() <= 254
        && normalized.matches('@').count() == 1
        && normalized
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-@".contains(c));
    if plain && email_address::EmailAddress::is_valid(&normalized) && normalized.contains('.') {
        Ok(normalized)
    } else {
        Err(TenancyError::InvalidEmail(email.trim().to_string()))
    }
}

pub fn create_database(
    conn: &mut PgConnection,
    name: &str,
    subscription: Subscription,
) -> Result<Database, TenancyError> {
    insert_database(conn, name, subscription, None)
}

/// A database that joined on a past day (the first start's demo history).
pub fn create_database_at(
    conn: &mut PgConnection,
    name: &str,
    subscription: Subscription,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Database, TenancyError> {
    insert_database(conn, name, subscription, Some(at))
}

fn insert_database(
    conn: &mut PgConnection,
    name: &str,
    subscription: Subscription,
    created_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Database, TenancyError> {
    let name = parse_database_name(name)?;
    diesel::insert_into(databases::table)
        .values(DatabaseInsertForm {
            name: &name,
            subscription,
            created_at,
        })
        .returning(Database::as_returning())
        .get_result(conn)
        .map_err(|e| {
            if is_unique_violation(&e) {
                TenancyError::DuplicateDatabase(name.clone())
            } else {
                e.into()
            }
        })
}

/// The database an Odoo database is known as here, by its `dbuuid` (a canonical lowercase
/// UUID, already checked): registered on first sight with no subscription (so no trial
/// credits; the operator can give one later). Concurrent first calls find one database.
pub fn database_for_dbuuid(conn: &mut PgConnection, dbuuid: &str) -> QueryResult<Database> {
    let find = |conn: &mut PgConnection| {
        databases::table
            .filter(databases::dbuuid.eq(dbuuid))
            .select(Database::as_select())
            .first(conn)
            .optional()
    };
    if let Some(found) = find(conn)? {
        return Ok(found);
    }
    diesel::insert_into(databases::table)
        .values((
            databases::name.eq(format!("Odoo {dbuuid}")),
            databases::subscription.eq(Subscription::None),
            databases::dbuuid.eq(dbuuid),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    find(conn)?.ok_or(diesel::result::Error::NotFound)
}

/// A database's name ("" if it is gone).
pub fn database_name(conn: &mut PgConnection, id: DatabaseId) -> QueryResult<String> {
    Ok(databases::table
        .find(id)
        .select(databases::name)
        .first(conn)
        .optional()?
        .unwrap_or_default())
}

/// The `dbuuid` a database is known by through Odoo's protocol, if any.
pub fn dbuuid_of(conn: &mut PgConnection, id: DatabaseId) -> QueryResult<Option<String>> {
    databases::table
        .find(id)
        .select(databases::dbuuid)
        .first(conn)
}

/// Case-insensitive lookup, as names are unique regardless of case.
pub fn find_database(conn: &mut PgConnection, name: &str) -> QueryResult<Option<Database>> {
    databases::table
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(name) = lower(")
                .bind::<diesel::sql_types::Text, _>(name.trim())
                .sql(")"),
        )
        .select(Database::as_select())
        .first(conn)
        .optional()
}

/// The user with this email (any case), if there is one.
pub fn find_user_by_email(conn: &mut PgConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email.trim().to_lowercase()))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Whether a user has one of `emails`.
pub fn any_user_with_email(conn: &mut PgConnection, emails: &[&str]) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table.filter(users::email.eq_any(emails)),
    ))
    .get_result(conn)
}

/// Creates a user after checking the house password rules.
pub fn create_user(
    conn: &mut PgConnection,
    database_name: &str,
    email: &str,
    password: &str,
    role: Role,
) -> Result<User, TenancyError> {
    password::check_new_password(password)?;
    let hash = password::hash_password(password)?;
    create_user_with_hash(conn, database_name, email, &hash, role)
}

/// Creates a user from an already computed password hash.
pub fn create_user_with_hash(
    conn: &mut PgConnection,
    database_name: &str,
    email: &str,
    password_hash: &str,
    role: Role,
) -> Result<User, TenancyError> {
    let email = parse_email(email)?;
    let database = find_database(conn, database_name)?
        .ok_or_else(|| TenancyError::UnknownDatabase(database_name.trim().to_string()))?;
    diesel::insert_into(users::table)
        .values(UserInsertForm {
            database_id: database.id,
            email: &email,
            password_hash,
            role,
        })
        .returning(User::as_returning())
        .get_result(conn)
        .map_err(|e| {
            if is_unique_violation(&e) {
                TenancyError::DuplicateEmail(email.clone())
            } else {
                e.into()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(parse_email(" Admin@Demo.TEST ").unwrap(), "admin@demo.test");
        for bad in [
            "",
            "admin",
            "admin@",
            "@demo.test",
            "a b@demo.test",
            "admin@localhost",
            "Ada <ada@demo.test>",
            "\"ada lovelace\"@demo.test",
            "ada@demo.test, eve@evil.example",
            "ada@demo.test\nbcc: eve@evil.example",
            "ada(comment)@demo.test",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subscriptions_parse_from_their_text() {
        assert_eq!(
            "one-app-free".parse::<Subscription>().unwrap(),
            Subscription::OneAppFree
        );
        assert!(
            "gold"
                .parse::<Subscription>()
                .unwrap_err()
                .contains("enterprise")
        );
        assert!(!Subscription::None.gets_trial_credits());
        assert!(Subscription::Educational.gets_trial_credits());
    }
}

//! IAP accounts: one per (customer database, service), created on first need — with the
//! service's trial credits when the database's subscription grants them.

use diesel::prelude::*;
use rand::Rng;
use rand::distr::Alphanumeric;

use super::Hold;
use super::{Actor, LedgerError, entries};
use crate::domain::tenancy::Subscription;
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, DatabaseId, ServiceId};
use crate::platform::schema::{databases, holds, iap_accounts, services};

/// 48 alphanumeric characters: about 285 bits of entropy.
const TOKEN_LEN: usize = 48;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = iap_accounts, check_for_backend(diesel::pg::Pg))]
pub struct IapAccount {
    pub id: AccountId,
    pub database_id: DatabaseId,
    pub service_id: ServiceId,
    pub token: String,
    pub balance: Credits,
    pub reserved: Credits,
    /// Low-credit alert settings: Warn Me, Threshold, Warning Email (comma-separated).
    pub warn_me: bool,
    pub threshold: Credits,
    pub warning_email: String,
}

/// A new account's row: its balance starts at zero, with a token of its own.
#[derive(Insertable)]
#[diesel(table_name = iap_accounts)]
pub(super) struct AccountInsertForm {
    database_id: DatabaseId,
    service_id: ServiceId,
    token_sha1: String,
    token: String,
}

impl AccountInsertForm {
    pub(super) fn new(database_id: DatabaseId, service_id: ServiceId, token: String) -> Self {
        AccountInsertForm {
            database_id,
            service_id,
            token_sha1: token_sha1(&token),
            token,
        }
    }
}

/// The SHA-1 of a token, hex: Odoo's hashed "Buy credits" link names the account by it, so
/// that the token itself never travels in a URL.
pub fn token_sha1(token: &str) -> String {
    use sha1::{Digest, Sha1};
    Sha1::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The low-credit alert settings of an account, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    pub warn_me: bool,
    pub threshold: Credits,
    /// Normalized addresses joined by ", ".
    pub warning_email: String,
}

/// How many addresses a Warning Email may list (each gets a message of its own).
pub const MAX_WARNING_EMAILS: usize = 5;

/// Why alert settings were refused, field by field (the Account Information form shows each
/// next to its field; Odoo's protocol answers them as a UserError).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertErrors {
    pub threshold: Option<String>,
    pub email: Option<String>,
}

impl AlertSettings {
    /// Warn Me, Threshold and Warning Email as typed: an empty threshold is 0; the email is up
    /// to `MAX_WARNING_EMAILS` plain addresses separated by commas, required when Warn Me is on.
    pub fn parse(
        warn_me: bool,
        threshold: &str,
        warning_email: &str,
    ) -> Result<AlertSettings, AlertErrors> {
        let mut errors = AlertErrors::default();
        let threshold = threshold.trim();
        let threshold = if threshold.is_empty() {
            Ok(Credits::ZERO)
        } else {
            Credits::parse(threshold)
        };
        let threshold = threshold
            .map_err(|e| errors.threshold = Some(format!("Threshold: {e}.")))
            .ok();
        let parts: Vec<&str> = warning_email
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() > MAX_WARNING_EMAILS {
            errors.email = Some(format!(
                "At most {MAX_WARNING_EMAILS} addresses receive the alert; each gets a message of its own."
            ));
        }
        let mut emails = Vec::new();
        for part in parts.into_iter().take(MAX_WARNING_EMAILS) {
            match crate::domain::tenancy::parse_email(part) {
                Ok(email) => emails.push(email),
                Err(_) => {
                    errors.email = Some(format!("“{part}” is not a valid email address."));
                    break;
                }
            }
        }
        if errors.email.is_none() && warn_me && emails.is_empty() {
            errors.email = Some("Enter the email address that receives the alert.".into());
        }
        match threshold {
            Some(threshold) if errors == AlertErrors::default() => Ok(AlertSettings {
                warn_me,
                threshold,
                warning_email: emails.join(", "),
            }),
            _ => Err(errors),
        }
    }
}

impl IapAccount {
    /// Credits that can be spent now: the balance less what active holds reserve.
    pub fn available(&self) -> Credits {
        Credits::from_units(self.balance.units() - self.reserved.units())
    }

    /// The token's last 4 characters, by which a page may name the account without showing
    /// its token.
    pub fn token_ending(&self) -> &str {
        &self.token[self.token.len().saturating_sub(4)..]
    }
}

pub fn new_token() -> String {
    random_letters(TOKEN_LEN)
}

/// `len` random letters and digits (the ledger's tokens: accounts', transactions').
pub(super) fn random_letters(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// The database's account of `service_id` for its own pages (its first, the oldest), created
/// with its trial credits on first need. Concurrent first uses make one account: creation
/// holds the database's row.
pub fn get_or_create(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    service_id: ServiceId,
) -> Result<IapAccount, LedgerError> {
    if let Some(account) = find(conn, database_id, service_id)? {
        return Ok(account);
    }
    conn.transaction(|conn| {
        hold_database(conn, database_id)?;
        if let Some(account) = find(conn, database_id, service_id)? {
            return Ok(account);
        }
        let account = diesel::insert_into(iap_accounts::table)
            .values(AccountInsertForm::new(database_id, service_id, new_token()))
            .returning(IapAccount::as_returning())
            .get_result(conn)?;
        welcome(conn, account)
    })
}

/// The first key of the advisory locks that serialize a database's account creation (the
/// second is the database).
const ACCOUNT_CREATION_LOCK: i32 = 0x1a9_acc7;

/// Serializes the creation of the database's accounts for the rest of the transaction: a
/// transaction advisory lock, which blocks nothing else (and needs no privilege).
fn hold_database(conn: &mut PgConnection, database_id: DatabaseId) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1, ($2 % 2147483647)::int)")
        .bind::<diesel::sql_types::Integer, _>(ACCOUNT_CREATION_LOCK)
        .bind::<diesel::sql_types::BigInt, _>(database_id.0)
        .execute(conn)
        .map(drop)
}

/// The account whose token is `token` — a token the client made itself (Odoo's `uuid4().hex`,
/// one per company), met here for the first time or again — of `database_id` for
/// `service_id`. A new token is a new account of its own (the database's other accounts of the
/// service are untouched); only the database's first account of the service gets the trial.
/// The same account whatever runs concurrently (tokens are unique); `true` with the call that
/// made it. A token already bound to another database or service is refused.
pub fn get_or_create_with_token(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    service_id: ServiceId,
    token: &str,
) -> Result<(IapAccount, bool), LedgerError> {
    let matches = |a: &IapAccount| a.database_id == database_id && a.service_id == service_id;
    if let Some(account) = by_token(conn, token)? {
        return if matches(&account) {
            Ok((account, false))
        } else {
            Err(LedgerError::TokenRefused)
        };
    }
    conn.transaction(|conn| {
        hold_database(conn, database_id)?;
        let first = find(conn, database_id, service_id)?.is_none();
        let created: Option<IapAccount> = diesel::insert_into(iap_accounts::table)
            .values(AccountInsertForm::new(
                database_id,
                service_id,
                token.to_string(),
            ))
            .on_conflict_do_nothing()
            .returning(IapAccount::as_returning())
            .get_result(conn)
            .optional()?;
        match created {
            Some(account) if first => Ok((welcome(conn, account)?, true)),
            Some(account) => Ok((account, true)),
            // The same token made meanwhile by a concurrent call.
            None => match by_token(conn, token)? {
                Some(account) if matches(&account) => Ok((account, false)),
                _ => Err(LedgerError::TokenRefused),
            },
        }
    })
}

/// A new account's first ledger row: the service's trial credits, when the database's
/// subscription grants them.
fn welcome(conn: &mut PgConnection, mut account: IapAccount) -> Result<IapAccount, LedgerError> {
    let (subscription, trial, service_name): (Subscription, Credits, String) = databases::table
        .inner_join(iap_accounts::table.on(iap_accounts::database_id.eq(databases::id)))
        .inner_join(services::table.on(services::id.eq(iap_accounts::service_id)))
        .filter(iap_accounts::id.eq(account.id))
        .select((
            databases::subscription,
            services::trial_credits,
            services::name,
        ))
        .first(conn)?;
    if subscription.gets_trial_credits() && trial > Credits::ZERO {
        entries::append(
            conn,
            &mut account,
            entries::Change::posted(super::EntryKind::Trial, trial.units()),
            &Actor::system("trial"),
            &format!("Free trial credits for {service_name}"),
        )?;
    }
    Ok(account)
}

/// The account whose token's SHA-1 is `sha1_hex` (the hashed "Buy credits" link).
pub fn by_token_sha1(conn: &mut PgConnection, sha1_hex: &str) -> QueryResult<Option<IapAccount>> {
    iap_accounts::table
        .filter(iap_accounts::token_sha1.eq(sha1_hex.to_ascii_lowercase()))
        .select(IapAccount::as_select())
        .first(conn)
        .optional()
}

/// Fills the token SHA-1 of accounts made before it was kept (PostgreSQL has no SHA-1 of its
/// own). Run at start; returns how many it filled.
pub fn backfill_token_sha1(conn: &mut PgConnection) -> QueryResult<usize> {
    let missing: Vec<(AccountId, String)> = iap_accounts::table
        .filter(iap_accounts::token_sha1.is_null())
        .select((iap_accounts::id, iap_accounts::token))
        .load(conn)?;
    for (id, token) in &missing {
        diesel::update(iap_accounts::table.find(*id))
            .set(iap_accounts::token_sha1.eq(token_sha1(token)))
            .execute(conn)?;
    }
    Ok(missing.len())
}

/// The database's default account of the service, the one its own pages spend from: the one
/// the customer marked, else the first (the oldest).
pub fn find(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    service_id: ServiceId,
) -> QueryResult<Option<IapAccount>> {
    iap_accounts::table
        .filter(iap_accounts::database_id.eq(database_id))
        .filter(iap_accounts::service_id.eq(service_id))
        .order((iap_accounts::is_default.desc(), iap_accounts::id))
        .select(IapAccount::as_select())
        .first(conn)
        .optional()
}

pub fn by_id(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<Option<IapAccount>> {
    iap_accounts::table
        .find(account_id)
        .select(IapAccount::as_select())
        .first(conn)
        .optional()
}

pub fn by_token(conn: &mut PgConnection, token: &str) -> QueryResult<Option<IapAccount>> {
    iap_accounts::table
        .filter(iap_accounts::token.eq(token))
        .select(IapAccount::as_select())
        .first(conn)
        .optional()
}

/// Locks the account row for the rest of the transaction.
pub(super) fn lock(
    conn: &mut PgConnection,
    account_id: AccountId,
) -> Result<IapAccount, LedgerError> {
    iap_accounts::table
        .find(account_id)
        .select(IapAccount::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or(LedgerError::AccountNotFound)
}

/// Every active service's accounts of the database (several where Odoo sent several tokens,
/// oldest first), in catalog order; a service with none gets its first account (with its
/// trial credits) on this first view.
pub fn all_for_database(
    conn: &mut PgConnection,
    database_id: DatabaseId,
) -> Result<Vec<(crate::domain::catalog::Service, IapAccount)>, LedgerError> {
    let services = crate::domain::catalog::active_services(conn)?;
    let existing: Vec<IapAccount> = iap_accounts::table
        .filter(iap_accounts::database_id.eq(database_id))
        .order(iap_accounts::id)
        .select(IapAccount::as_select())
        .load(conn)?;
    let mut rows = Vec::with_capacity(services.len());
    for service in services {
        let mut found = false;
        for account in existing.iter().filter(|a| a.service_id == service.id) {
            rows.push((service.clone(), account.clone()));
            found = true;
        }
        if !found {
            let account = get_or_create(conn, database_id, service.id)?;
            rows.push((service, account));
        }
    }
    Ok(rows)
}

/// The account if it belongs to `database_id` (another database's account does not exist).
pub fn of_database(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    account_id: AccountId,
) -> QueryResult<Option<IapAccount>> {
    iap_accounts::table
        .filter(iap_accounts::id.eq(account_id))
        .filter(iap_accounts::database_id.eq(database_id))
        .select(IapAccount::as_select())
        .first(conn)
        .optional()
}

pub fn save_alert_settings(
    conn: &mut PgConnection,
    account_id: AccountId,
    settings: &AlertSettings,
) -> QueryResult<()> {
    diesel::update(iap_accounts::table.find(account_id))
        .set((
            iap_accounts::warn_me.eq(settings.warn_me),
            iap_accounts::threshold.eq(settings.threshold),
            iap_accounts::warning_email.eq(&settings.warning_email),
            iap_accounts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Replaces the account's token; the old one stops working at once.
pub fn regenerate_token(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<String> {
    let token = new_token();
    diesel::update(iap_accounts::table.find(account_id))
        .set((
            iap_accounts::token_sha1.eq(token_sha1(&token)),
            iap_accounts::token.eq(&token),
            iap_accounts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(token)
}

/// An account with its service's name.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub account: IapAccount,
    pub service: String,
}

/// The database's existing accounts, in catalog order (none is created by looking).
pub fn accounts_of(
    conn: &mut PgConnection,
    database_id: DatabaseId,
) -> QueryResult<Vec<AccountRow>> {
    Ok(iap_accounts::table
        .inner_join(services::table)
        .filter(iap_accounts::database_id.eq(database_id))
        .order((services::sort_order, services::name))
        .select((IapAccount::as_select(), services::name))
        .load::<(IapAccount, String)>(conn)?
        .into_iter()
        .map(|(account, service)| AccountRow { account, service })
        .collect())
}

/// One account for the operator.
#[derive(Debug, Clone)]
pub struct AccountView {
    pub row: AccountRow,
    pub database: crate::domain::tenancy::DatabaseRow,
    pub active_holds: Vec<Hold>,
}

pub fn operator_view(
    conn: &mut PgConnection,
    account_id: AccountId,
) -> QueryResult<Option<AccountView>> {
    let found: Option<(IapAccount, String, crate::domain::tenancy::DatabaseRow)> =
        iap_accounts::table
            .inner_join(services::table)
            .inner_join(databases::table)
            .filter(iap_accounts::id.eq(account_id))
            .select((
                IapAccount::as_select(),
                services::name,
                crate::domain::tenancy::DatabaseRow::as_select(),
            ))
            .first(conn)
            .optional()?;
    let Some((account, service, database)) = found else {
        return Ok(None);
    };
    let active_holds = holds::table
        .filter(holds::account_id.eq(account_id))
        .filter(super::holds::is_active())
        .order(holds::id)
        .select(Hold::as_select())
        .load(conn)?;
    Ok(Some(AccountView {
        row: AccountRow { account, service },
        database,
        active_holds,
    }))
}

/// The slug of the account's service (for "buy credits" links).
pub fn service_slug(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<String> {
    iap_accounts::table
        .inner_join(services::table)
        .filter(iap_accounts::id.eq(account_id))
        .select(services::slug)
        .first(conn)
}

/// How the customer tells a database's accounts of one service apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Naming {
    /// Its label ("" until the customer gives one).
    pub label: String,
    /// Marked as the one the database's own pages spend from.
    pub marked_default: bool,
}

/// The longest label.
pub const MAX_LABEL: usize = 60;

/// The namings of the accounts `ids`, in one query.
pub fn namings(
    conn: &mut PgConnection,
    ids: &[AccountId],
) -> QueryResult<std::collections::HashMap<AccountId, Naming>> {
    Ok(iap_accounts::table
        .filter(iap_accounts::id.eq_any(ids))
        .select((
            iap_accounts::id,
            iap_accounts::label,
            iap_accounts::is_default,
        ))
        .load::<(AccountId, String, bool)>(conn)?
        .into_iter()
        .map(|(id, label, marked_default)| {
            (
                id,
                Naming {
                    label,
                    marked_default,
                },
            )
        })
        .collect())
}

/// A label as typed: trimmed, at most `MAX_LABEL` characters, no control characters.
pub fn parse_label(text: &str) -> Result<String, String> {
    let label = text.trim();
    if label.chars().count() > MAX_LABEL {
        return Err(format!("A label has at most {MAX_LABEL} characters."));
    }
    if label.chars().any(char::is_control) {
        return Err("A label is one line of text.".into());
    }
    Ok(label.to_string())
}

/// Renames the database's account (another database's account is not found: `false`).
pub fn set_label(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    account_id: AccountId,
    label: &str,
) -> QueryResult<bool> {
    let changed = diesel::update(
        iap_accounts::table
            .filter(iap_accounts::id.eq(account_id))
            .filter(iap_accounts::database_id.eq(database_id)),
    )
    .set((
        iap_accounts::label.eq(label),
        iap_accounts::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Makes the database's account the default of its service (the others of the service stop
/// being it), in one transaction. `false`: no such account of the database.
pub fn make_default(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    account_id: AccountId,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let Some(account) = of_database(conn, database_id, account_id)? else {
            return Ok(false);
        };
        diesel::update(
            iap_accounts::table
                .filter(iap_accounts::database_id.eq(database_id))
                .filter(iap_accounts::service_id.eq(account.service_id))
                .filter(iap_accounts::is_default)
                .filter(iap_accounts::id.ne(account_id)),
        )
        .set(iap_accounts::is_default.eq(false))
        .execute(conn)?;
        diesel::update(iap_accounts::table.find(account_id))
            .set((
                iap_accounts::is_default.eq(true),
                iap_accounts::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
        Ok(true)
    })
}

/// The database's accounts of one service, oldest first.
pub fn of_service(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    service_id: ServiceId,
) -> QueryResult<Vec<IapAccount>> {
    iap_accounts::table
        .filter(iap_accounts::database_id.eq(database_id))
        .filter(iap_accounts::service_id.eq(service_id))
        .order(iap_accounts::id)
        .select(IapAccount::as_select())
        .load(conn)
}

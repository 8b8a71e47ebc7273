//! Provider keys: the API keys with which a service provider (ours or a third party's) holds,
//! captures and cancels credits through Odoo's protocol. A key belongs to one service and works
//! only on that service's accounts. The key is shown once when created; only its SHA-256 is
//! kept (a key is 40 random characters, so a plain hash is as good as a password hash and can
//! be looked up). Owner of `provider_keys`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

use crate::kernel::ids::ServiceId;
use crate::platform::schema::provider_keys;

/// What every key starts with, so that a leaked one is recognisable (and scannable).
const PREFIX: &str = "iapk_";
const RANDOM_LEN: usize = 40;
const MAX_NAME: usize = 100;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = provider_keys, check_for_backend(diesel::pg::Pg))]
pub struct ProviderKey {
    pub id: i64,
    pub service_id: ServiceId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just made: the only time its text exists outside its owner's hands.
#[derive(Debug)]
pub struct NewKey {
    pub key: String,
    pub record: ProviderKey,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderKeyError {
    #[error("Name the key (at most {MAX_NAME} characters), e.g. the provider's name.")]
    BadName,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

fn sha256_hex(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Makes a key for `service_id`, named `name`.
pub fn create(
    conn: &mut PgConnection,
    service_id: ServiceId,
    name: &str,
) -> Result<NewKey, ProviderKeyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ProviderKeyError::BadName);
    }
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(RANDOM_LEN)
        .map(char::from)
        .collect();
    let key = format!("{PREFIX}{random}");
    let record = diesel::insert_into(provider_keys::table)
        .values((
            provider_keys::service_id.eq(service_id),
            provider_keys::name.eq(name),
            provider_keys::key_sha256.eq(sha256_hex(&key)),
        ))
        .returning(ProviderKey::as_returning())
        .get_result(conn)?;
    Ok(NewKey { key, record })
}

/// What a key is looked up by (its SHA-256, hex); `None` for what cannot be a key.
pub fn fingerprint(key: &str) -> Option<String> {
    (key.starts_with(PREFIX) && key.len() == PREFIX.len() + RANDOM_LEN).then(|| sha256_hex(key))
}

/// Notes the use of these keys now (a batch of calls that found them itself, and saw their
/// use last noted over a minute ago).
pub fn note_use(conn: &mut PgConnection, ids: &[i64]) -> QueryResult<()> {
    diesel::update(provider_keys::table.filter(provider_keys::id.eq_any(ids)))
        .set(provider_keys::last_used_at.eq(diesel::dsl::now))
        .execute(conn)
        .map(drop)
}

/// The key `key` names, unless it is unknown or revoked. Notes its use (at most once a minute,
/// so that a busy provider does not write on every call).
pub fn authenticate(conn: &mut PgConnection, key: &str) -> QueryResult<Option<ProviderKey>> {
    let Some(fingerprint) = fingerprint(key) else {
        return Ok(None);
    };
    let found: Option<ProviderKey> = provider_keys::table
        .filter(provider_keys::key_sha256.eq(fingerprint))
        .filter(provider_keys::revoked_at.is_null())
        .select(ProviderKey::as_select())
        .first(conn)
        .optional()?;
    if let Some(found) = &found {
        let a_minute_ago = Utc::now() - chrono::Duration::minutes(1);
        if found.last_used_at.is_none_or(|at| at < a_minute_ago) {
            diesel::update(provider_keys::table.find(found.id))
                .set(provider_keys::last_used_at.eq(diesel::dsl::now))
                .execute(conn)?;
        }
    }
    Ok(found)
}

/// A service's keys, newest first, revoked ones included.
pub fn of_service(conn: &mut PgConnection, service_id: ServiceId) -> QueryResult<Vec<ProviderKey>> {
    provider_keys::table
        .filter(provider_keys::service_id.eq(service_id))
        .order(provider_keys::id.desc())
        .select(ProviderKey::as_select())
        .load(conn)
}

/// Revokes key `id` of the service `service_id` at once, in the audit log with the operator
/// and reason. Revoking a revoked key changes nothing. `false` when there is no such key.
pub fn revoke(
    conn: &mut PgConnection,
    operator: &crate::domain::audit::Operator,
    service_id: ServiceId,
    id: i64,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let key: Option<ProviderKey> = provider_keys::table
            .find(id)
            .filter(provider_keys::service_id.eq(service_id))
            .select(ProviderKey::as_select())
            .for_update()
            .first(conn)
            .optional()?;
        let Some(key) = key else {
            return Ok(false);
        };
        if key.revoked_at.is_some() {
            return Ok(true);
        }
        diesel::update(provider_keys::table.find(id))
            .set(provider_keys::revoked_at.eq(diesel::dsl::now))
            .execute(conn)?;
        crate::domain::audit::record(
            conn,
            operator,
            crate::domain::audit::Action {
                action: "provider_key.revoke",
                subject: format!("provider_key:{id}"),
                database_id: None,
                reason: None,
                before: Some(serde_json::json!({"name": key.name, "revoked": false})),
                after: Some(serde_json::json!({"name": key.name, "revoked": true})),
            },
        )?;
        Ok(true)
    })
}

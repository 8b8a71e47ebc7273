//! What the simulated providers (payments, the SMS carrier, the post, itsme) remember, as a
//! real provider remembers it on its side: a record per key, the first one kept. In one process
//! (tests, and a provider made with `default()`) a map; in the server, the table
//! `simulated_provider_records`, so that every instance of the app — and one restarted after a
//! crash — talks to the same provider: a payment started on one instance is found by another's
//! reconciler, an itsme session started on one is decided on another.
//!
//! Records are small JSON values. The table is reached on connections of its own (a provider
//! is called with no transaction open, often while the caller holds one of the app's
//! connections).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Jsonb, Text};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::platform::db::DbPool;

/// A provider's records: see the module.
#[derive(Clone)]
pub struct Records(Backing);

type Map = HashMap<(String, String), Value>;

#[derive(Clone)]
enum Backing {
    /// In this process only.
    Process(Arc<Mutex<Map>>),
    /// In the database, shared by every instance.
    Database(DbPool),
}

impl Default for Records {
    fn default() -> Self {
        Records(Backing::Process(Arc::default()))
    }
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Backing::Process(_) => "Records(process)",
            Backing::Database(_) => "Records(database)",
        })
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Jsonb)]
    value: Value,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Records {
    /// Records kept in the database of `pool` (give it a pool of its own).
    pub fn shared(pool: DbPool) -> Self {
        Records(Backing::Database(pool))
    }

    /// The record `key` of `space`; if there is none, `make()` is stored and returned. When two
    /// callers race, both get the first one stored.
    pub fn first(
        &self,
        space: &str,
        key: &str,
        make: impl FnOnce() -> Value,
    ) -> Result<Value, String> {
        match &self.0 {
            Backing::Process(map) => {
                let mut map = map.lock().map_err(|e| e.to_string())?;
                Ok(map
                    .entry((space.to_string(), key.to_string()))
                    .or_insert_with(make)
                    .clone())
            }
            Backing::Database(pool) => {
                let value = make();
                through_outage(pool, |conn| {
                    diesel::sql_query(
                        "INSERT INTO simulated_provider_records (space, key, value) \
                         VALUES ($1, $2, $3) ON CONFLICT (space, key) DO NOTHING",
                    )
                    .bind::<Text, _>(space)
                    .bind::<Text, _>(key)
                    .bind::<Jsonb, _>(&value)
                    .execute(conn)?;
                    read(conn, space, key)
                })?
                .ok_or_else(|| "the record vanished".to_string())
            }
        }
    }

    /// `first`, for a record of type `T` (stored as its JSON).
    pub fn first_as<T: Serialize + DeserializeOwned>(
        &self,
        space: &str,
        key: &str,
        make: impl FnOnce() -> T,
    ) -> Result<T, String> {
        let value = self.first(space, key, || {
            serde_json::to_value(make()).unwrap_or_default()
        })?;
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    /// `get`, for a record of type `T`.
    pub fn get_as<T: DeserializeOwned>(&self, space: &str, key: &str) -> Result<Option<T>, String> {
        self.get(space, key)?
            .map(|value| serde_json::from_value(value).map_err(|e| e.to_string()))
            .transpose()
    }

    /// The record `key` of `space`, if any.
    pub fn get(&self, space: &str, key: &str) -> Result<Option<Value>, String> {
        match &self.0 {
            Backing::Process(map) => Ok(map
                .lock()
                .map_err(|e| e.to_string())?
                .get(&(space.to_string(), key.to_string()))
                .cloned()),
            Backing::Database(pool) => through_outage(pool, |conn| read(conn, space, key)),
        }
    }

    /// The records of `keys` in `space` that exist, by key: one look for them all.
    pub fn get_many(&self, space: &str, keys: &[&str]) -> Result<HashMap<String, Value>, String> {
        match &self.0 {
            Backing::Process(map) => {
                let map = map.lock().map_err(|e| e.to_string())?;
                Ok(keys
                    .iter()
                    .filter_map(|k| {
                        let value = map.get(&(space.to_string(), k.to_string()))?;
                        Some((k.to_string(), value.clone()))
                    })
                    .collect())
            }
            Backing::Database(pool) => through_outage(pool, |conn| read_many(conn, space, keys)),
        }
    }

    /// `first` for each `(key, value)`: each key's first record, by key, in one write and one
    /// read.
    pub fn first_many(
        &self,
        space: &str,
        records: &[(&str, Value)],
    ) -> Result<HashMap<String, Value>, String> {
        match &self.0 {
            Backing::Process(map) => {
                let mut map = map.lock().map_err(|e| e.to_string())?;
                Ok(records
                    .iter()
                    .map(|(key, value)| {
                        let kept = map
                            .entry((space.to_string(), key.to_string()))
                            .or_insert_with(|| value.clone())
                            .clone();
                        (key.to_string(), kept)
                    })
                    .collect())
            }
            Backing::Database(pool) => {
                let keys: Vec<&str> = records.iter().map(|(k, _)| *k).collect();
                let values: Vec<&Value> = records.iter().map(|(_, v)| v).collect();
                through_outage(pool, |conn| {
                    diesel::sql_query(
                        "INSERT INTO simulated_provider_records (space, key, value) \
                         SELECT $1, k, v FROM unnest($2::text[], $3::jsonb[]) AS r(k, v) \
                         ON CONFLICT (space, key) DO NOTHING",
                    )
                    .bind::<Text, _>(space)
                    .bind::<Array<Text>, _>(&keys)
                    .bind::<Array<Jsonb>, _>(&values)
                    .execute(conn)?;
                    read_many(conn, space, &keys)
                })
            }
        }
    }

    /// Replaces the record `key` of `space` with what `change` makes of it (nothing when it
    /// answers `None`), one caller at a time; answers the record as it is after, if there is one.
    pub fn update(
        &self,
        space: &str,
        key: &str,
        change: impl FnOnce(&Value) -> Option<Value>,
    ) -> Result<Option<Value>, String> {
        match &self.0 {
            Backing::Process(map) => {
                let mut map = map.lock().map_err(|e| e.to_string())?;
                let Some(record) = map.get_mut(&(space.to_string(), key.to_string())) else {
                    return Ok(None);
                };
                if let Some(new) = change(record) {
                    *record = new;
                }
                Ok(Some(record.clone()))
            }
            Backing::Database(pool) => {
                let mut conn = pool.get().map_err(|e| e.to_string())?;
                conn.transaction(|conn| {
                    let Some(old) = diesel::sql_query(
                        "SELECT value FROM simulated_provider_records \
                         WHERE space = $1 AND key = $2 FOR UPDATE",
                    )
                    .bind::<Text, _>(space)
                    .bind::<Text, _>(key)
                    .get_result::<Row>(conn)
                    .optional()?
                    else {
                        return Ok(None);
                    };
                    let Some(new) = change(&old.value) else {
                        return Ok(Some(old.value));
                    };
                    diesel::sql_query(
                        "UPDATE simulated_provider_records SET value = $3, updated_at = now() \
                         WHERE space = $1 AND key = $2",
                    )
                    .bind::<Text, _>(space)
                    .bind::<Text, _>(key)
                    .bind::<Jsonb, _>(&new)
                    .execute(conn)?;
                    Ok(Some(new))
                })
                .map_err(|e: diesel::result::Error| e.to_string())
            }
        }
    }

    /// How many records `space` holds.
    pub fn count(&self, space: &str) -> usize {
        match &self.0 {
            Backing::Process(map) => map
                .lock()
                .map(|m| m.keys().filter(|(s, _)| s == space).count())
                .unwrap_or(0),
            Backing::Database(pool) => pool
                .get()
                .ok()
                .and_then(|mut conn| {
                    diesel::sql_query(
                        "SELECT count(*) AS n FROM simulated_provider_records WHERE space = $1",
                    )
                    .bind::<Text, _>(space)
                    .get_result::<Count>(&mut conn)
                    .ok()
                })
                .map_or(0, |c| usize::try_from(c.n).unwrap_or(0)),
        }
    }
}

fn read(conn: &mut PgConnection, space: &str, key: &str) -> QueryResult<Option<Value>> {
    diesel::sql_query("SELECT value FROM simulated_provider_records WHERE space = $1 AND key = $2")
        .bind::<Text, _>(space)
        .bind::<Text, _>(key)
        .get_result::<Row>(conn)
        .optional()
        .map(|row| row.map(|r| r.value))
}

#[derive(QueryableByName)]
struct KeyedRow {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Jsonb)]
    value: Value,
}

fn read_many(
    conn: &mut PgConnection,
    space: &str,
    keys: &[&str],
) -> QueryResult<HashMap<String, Value>> {
    let rows: Vec<KeyedRow> = diesel::sql_query(
        "SELECT key, value FROM simulated_provider_records WHERE space = $1 AND key = ANY($2)",
    )
    .bind::<Text, _>(space)
    .bind::<Array<Text>, _>(keys)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.key, r.value)).collect())
}

/// How long a simulated provider rides out our database's outage.
const PROVIDER_OUTAGE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs an idempotent `op` on a connection of `pool`, again while our database is failing
/// over: the simulated providers stand for other companies' systems, which our failover does
/// not touch, so an outage must not come out as their answer (a card "declined" because our
/// primary died).
fn through_outage<T>(
    pool: &DbPool,
    mut op: impl FnMut(&mut PgConnection) -> QueryResult<T>,
) -> Result<T, String> {
    let started = std::time::Instant::now();
    loop {
        let failed = match pool.get() {
            Ok(mut conn) => match op(&mut conn) {
                Ok(value) => return Ok(value),
                Err(e) if crate::platform::outage::outage(&e).is_some() => e.to_string(),
                Err(e) => return Err(e.to_string()),
            },
            Err(e) => e.to_string(),
        };
        if started.elapsed() > PROVIDER_OUTAGE_PATIENCE {
            return Err(failed);
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// A reference no other instance or run of the simulator gives out.
pub fn fresh_reference(prefix: &str) -> String {
    let bytes: [u8; 8] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

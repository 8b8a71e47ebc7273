//! Idempotent requests: the first result of a request made with a given key is stored in the
//! same transaction as its effect and replayed for every retry; the same key with a different
//! request is refused. Keys are scoped to their caller and kept for at least 24 hours.

use diesel::prelude::*;

use crate::platform::schema::idempotency_keys;

/// Keys older than this are swept (the promise is 24 hours; we keep them twice as long).
pub const KEEP_KEYS_HOURS: i64 = 48;

/// A result as the caller saw it: a status code and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The request ran now.
    Fresh(StoredResponse),
    /// A retry: the stored result of the first run.
    Replayed(StoredResponse),
    /// The key was used before for a different request.
    Conflict,
}

/// Runs `work` at most once for (`scope`, `key`). `request` is a canonical description of the
/// request (method, path, parsed body), compared on retries. `work` returns the response to
/// store — errors a caller should see again (not enough credits, …) included; an `Err` is a
/// fault that rolls everything back and stores nothing, so a retry runs again.
pub fn run_once<E>(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
    request: &str,
    work: impl FnOnce(&mut PgConnection) -> Result<StoredResponse, E>,
) -> Result<Outcome, E>
where
    E: From<diesel::result::Error>,
{
    conn.transaction(|conn| {
        // A concurrent first run holds this row's lock until it commits; we then see its result.
        let claimed = diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::scope.eq(scope),
                idempotency_keys::key.eq(key),
                idempotency_keys::request.eq(request),
                idempotency_keys::response_status.eq(0i16),
                idempotency_keys::response_body.eq(""),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?
            == 1;
        if !claimed {
            let (stored_request, status, body): (String, i16, String) = idempotency_keys::table
                .find((scope, key))
                .select((
                    idempotency_keys::request,
                    idempotency_keys::response_status,
                    idempotency_keys::response_body,
                ))
                .first(conn)?;
            return Ok(if stored_request == request {
                Outcome::Replayed(StoredResponse {
                    status: u16::try_from(status).unwrap_or(500),
                    body,
                })
            } else {
                Outcome::Conflict
            });
        }
        let response = work(conn)?;
        diesel::update(idempotency_keys::table.find((scope, key)))
            .set((
                idempotency_keys::response_status.eq(i16::try_from(response.status).unwrap_or(500)),
                idempotency_keys::response_body.eq(&response.body),
            ))
            .execute(conn)?;
        Ok(Outcome::Fresh(response))
    })
}

/// Deletes keys past their keeping time; returns how many.
pub fn sweep_old_keys(conn: &mut PgConnection) -> QueryResult<usize> {
    let cutoff = chrono::Utc::now() - chrono::Duration::hours(KEEP_KEYS_HOURS);
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(cutoff)))
        .execute(conn)
}

//! Signed-in sessions, kept in the database (owner of `user_sessions`): the cookie holds only a
//! random session id. A session ends when its user signs out, when it is idle for
//! `IDLE_TIMEOUT`, when it is older than `ABSOLUTE_LIFETIME`, or when all of a user's sessions
//! are ended ("sign out everywhere", which a password change will also call).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::kernel::ids::UserId;
use crate::platform::schema::user_sessions;

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::hours(8);
/// …and this long after sign-in, however busy.
pub const ABSOLUTE_LIFETIME: Duration = Duration::days(7);
/// `last_seen_at` is written at most this often (not on every request).
const TOUCH_EVERY: Duration = Duration::minutes(1);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = user_sessions, check_for_backend(diesel::pg::Pg))]
struct SessionRow {
    user_id: UserId,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
}

#[derive(Insertable)]
#[diesel(table_name = user_sessions)]
struct SessionInsertForm<'a> {
    id: &'a str,
    user_id: UserId,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
}

/// Starts a session for the user; returns its id (for the cookie only).
pub fn start(conn: &mut PgConnection, user_id: UserId, now: DateTime<Utc>) -> QueryResult<String> {
    let id: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(43)
        .map(char::from)
        .collect();
    diesel::insert_into(user_sessions::table)
        .values(SessionInsertForm {
            id: &id,
            user_id,
            created_at: now,
            last_seen_at: now,
        })
        .execute(conn)?;
    Ok(id)
}

/// The user of a live session (and it counts as used now), or `None` once it has ended.
pub fn user_of(
    conn: &mut PgConnection,
    id: &str,
    now: DateTime<Utc>,
) -> QueryResult<Option<UserId>> {
    let Some(row) = user_sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let alive = row.ended_at.is_none()
        && row.last_seen_at > now - IDLE_TIMEOUT
        && row.created_at > now - ABSOLUTE_LIFETIME;
    if !alive {
        end(conn, id, now)?;
        return Ok(None);
    }
    if row.last_seen_at < now - TOUCH_EVERY {
        diesel::update(user_sessions::table.find(id))
            .set(user_sessions::last_seen_at.eq(now))
            .execute(conn)?;
    }
    Ok(Some(row.user_id))
}

/// Ends one session (signing out).
pub fn end(conn: &mut PgConnection, id: &str, now: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(
        user_sessions::table
            .find(id)
            .filter(user_sessions::ended_at.is_null()),
    )
    .set(user_sessions::ended_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Ends every session of the user ("sign out everywhere"); returns how many were live.
pub fn end_all_of(
    conn: &mut PgConnection,
    user_id: UserId,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        user_sessions::table
            .filter(user_sessions::user_id.eq(user_id))
            .filter(user_sessions::ended_at.is_null()),
    )
    .set(user_sessions::ended_at.eq(now))
    .execute(conn)
}

/// Forgets sessions unused for longer than they could live; returns how many.
pub fn purge(conn: &mut PgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(
        user_sessions::table.filter(user_sessions::last_seen_at.lt(now - ABSOLUTE_LIFETIME)),
    )
    .execute(conn)
}

//! The `service_jobs` rows: one piece of paid work, its hold, and where it stands. Only the
//! steps in `metering` change them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, DatabaseId, HoldId, JobId, ServiceId};
use crate::platform::schema::service_jobs;
use crate::sql_text_enum;

sql_text_enum! {
    pub enum JobStatus {
        /// Recorded and held; the provider may not have been called yet.
        Pending => "pending",
        /// Finished: what was used is captured, the rest released.
        Done => "done",
        /// Given up after its attempts: what was used is captured, the rest released.
        Failed => "failed",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = service_jobs, check_for_backend(diesel::pg::Pg))]
pub struct Job {
    pub id: JobId,
    pub service_id: ServiceId,
    pub database_id: DatabaseId,
    pub account_id: AccountId,
    pub hold_id: HoldId,
    pub status: JobStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub claimed_until: Option<DateTime<Utc>>,
    pub used: Option<Credits>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Insertable)]
#[diesel(table_name = service_jobs)]
pub(super) struct JobInsertForm {
    pub service_id: ServiceId,
    pub database_id: DatabaseId,
    pub account_id: AccountId,
    pub hold_id: HoldId,
    /// When the worker may take it: the request that began it runs it before then.
    pub next_attempt_at: DateTime<Utc>,
}

pub(super) fn insert(conn: &mut PgConnection, form: JobInsertForm) -> QueryResult<Job> {
    diesel::insert_into(service_jobs::table)
        .values(form)
        .returning(Job::as_returning())
        .get_result(conn)
}

pub fn find(conn: &mut PgConnection, job_id: JobId) -> QueryResult<Option<Job>> {
    service_jobs::table
        .find(job_id)
        .select(Job::as_select())
        .first(conn)
        .optional()
}

/// Claims a pending job not claimed by a live worker — `job_id` whenever it is due or not (its
/// own request runs it at once), else the next due one — leased until `until`, its attempt
/// counted. Committed at once, so the claim holds while the provider is called outside any
/// transaction.
pub(super) fn claim(
    conn: &mut PgConnection,
    job_id: Option<JobId>,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> QueryResult<Option<Job>> {
    conn.transaction(|conn| {
        let open = service_jobs::table
            .filter(service_jobs::status.eq(JobStatus::Pending))
            .filter(
                service_jobs::claimed_until
                    .is_null()
                    .or(service_jobs::claimed_until.lt(now)),
            )
            .select(service_jobs::id);
        let found = match job_id {
            Some(id) => open
                .filter(service_jobs::id.eq(id))
                .for_update()
                .skip_locked()
                .first::<i64>(conn),
            None => open
                .filter(service_jobs::next_attempt_at.le(now))
                .order((service_jobs::next_attempt_at, service_jobs::id))
                .for_update()
                .skip_locked()
                .first::<i64>(conn),
        };
        let Some(id) = found.optional()? else {
            return Ok(None);
        };
        diesel::update(service_jobs::table.find(id))
            .set((
                service_jobs::claimed_until.eq(until),
                service_jobs::attempts.eq(service_jobs::attempts + 1),
            ))
            .returning(Job::as_returning())
            .get_result(conn)
            .map(Some)
    })
}

/// Locks the job for the rest of the transaction; `None` if it is no longer pending.
pub(super) fn lock_pending(conn: &mut PgConnection, job_id: JobId) -> QueryResult<Option<Job>> {
    service_jobs::table
        .find(job_id)
        .filter(service_jobs::status.eq(JobStatus::Pending))
        .select(Job::as_select())
        .for_update()
        .first(conn)
        .optional()
}

/// Leaves a job unclaimed until `until` (its own worker runs it before then).
pub(super) fn postpone(
    conn: &mut PgConnection,
    job_id: JobId,
    until: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(service_jobs::table.find(job_id))
        .set(service_jobs::next_attempt_at.eq(until))
        .execute(conn)?;
    Ok(())
}

/// Releases the claim and asks for another attempt at `next`.
pub(super) fn retry_later(
    conn: &mut PgConnection,
    job_id: JobId,
    next: DateTime<Utc>,
    error: &str,
) -> QueryResult<()> {
    diesel::update(
        service_jobs::table
            .find(job_id)
            .filter(service_jobs::status.eq(JobStatus::Pending)),
    )
    .set((
        service_jobs::claimed_until.eq(None::<DateTime<Utc>>),
        service_jobs::next_attempt_at.eq(next),
        service_jobs::last_error.eq(error),
    ))
    .execute(conn)?;
    Ok(())
}

pub(super) fn close(
    conn: &mut PgConnection,
    job_id: JobId,
    status: JobStatus,
    used: Credits,
    error: Option<&str>,
) -> QueryResult<Job> {
    diesel::update(service_jobs::table.find(job_id))
        .set((
            service_jobs::status.eq(status),
            service_jobs::used.eq(used),
            service_jobs::claimed_until.eq(None::<DateTime<Utc>>),
            service_jobs::last_error.eq(error),
            service_jobs::closed_at.eq(diesel::dsl::now),
        ))
        .returning(Job::as_returning())
        .get_result(conn)
}

/// Pending jobs (for the operator and tests).
pub fn pending(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<Job>> {
    service_jobs::table
        .filter(service_jobs::status.eq(JobStatus::Pending))
        .order(service_jobs::id)
        .limit(limit)
        .select(Job::as_select())
        .load(conn)
}

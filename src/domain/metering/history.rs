//! Paid services' past work, as it would have run: each use held on the account, its job done
//! and what it used captured in full. The first start's demo writes its history with it; each
//! service then writes its own records of the jobs (`job_id`), and the account's ledger rows
//! are written with its other past entries by `ledger::history::write_past`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::MeteringError;
use super::jobs::JobStatus;
use crate::domain::ledger::IapAccount;
use crate::domain::ledger::history::{self as ledger_history, PastEntry, PastUse};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, DatabaseId, HoldId, JobId, ServiceId};
use crate::platform::schema::service_jobs;

/// A past use's job and the ledger rows of its hold and capture.
#[derive(Debug, Clone)]
pub struct PastJob {
    pub job_id: JobId,
    pub at: DateTime<Utc>,
    pub used: Credits,
    pub entries: [PastEntry; 2],
}

#[derive(Insertable)]
#[diesel(table_name = service_jobs)]
struct PastJobRow {
    service_id: ServiceId,
    database_id: DatabaseId,
    account_id: AccountId,
    hold_id: HoldId,
    status: JobStatus,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    used: Option<Credits>,
    created_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
}

/// Writes the account's past uses — their holds, captured, and their jobs, done — and returns
/// the jobs in the uses' order.
pub fn done_in_past(
    conn: &mut PgConnection,
    account: &IapAccount,
    uses: &[PastUse],
) -> Result<Vec<PastJob>, MeteringError> {
    if uses.is_empty() {
        return Ok(Vec::new());
    }
    let holds = ledger_history::holds_in_past(conn, account, uses)?;
    let rows: Vec<PastJobRow> = uses
        .iter()
        .zip(&holds)
        .map(|(u, hold)| PastJobRow {
            service_id: account.service_id,
            database_id: account.database_id,
            account_id: account.id,
            hold_id: hold.hold_id,
            status: JobStatus::Done,
            attempts: 1,
            next_attempt_at: u.at,
            used: Some(u.price),
            created_at: u.at,
            closed_at: Some(u.finished_at),
        })
        .collect();
    let mut ids: Vec<JobId> = diesel::insert_into(service_jobs::table)
        .values(&rows)
        .returning(service_jobs::id)
        .get_results(conn)?;
    // Ids follow the order of the rows given.
    ids.sort_unstable();
    Ok(uses
        .iter()
        .zip(holds)
        .zip(ids)
        .map(|((u, hold), job_id)| PastJob {
            job_id,
            at: u.at,
            used: u.price,
            entries: hold.entries,
        })
        .collect())
}

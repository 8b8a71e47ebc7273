//! The email outbox. Rows are written in the transaction that causes them — low-credit alerts
//! by the `iap_accounts_low_credit_alert` trigger, receipts by `orders_queue_receipt` when an
//! order becomes paid (see their migrations) — and `deliver_due` sends them. Several server instances may deliver at once: each message is
//! claimed with `FOR UPDATE SKIP LOCKED` and stays locked until its outcome is recorded, so it
//! is handed to SMTP by one worker only. A crash between the SMTP hand-off and the commit would
//! send it again (with the same Message-ID); nothing can be lost.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::Mailer;
use super::compose::{self, ComposeError, Composed};
use crate::audit;
use crate::ids::{AccountId, DatabaseId, OrderId};
use crate::schema::email_outbox;

crate::sql_text_enum! {
    pub enum EmailKind {
        LowCredit => "low_credit",
        Receipt => "receipt",
        AutoTopupDeclined => "auto_topup_declined",
        AutoTopupStopped => "auto_topup_stopped",
    }
}

crate::sql_text_enum! {
    pub enum EmailStatus {
        Pending => "pending",
        Sent => "sent",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

/// Attempts before a message is marked failed for good.
pub const MAX_ATTEMPTS: i32 = 12;
/// The wait after the first failure; it doubles after each further one, up to `MAX_DELAY`.
const FIRST_DELAY_SECONDS: i64 = 30;
const MAX_DELAY_SECONDS: i64 = 3600;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = email_outbox, check_for_backend(diesel::pg::Pg))]
pub struct OutboxEmail {
    pub id: i64,
    pub kind: EmailKind,
    pub database_id: DatabaseId,
    pub account_id: Option<AccountId>,
    pub order_id: Option<OrderId>,
    pub status: EmailStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub recipients: Option<String>,
    pub subject: Option<String>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl OutboxEmail {
    /// The `n`-th recipient's Message-ID: stable across attempts, unique across installations
    /// sharing nothing but the format.
    fn message_id(&self, n: usize, from_domain: &str) -> String {
        let recipient = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        format!(
            "<iap-outbox-{}{recipient}-{}@{from_domain}>",
            self.id,
            self.created_at.timestamp_micros()
        )
    }

    /// The file name of the `n`-th recipient's message with the file transport.
    fn file_name(&self, n: usize) -> String {
        let recipient = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        format!(
            "{:06}-{}{recipient}",
            self.id,
            self.kind.as_str().replace('_', "-")
        )
    }
}

/// The wait before attempt `attempts + 1`, after `attempts` failures.
pub fn retry_delay(attempts: i32) -> chrono::Duration {
    let doublings = (attempts.max(1) - 1).min(20) as u32;
    chrono::Duration::seconds((FIRST_DELAY_SECONDS << doublings).min(MAX_DELAY_SECONDS))
}

/// What one delivery run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRun {
    pub sent: usize,
    /// Failed this time, to be tried again later.
    pub deferred: usize,
    /// Failed for good (permanent refusal, or out of attempts).
    pub failed: usize,
    pub cancelled: usize,
}

impl DeliveryRun {
    pub fn is_empty(&self) -> bool {
        *self == DeliveryRun::default()
    }
}

enum Outcome {
    Sent,
    Deferred,
    Failed,
    Cancelled,
}

/// Sends up to `limit` messages due at `now`, one transaction each.
pub fn deliver_due(
    conn: &mut PgConnection,
    mailer: &Mailer,
    now: DateTime<Utc>,
    limit: usize,
) -> QueryResult<DeliveryRun> {
    let mut run = DeliveryRun::default();
    for _ in 0..limit {
        let outcome = conn.transaction(|conn| {
            let Some(email) = email_outbox::table
                .filter(email_outbox::status.eq(EmailStatus::Pending))
                .filter(email_outbox::next_attempt_at.le(now))
                .order((email_outbox::next_attempt_at, email_outbox::id))
                .select(OutboxEmail::as_select())
                .for_update()
                .skip_locked()
                .first(conn)
                .optional()?
            else {
                return Ok(None);
            };
            deliver_one(conn, mailer, &email, now).map(Some)
        })?;
        match outcome {
            None => break,
            Some(Outcome::Sent) => run.sent += 1,
            Some(Outcome::Deferred) => run.deferred += 1,
            Some(Outcome::Failed) => run.failed += 1,
            Some(Outcome::Cancelled) => run.cancelled += 1,
        }
    }
    Ok(run)
}

fn deliver_one(
    conn: &mut PgConnection,
    mailer: &Mailer,
    email: &OutboxEmail,
    now: DateTime<Utc>,
) -> QueryResult<Outcome> {
    let composed = match (email.kind, email.account_id, email.order_id) {
        (EmailKind::LowCredit, Some(account), _) => {
            compose::low_credit_alert(conn, &mailer.base_url, account)
        }
        (EmailKind::Receipt, _, Some(order)) => compose::receipt(conn, &mailer.base_url, order),
        (EmailKind::AutoTopupDeclined, Some(account), Some(order)) => {
            compose::auto_topup_declined(conn, &mailer.base_url, account, order)
        }
        (EmailKind::AutoTopupStopped, Some(account), _) => {
            compose::auto_topup_stopped(conn, &mailer.base_url, account)
        }
        _ => Ok(Composed::Cancelled(
            "the message lacks its account or order".into(),
        )),
    };
    let ready = match composed {
        Ok(Composed::Ready(ready)) => ready,
        Ok(Composed::Cancelled(reason)) => {
            close(conn, email.id, EmailStatus::Cancelled, &reason, now)?;
            tracing::info!(id = email.id, kind = %email.kind, "email not sent: {reason}");
            return Ok(Outcome::Cancelled);
        }
        Err(ComposeError::Database(e)) => return Err(e),
        Err(e) => return record_failure(conn, email, &e.to_string(), true, now),
    };
    let domain = mailer.from().email.domain().to_string();
    // One message per recipient, each with a Message-ID of its own (the same at every attempt).
    let mut messages = Vec::with_capacity(ready.to.len());
    for (n, to) in ready.to.iter().enumerate() {
        match ready.to_message(mailer.from(), to, email.message_id(n, &domain)) {
            Ok(message) => messages.push(message),
            Err(e) => return record_failure(conn, email, &e.to_string(), true, now),
        }
    }
    for (n, message) in messages.iter().enumerate() {
        if let Err(failure) = mailer.deliver(&email.file_name(n), message) {
            return record_failure(conn, email, &failure.message, failure.permanent, now);
        }
    }
    let recipients = ready
        .to
        .iter()
        .map(|m| m.email.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    diesel::update(email_outbox::table.find(email.id))
        .set((
            email_outbox::status.eq(EmailStatus::Sent),
            email_outbox::attempts.eq(email.attempts + 1),
            email_outbox::recipients.eq(&recipients),
            email_outbox::subject.eq(&ready.subject),
            email_outbox::last_error.eq(None::<String>),
            email_outbox::closed_at.eq(now),
        ))
        .execute(conn)?;
    tracing::info!(id = email.id, kind = %email.kind, to = %recipients, "email sent");
    Ok(Outcome::Sent)
}

fn record_failure(
    conn: &mut PgConnection,
    email: &OutboxEmail,
    error: &str,
    permanent: bool,
    now: DateTime<Utc>,
) -> QueryResult<Outcome> {
    let attempts = email.attempts + 1;
    if permanent || attempts >= MAX_ATTEMPTS {
        diesel::update(email_outbox::table.find(email.id))
            .set(email_outbox::attempts.eq(attempts))
            .execute(conn)?;
        close(conn, email.id, EmailStatus::Failed, error, now)?;
        tracing::error!(id = email.id, kind = %email.kind, attempts, "email failed for good: {error}");
        return Ok(Outcome::Failed);
    }
    let next = now + retry_delay(attempts);
    diesel::update(email_outbox::table.find(email.id))
        .set((
            email_outbox::attempts.eq(attempts),
            email_outbox::next_attempt_at.eq(next),
            email_outbox::last_error.eq(error),
        ))
        .execute(conn)?;
    tracing::warn!(id = email.id, kind = %email.kind, attempts, retry_at = %next, "email not sent yet: {error}");
    Ok(Outcome::Deferred)
}

/// Ends a message unsent: cancelled or failed, with the reason.
fn close(
    conn: &mut PgConnection,
    id: i64,
    status: EmailStatus,
    reason: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::status.eq(status),
            email_outbox::last_error.eq(reason),
            email_outbox::closed_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Messages of `status`, newest first (the operator's view of failures, for instance).
pub fn list(
    conn: &mut PgConnection,
    status: Option<EmailStatus>,
    limit: i64,
) -> QueryResult<Vec<OutboxEmail>> {
    let mut query = email_outbox::table
        .order(email_outbox::id.desc())
        .limit(limit)
        .select(OutboxEmail::as_select())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(email_outbox::status.eq(status));
    }
    query.load(conn)
}

/// Queues a failed message again with a fresh count of attempts; false if `id` is not failed.
pub fn retry_failed(conn: &mut PgConnection, id: i64) -> QueryResult<bool> {
    let updated = diesel::update(
        email_outbox::table
            .find(id)
            .filter(email_outbox::status.eq(EmailStatus::Failed)),
    )
    .set((
        email_outbox::status.eq(EmailStatus::Pending),
        email_outbox::attempts.eq(0),
        email_outbox::next_attempt_at.eq(diesel::dsl::now),
        email_outbox::closed_at.eq(None::<DateTime<Utc>>),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// The operator's "Send again": `retry_failed`, recorded in the audit log; false if `email_id`
/// is not a failed message.
pub fn retry_failed_by_operator(
    conn: &mut PgConnection,
    operator: &audit::Operator,
    email_id: i64,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        if !retry_failed(conn, email_id)? {
            return Ok(false);
        }
        audit::record(
            conn,
            operator,
            audit::Action {
                action: "email.retry",
                subject: format!("email:{email_id}"),
                database_id: None,
                reason: None,
                before: Some(serde_json::json!({"status": "failed"})),
                after: Some(serde_json::json!({"status": "pending"})),
            },
        )?;
        Ok(true)
    })
}

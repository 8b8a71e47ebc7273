//! The email outbox. Rows are written in the transaction that causes them — low-credit alerts
//! by the `iap_accounts_low_credit_alert` trigger, receipts by `orders_queue_receipt` when an
//! order becomes paid (see their migrations) — and `deliver_due` sends them. Several server
//! instances may deliver at once: a message is claimed (`FOR UPDATE SKIP LOCKED`, in a short
//! transaction) and leased to one worker, which talks SMTP with no transaction open and then
//! records the outcome. A worker that dies mid-send leaves its lease to run out; the message is
//! then sent again (with the same Message-ID): nothing can be lost.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::compose::{self, ComposeError, Composed};
use super::{Mailer, SendFailure};
use crate::domain::audit;
use crate::kernel::ids::{AccountId, DatabaseId, OrderId};
use crate::platform::schema::email_outbox;

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

/// How long a claimed message stays its worker's before another worker may take it over:
/// longer than the SMTP conversations with all its recipients can take, so that only a message
/// whose worker died is taken over (and sent again, with the same Message-ID).
const LEASE_SECONDS: i64 = 600;

pub fn lease() -> chrono::Duration {
    chrono::Duration::seconds(LEASE_SECONDS)
}

/// A message claimed for one attempt, ready to hand over.
struct Claimed {
    /// As stored by the claim: `attempts` counts this attempt (it fences the outcome).
    email: OutboxEmail,
    messages: Vec<lettre::Message>,
    recipients: String,
    subject: String,
}

enum Attempt {
    /// Decided without sending (cancelled, or it could not be composed).
    Over(Option<Outcome>),
    Claimed(Box<Claimed>),
}

/// Sends up to `limit` messages due at `now`. Each is claimed in a short transaction (composed,
/// its attempt counted, and leased to this worker by moving its next attempt `lease()` ahead),
/// handed to the mailer with no transaction open — a slow SMTP server holds no lock and no
/// transaction — and its outcome recorded after, unless another worker took it over meanwhile.
pub fn deliver_due(
    conn: &mut PgConnection,
    mailer: &Mailer,
    now: DateTime<Utc>,
    limit: usize,
) -> QueryResult<DeliveryRun> {
    let mut run = DeliveryRun::default();
    for _ in 0..limit {
        let Some(attempt) = conn.transaction(|conn| claim(conn, mailer, now))? else {
            break;
        };
        let outcome = match attempt {
            Attempt::Over(outcome) => outcome,
            Attempt::Claimed(claimed) => {
                let handed = hand_over(mailer, &claimed);
                finish(conn, &claimed.email, handed.map(|()| &*claimed), now)?
            }
        };
        match outcome {
            None => {}
            Some(Outcome::Sent) => run.sent += 1,
            Some(Outcome::Deferred) => run.deferred += 1,
            Some(Outcome::Failed) => run.failed += 1,
            Some(Outcome::Cancelled) => run.cancelled += 1,
        }
    }
    Ok(run)
}

/// Takes the next due message (skipping those another worker holds), composes it and leases
/// it; `None` when nothing is due.
fn claim(
    conn: &mut PgConnection,
    mailer: &Mailer,
    now: DateTime<Utc>,
) -> QueryResult<Option<Attempt>> {
    let Some(mut email) = email_outbox::table
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
        Ok(Composed::Ready(ready)) => Ok(ready),
        Ok(Composed::Cancelled(reason)) => {
            close(conn, email.id, EmailStatus::Cancelled, &reason, now)?;
            tracing::info!(id = email.id, kind = %email.kind, "email not sent: {reason}");
            return Ok(Some(Attempt::Over(Some(Outcome::Cancelled))));
        }
        Err(ComposeError::Database(e)) => return Err(e),
        Err(e) => Err(e.to_string()),
    };
    // An attempt from here on, sent or not: counted, and the message leased to this worker.
    email.attempts += 1;
    email.next_attempt_at = now + lease();
    diesel::update(email_outbox::table.find(email.id))
        .set((
            email_outbox::attempts.eq(email.attempts),
            email_outbox::next_attempt_at.eq(email.next_attempt_at),
        ))
        .execute(conn)?;
    let failed = |conn: &mut PgConnection, email: &OutboxEmail, error: String| {
        let failure = SendFailure {
            message: error,
            permanent: true,
        };
        finish(conn, email, Err(failure), now).map(|o| Some(Attempt::Over(o)))
    };
    let ready = match ready {
        Ok(ready) => ready,
        Err(error) => return failed(conn, &email, error),
    };
    let domain = mailer.from().email.domain().to_string();
    // One message per recipient, each with a Message-ID of its own (the same at every attempt).
    let mut messages = Vec::with_capacity(ready.to.len());
    for (n, to) in ready.to.iter().enumerate() {
        match ready.to_message(mailer.from(), to, email.message_id(n, &domain)) {
            Ok(message) => messages.push(message),
            Err(e) => return failed(conn, &email, e.to_string()),
        }
    }
    let recipients = ready
        .to
        .iter()
        .map(|m| m.email.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Some(Attempt::Claimed(Box::new(Claimed {
        email,
        messages,
        recipients,
        subject: ready.subject,
    }))))
}

/// Hands each recipient's message to the mailer (the network; no transaction is open).
fn hand_over(mailer: &Mailer, claimed: &Claimed) -> Result<(), SendFailure> {
    for (n, message) in claimed.messages.iter().enumerate() {
        mailer.deliver(&claimed.email.file_name(n), message)?;
    }
    Ok(())
}

/// Records an attempt's outcome, fenced by the claim: nothing is written (`None`) when the
/// message is no longer this attempt's — its lease ran out and another worker took it over,
/// whose outcome stands.
fn finish(
    conn: &mut PgConnection,
    email: &OutboxEmail,
    handed: Result<&Claimed, SendFailure>,
    now: DateTime<Utc>,
) -> QueryResult<Option<Outcome>> {
    let this_attempt = email_outbox::id
        .eq(email.id)
        .and(email_outbox::status.eq(EmailStatus::Pending))
        .and(email_outbox::attempts.eq(email.attempts));
    let attempts = email.attempts;
    let (outcome, updated) = match &handed {
        Ok(claimed) => (
            Outcome::Sent,
            diesel::update(email_outbox::table.filter(this_attempt))
                .set((
                    email_outbox::status.eq(EmailStatus::Sent),
                    email_outbox::recipients.eq(&claimed.recipients),
                    email_outbox::subject.eq(&claimed.subject),
                    email_outbox::last_error.eq(None::<String>),
                    email_outbox::closed_at.eq(now),
                ))
                .execute(conn)?,
        ),
        Err(failure) if failure.permanent || attempts >= MAX_ATTEMPTS => (
            Outcome::Failed,
            diesel::update(email_outbox::table.filter(this_attempt))
                .set((
                    email_outbox::status.eq(EmailStatus::Failed),
                    email_outbox::last_error.eq(&failure.message),
                    email_outbox::closed_at.eq(now),
                ))
                .execute(conn)?,
        ),
        Err(failure) => (
            Outcome::Deferred,
            diesel::update(email_outbox::table.filter(this_attempt))
                .set((
                    email_outbox::next_attempt_at.eq(now + retry_delay(attempts)),
                    email_outbox::last_error.eq(&failure.message),
                ))
                .execute(conn)?,
        ),
    };
    if updated == 0 {
        tracing::warn!(
            id = email.id,
            kind = %email.kind,
            attempts,
            "email attempt outlived its lease; another worker took the message over"
        );
        return Ok(None);
    }
    match (&outcome, &handed) {
        (Outcome::Sent, Ok(claimed)) => {
            tracing::info!(id = email.id, kind = %email.kind, to = %claimed.recipients, "email sent")
        }
        (Outcome::Failed, Err(failure)) => tracing::error!(
            id = email.id, kind = %email.kind, attempts,
            "email failed for good: {}", failure.message
        ),
        (_, Err(failure)) => tracing::warn!(
            id = email.id, kind = %email.kind, attempts,
            retry_at = %(now + retry_delay(attempts)),
            "email not sent yet: {}", failure.message
        ),
        _ => {}
    }
    Ok(Some(outcome))
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

/// Closes, unsent, the receipts queued for orders written into the past (a history imported
/// now): their buyers were sent theirs when they paid.
pub fn cancel_receipts_of_past_orders(
    conn: &mut PgConnection,
    order_ids: &[OrderId],
) -> QueryResult<usize> {
    diesel::update(
        email_outbox::table
            .filter(email_outbox::kind.eq(EmailKind::Receipt))
            .filter(email_outbox::status.eq(EmailStatus::Pending))
            .filter(email_outbox::order_id.eq_any(order_ids)),
    )
    .set((
        email_outbox::status.eq(EmailStatus::Cancelled),
        email_outbox::last_error.eq("a past order: its receipt was not sent again"),
        email_outbox::closed_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
}

//! Sending SMS from contacts through the common paid-service steps (`metering`): everything is
//! checked first; then the messages are priced, their credits held and the messages recorded as
//! queued in one transaction that commits before the carrier is called; then each is handed to
//! the carrier (keyed by its id, so a retry after a crash is not sent twice) and the job captures
//! what the carrier accepted and releases the rest.

use std::time::Duration;

use diesel::prelude::*;

use super::encoding::{self, MAX_PARTS, SmsCount};
use super::gateway::{SmsGateway, Submission};
use super::messages::{self, SmsInsertForm, SmsMessage, SmsStatus};
use super::pricing;
use crate::domain::ledger::{Actor, LedgerError};
use crate::domain::metering::{self, Job, MeteringError, PaidService, PerformError, Request};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, ContactId, DatabaseId, UserId};
use crate::services::contacts::{self, Contact, phone};

pub const SMS_SERVICE: &str = "sms";

/// A hold for SMS outlives every attempt of its job (`metering::MAX_ATTEMPTS` leases), plus a
/// second per message of a batch.
pub(super) fn hold_ttl(messages: usize) -> Duration {
    metering::LEASE * (metering::MAX_ATTEMPTS as u32 + 1) + Duration::from_secs(messages as u64)
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("Type a message.")]
    EmptyMessage,
    #[error("This message needs {0} SMS; the most is {MAX_PARTS}. Shorten it.")]
    TooLong(usize),
    #[error("Remove the control characters from the message (only line breaks are allowed).")]
    ControlCharacters,
    #[error("This contact has no number there.")]
    NoNumber,
    #[error("not enough credits")]
    InsufficientCredits {
        account_id: AccountId,
        available: Credits,
        needed: Credits,
    },
    #[error("{0}")]
    CarrierRefused(String),
    #[error("no such contact")]
    ContactNotFound,
    #[error(transparent)]
    Metering(MeteringError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

crate::from_metering_error!(SendError, with InsufficientCredits);

impl From<LedgerError> for SendError {
    fn from(e: LedgerError) -> Self {
        MeteringError::from(e).into()
    }
}

/// What a message to a number would cost, before sending.
#[derive(Debug, Clone)]
pub struct Quote {
    pub count: SmsCount,
    pub country: String,
    pub price_per_part: Credits,
    pub cost: Credits,
}

pub fn quote(conn: &mut PgConnection, recipient_e164: &str, body: &str) -> QueryResult<Quote> {
    let count = encoding::count(body);
    let price = pricing::price_per_part(conn, phone::country_of(recipient_e164).as_deref())?;
    Ok(Quote {
        cost: pricing::cost(&count, price.price),
        count,
        country: price.country_name,
        price_per_part: price.price,
    })
}

/// The message's count, unless it is empty, longer than the most parts allowed, or holds
/// control characters (a NUL byte cannot even be stored).
pub(super) fn checked_count(body: &str) -> Result<SmsCount, SendError> {
    if body
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(SendError::ControlCharacters);
    }
    let count = encoding::count(body);
    if count.parts == 0 || body.trim().is_empty() {
        return Err(SendError::EmptyMessage);
    }
    if count.too_long() {
        return Err(SendError::TooLong(count.parts));
    }
    Ok(count)
}

/// Which of the contact's numbers to send to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberField {
    Phone,
    Mobile,
}

/// The SMS service's part of the common steps: hand each queued message to the carrier.
pub struct SmsService<'a>(pub &'a dyn SmsGateway);

impl PaidService for SmsService<'_> {
    fn slug(&self) -> &'static str {
        SMS_SERVICE
    }

    fn perform(&self, conn: &mut PgConnection, job: &Job) -> Result<(), PerformError> {
        let queued: Vec<SmsMessage> = messages::of_job(conn, job.id)?
            .into_iter()
            .filter(|m| m.status == SmsStatus::Queued)
            .collect();
        let keys: Vec<String> = queued.iter().map(SmsMessage::idempotency_key).collect();
        let submissions: Vec<Submission<'_>> = queued
            .iter()
            .zip(&keys)
            .map(|(m, key)| Submission {
                recipient: &m.recipient,
                body: &m.body,
                key,
            })
            .collect();
        let handoffs = self.0.submit_all(&submissions);
        let answered: Vec<_> = queued.iter().map(|m| m.id).zip(handoffs).collect();
        messages::mark_handoffs(conn, &answered)?;
        Ok(())
    }

    fn close_unfinished(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<()> {
        messages::close_queued(conn, job.id)
    }

    fn used(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<Credits> {
        messages::cost_of_job(conn, job.id)
    }
}

/// The worker's SMS service: the same steps with a carrier it owns.
pub struct SmsWorker(pub std::sync::Arc<dyn SmsGateway>);

impl PaidService for SmsWorker {
    fn slug(&self) -> &'static str {
        SMS_SERVICE
    }

    fn perform(&self, conn: &mut PgConnection, job: &Job) -> Result<(), PerformError> {
        SmsService(self.0.as_ref()).perform(conn, job)
    }

    fn close_unfinished(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<()> {
        messages::close_queued(conn, job.id)
    }

    fn used(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<Credits> {
        messages::cost_of_job(conn, job.id)
    }
}

/// One message to queue: its contact, E.164 number and price.
struct Target {
    contact: Contact,
    recipient: String,
    cost: Credits,
}

/// One message to its recipients, checked and priced: what a send asks of the common steps.
struct Batch<'a> {
    database_id: DatabaseId,
    user_id: UserId,
    body: &'a str,
    count: SmsCount,
    description: String,
    targets: Vec<Target>,
}

/// Steps 1 to 4 for a batch: hold its total, record its messages queued, commit; then hand them
/// to the carrier and settle. Returns the job's messages as they ended.
fn send_batch(
    conn: &mut PgConnection,
    gateway: &dyn SmsGateway,
    batch: &Batch<'_>,
) -> Result<Vec<SmsMessage>, SendError> {
    let total = Credits::from_units(batch.targets.iter().map(|t| t.cost.units()).sum());
    let actor = Actor::user(batch.user_id);
    let request = Request {
        database_id: batch.database_id,
        account: None,
        service: &SmsService(gateway),
        credits: total,
        hold_ttl: hold_ttl(batch.targets.len()),
        description: &batch.description,
        actor: &actor,
    };
    let parts = i32::try_from(batch.count.parts).unwrap_or(0);
    let (job, _) = metering::begin(conn, &request, |conn, job| {
        let rows: Vec<SmsInsertForm> = batch
            .targets
            .iter()
            .map(|t| SmsInsertForm {
                database_id: batch.database_id,
                contact_id: Some(t.contact.id),
                sent_by: Some(batch.user_id),
                recipient: &t.recipient,
                body: batch.body,
                encoding: batch.count.encoding.name(),
                parts,
                cost: t.cost,
                status: SmsStatus::Queued,
                error: None,
                hold_id: Some(job.hold_id),
                job_id: Some(job.id),
            })
            .collect();
        messages::insert(conn, &rows)
    })?;
    // The records and the hold are committed: from here a failure leaves the job to the worker.
    metering::run(conn, &SmsService(gateway), job.id)?;
    Ok(messages::of_job(conn, job.id)?)
}

/// Sends `body` to the contact's phone or mobile, charging its SMS account.
pub fn send_to_contact(
    conn: &mut PgConnection,
    gateway: &dyn SmsGateway,
    database_id: DatabaseId,
    user_id: UserId,
    contact_id: ContactId,
    field: NumberField,
    body: &str,
) -> Result<SmsMessage, SendError> {
    let contact =
        contacts::find(conn, database_id, contact_id)?.ok_or(SendError::ContactNotFound)?;
    let number = match field {
        NumberField::Phone => contact.phone.clone(),
        NumberField::Mobile => contact.mobile.clone(),
    }
    .ok_or(SendError::NoNumber)?;
    let count = checked_count(body)?;
    // A badly formatted number never reaches the carrier and costs nothing.
    let Ok(recipient) = phone::PhoneNumber::parse(&number, contact.country.as_deref()) else {
        let refused = SmsInsertForm {
            database_id,
            contact_id: Some(contact_id),
            sent_by: Some(user_id),
            recipient: &number,
            body,
            encoding: count.encoding.name(),
            parts: i32::try_from(count.parts).unwrap_or(0),
            cost: Credits::ZERO,
            status: SmsStatus::Error,
            error: Some("Invalid phone number: not sent, not charged."),
            hold_id: None,
            job_id: None,
        };
        return Ok(messages::insert(conn, &[refused])?.remove(0));
    };
    let recipient = recipient.e164().to_string();
    let cost = quote(conn, &recipient, body)?.cost;
    let batch = Batch {
        database_id,
        user_id,
        body,
        count,
        description: format!("SMS to {}", contact.name),
        targets: vec![Target {
            contact,
            recipient,
            cost,
        }],
    };
    let sent = send_batch(conn, gateway, &batch)?;
    let message = sent
        .into_iter()
        .next()
        .ok_or(diesel::result::Error::NotFound)?;
    match (&message.status, &message.error) {
        (SmsStatus::Error, Some(reason)) if !message.was_accepted() => {
            Err(SendError::CarrierRefused(reason.clone()))
        }
        _ => Ok(message),
    }
}

/// What a mass SMS did.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    pub sent: usize,
    pub cost: Credits,
    /// Contacts without a valid mobile number: not sent, not charged.
    pub skipped: Vec<String>,
    /// Contacts whose SMS the carrier refused: not charged.
    pub failed: Vec<String>,
}

/// Sends one message to the mobiles of several contacts. The whole batch is priced and held
/// first: without enough credits for all of it nothing is sent. Each message is logged in its
/// contact's chatter; the hold is captured for the accepted ones only.
pub fn send_to_many(
    conn: &mut PgConnection,
    gateway: &dyn SmsGateway,
    database_id: DatabaseId,
    user_id: UserId,
    contact_ids: &[ContactId],
    body: &str,
) -> Result<BatchOutcome, SendError> {
    let count = checked_count(body)?;
    let chosen = contacts::by_ids(conn, database_id, contact_ids)?;
    if chosen.is_empty() {
        return Err(SendError::ContactNotFound);
    }
    let prices = pricing::all_prices(conn)?;
    let mut outcome = BatchOutcome::default();
    let mut targets = Vec::new();
    for contact in chosen {
        let number = contact
            .mobile
            .as_deref()
            .and_then(|m| phone::PhoneNumber::parse(m, contact.country.as_deref()).ok());
        match number {
            Some(n) => {
                let price = pricing::price_in(&prices, phone::country_of(n.e164()).as_deref());
                targets.push(Target {
                    cost: pricing::cost(&count, price),
                    recipient: n.e164().to_string(),
                    contact,
                });
            }
            None => outcome.skipped.push(contact.name),
        }
    }
    if targets.is_empty() {
        return Ok(outcome);
    }
    let batch = Batch {
        database_id,
        user_id,
        body,
        count,
        description: format!("Mass SMS to {} contacts", targets.len()),
        targets,
    };
    let sent = send_batch(conn, gateway, &batch)?;
    let name_of = |message: &SmsMessage| {
        batch
            .targets
            .iter()
            .find(|t| Some(t.contact.id) == message.contact_id)
            .map(|t| t.contact.name.clone())
            .unwrap_or_default()
    };
    for message in &sent {
        if message.was_accepted() {
            outcome.sent += 1;
            outcome.cost += message.cost;
        } else if message.status == SmsStatus::Error {
            outcome.failed.push(name_of(message));
        }
    }
    Ok(outcome)
}

//! Sending an SMS from a contact: price it, hold its credits, hand it to the carrier, then
//! capture the hold with the message's record (one transaction) or cancel it if the carrier
//! refused — so credits are never lost nor spent for an SMS that was not accepted.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::encoding::{self, MAX_PARTS, SmsCount};
use super::gateway::{DeliveryReport, Handoff, SmsGateway};
use super::pricing;
use crate::catalog;
use crate::contacts::{self, phone};
use crate::credits::Credits;
use crate::ledger::{self, Actor, Hold, IapAccount, LedgerError, accounts};
use crate::schema::sms_messages;

/// A hold for an SMS lasts long enough for any carrier hand-off.
const HOLD_TTL: Duration = Duration::from_secs(120);
pub const SMS_SERVICE: &str = "sms";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sms_messages, check_for_backend(diesel::pg::Pg))]
pub struct SmsMessage {
    pub id: i64,
    pub contact_id: Option<i64>,
    pub sent_by: Option<i64>,
    pub recipient: String,
    pub body: String,
    pub encoding: String,
    pub parts: i32,
    pub cost: Credits,
    pub status: String,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("Type a message.")]
    EmptyMessage,
    #[error("This message needs {0} SMS; the most is {MAX_PARTS}. Shorten it.")]
    TooLong(usize),
    #[error("This contact has no number there.")]
    NoNumber,
    #[error("not enough credits")]
    InsufficientCredits {
        account_id: i64,
        available: Credits,
        needed: Credits,
    },
    #[error("{0}")]
    CarrierRefused(String),
    #[error("no such contact")]
    ContactNotFound,
    #[error(transparent)]
    Ledger(LedgerError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

impl From<LedgerError> for SendError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Database(db) => SendError::Database(db),
            other => SendError::Ledger(other),
        }
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

/// The message's count, unless it is empty or longer than the most parts allowed.
fn checked_count(body: &str) -> Result<SmsCount, SendError> {
    let count = encoding::count(body);
    if count.parts == 0 || body.trim().is_empty() {
        return Err(SendError::EmptyMessage);
    }
    if count.too_long() {
        return Err(SendError::TooLong(count.parts));
    }
    Ok(count)
}

/// Holds `cost` on the database's SMS account (created on first need); too few credits is
/// `InsufficientCredits` with what is needed and available.
fn hold_credits(
    conn: &mut PgConnection,
    database_id: i64,
    cost: Credits,
    description: &str,
    actor: &Actor,
) -> Result<(IapAccount, Hold), SendError> {
    let sms = catalog::service_by_slug(conn, SMS_SERVICE)?.ok_or(SendError::ContactNotFound)?;
    let account = accounts::get_or_create(conn, database_id, sms.id)?;
    match ledger::authorize(conn, account.id, cost, Some(HOLD_TTL), description, actor) {
        Ok(hold) => Ok((account, hold)),
        Err(LedgerError::InsufficientCredits { available, .. }) => {
            Err(SendError::InsufficientCredits {
                account_id: account.id,
                available,
                needed: cost,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Which of the contact's numbers to send to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberField {
    Phone,
    Mobile,
}

/// Sends `body` to the contact's phone or mobile, charging its SMS account.
pub fn send_to_contact(
    conn: &mut PgConnection,
    gateway: &dyn SmsGateway,
    database_id: i64,
    user_id: i64,
    contact_id: i64,
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
    let record = |conn: &mut PgConnection,
                  recipient: &str,
                  quote: Option<&Quote>,
                  status: &str,
                  error: Option<&str>,
                  reference: Option<&str>,
                  hold: Option<i64>| {
        diesel::insert_into(sms_messages::table)
            .values((
                sms_messages::database_id.eq(database_id),
                sms_messages::contact_id.eq(contact_id),
                sms_messages::sent_by.eq(user_id),
                sms_messages::recipient.eq(recipient),
                sms_messages::body.eq(body),
                sms_messages::encoding.eq(count.encoding.name()),
                sms_messages::parts.eq(i32::try_from(count.parts).unwrap_or(0)),
                sms_messages::cost.eq(quote.map_or(Credits::ZERO, |q| q.cost)),
                sms_messages::status.eq(status),
                sms_messages::error.eq(error),
                sms_messages::carrier_reference.eq(reference),
                sms_messages::hold_id.eq(hold),
            ))
            .returning(SmsMessage::as_returning())
            .get_result(conn)
    };
    // A badly formatted number never reaches the carrier and costs nothing.
    let Ok(recipient) = phone::PhoneNumber::parse(&number, contact.country.as_deref()) else {
        return Ok(record(
            conn,
            &number,
            None,
            "error",
            Some("Invalid phone number: not sent, not charged."),
            None,
            None,
        )?);
    };
    let recipient = recipient.e164().to_string();
    let quote = quote(conn, &recipient, body)?;
    let actor = Actor::user(user_id);
    let (account, hold) = hold_credits(
        conn,
        database_id,
        quote.cost,
        &format!("SMS to {}", contact.name),
        &actor,
    )?;
    match gateway.submit(&recipient, body) {
        Handoff::Accepted { reference } => Ok(conn.transaction(|conn| {
            ledger::capture(conn, account.id, hold.id, Some(quote.cost), &actor)?;
            Ok::<_, SendError>(record(
                conn,
                &recipient,
                Some(&quote),
                "sent",
                None,
                Some(&reference),
                Some(hold.id),
            )?)
        })?),
        Handoff::Refused { reason } => {
            ledger::cancel(conn, account.id, hold.id, &actor)?;
            Err(SendError::CarrierRefused(reason))
        }
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
    database_id: i64,
    user_id: i64,
    contact_ids: &[i64],
    body: &str,
) -> Result<BatchOutcome, SendError> {
    let count = checked_count(body)?;
    let chosen = contacts::by_ids(conn, database_id, contact_ids)?;
    if chosen.is_empty() {
        return Err(SendError::ContactNotFound);
    }
    let prices = pricing::all_prices(conn)?;
    let price_to = |e164: &str| {
        let country = phone::country_of(e164).unwrap_or_default();
        prices
            .iter()
            .find(|p| p.country_code == country)
            .or_else(|| {
                prices
                    .iter()
                    .find(|p| p.country_code == pricing::OTHER_COUNTRIES)
            })
            .map_or(Credits::ZERO, |p| p.price)
    };
    let mut outcome = BatchOutcome::default();
    let mut targets = Vec::new(); // (contact, recipient, cost)
    for contact in chosen {
        let number = contact
            .mobile
            .as_deref()
            .and_then(|m| phone::PhoneNumber::parse(m, contact.country.as_deref()).ok());
        match number {
            Some(n) => {
                let cost = pricing::cost(&count, price_to(n.e164()));
                targets.push((contact, n.e164().to_string(), cost));
            }
            None => outcome.skipped.push(contact.name),
        }
    }
    if targets.is_empty() {
        return Ok(outcome);
    }
    let total = Credits::from_units(targets.iter().map(|(_, _, c)| c.units()).sum());
    let actor = Actor::user(user_id);
    let description = format!("Mass SMS to {} contacts", targets.len());
    let (account, hold) = hold_credits(conn, database_id, total, &description, &actor)?;
    let handoffs: Vec<Handoff> = targets
        .iter()
        .map(|(_, to, _)| gateway.submit(to, body))
        .collect();
    conn.transaction(|conn| {
        let mut rows = Vec::with_capacity(targets.len());
        let mut captured = 0;
        for ((contact, to, cost), handoff) in targets.iter().zip(&handoffs) {
            let (status, cost, error, reference) = match handoff {
                Handoff::Accepted { reference } => {
                    captured += cost.units();
                    outcome.sent += 1;
                    ("sent", *cost, None, Some(reference.clone()))
                }
                Handoff::Refused { reason } => {
                    outcome.failed.push(contact.name.clone());
                    ("error", Credits::ZERO, Some(reason.clone()), None)
                }
            };
            rows.push((
                sms_messages::database_id.eq(database_id),
                sms_messages::contact_id.eq(Some(contact.id)),
                sms_messages::sent_by.eq(Some(user_id)),
                sms_messages::recipient.eq(to.clone()),
                sms_messages::body.eq(body),
                sms_messages::encoding.eq(count.encoding.name()),
                sms_messages::parts.eq(i32::try_from(count.parts).unwrap_or(0)),
                sms_messages::cost.eq(cost),
                sms_messages::status.eq(status),
                sms_messages::error.eq(error),
                sms_messages::carrier_reference.eq(reference),
                sms_messages::hold_id.eq(Some(hold.id)),
            ));
        }
        if captured > 0 {
            ledger::capture(
                conn,
                account.id,
                hold.id,
                Some(Credits::from_units(captured)),
                &actor,
            )?;
        } else {
            ledger::cancel(conn, account.id, hold.id, &actor)?;
        }
        diesel::insert_into(sms_messages::table)
            .values(&rows)
            .execute(conn)?;
        outcome.cost = Credits::from_units(captured);
        Ok::<_, SendError>(())
    })?;
    Ok(outcome)
}

/// The SMS sent to a contact, newest first (its chatter).
pub fn chatter(
    conn: &mut PgConnection,
    database_id: i64,
    contact_id: i64,
) -> QueryResult<Vec<SmsMessage>> {
    sms_messages::table
        .filter(sms_messages::database_id.eq(database_id))
        .filter(sms_messages::contact_id.eq(contact_id))
        .order(sms_messages::id.desc())
        .limit(100)
        .select(SmsMessage::as_select())
        .load(conn)
}

/// The database's SMS, newest first (the SMS history).
pub fn history(conn: &mut PgConnection, database_id: i64) -> QueryResult<Vec<SmsMessage>> {
    sms_messages::table
        .filter(sms_messages::database_id.eq(database_id))
        .order(sms_messages::id.desc())
        .limit(200)
        .select(SmsMessage::as_select())
        .load(conn)
}

/// Applies the carrier's delivery reports to messages still marked sent; returns how many.
pub fn apply_delivery_reports(
    conn: &mut PgConnection,
    gateway: &dyn SmsGateway,
) -> QueryResult<usize> {
    let waiting: Vec<(i64, String, Option<String>)> = sms_messages::table
        .filter(sms_messages::status.eq("sent"))
        .order(sms_messages::id)
        .limit(500)
        .select((
            sms_messages::id,
            sms_messages::recipient,
            sms_messages::carrier_reference,
        ))
        .load(conn)?;
    let (mut ids, mut statuses, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for (id, recipient, reference) in waiting {
        let report = gateway.report(&recipient, reference.as_deref().unwrap_or_default());
        let (status, error) = match report {
            None => continue,
            Some(DeliveryReport::Delivered) => ("delivered", None),
            Some(DeliveryReport::Failed { reason }) => ("error", Some(reason)),
        };
        ids.push(id);
        statuses.push(status);
        errors.push(error);
    }
    if ids.is_empty() {
        return Ok(0);
    }
    // One statement for the whole batch; a message already moved on is left as it is.
    use diesel::sql_types::{Array, BigInt, Nullable, Text};
    let updated = diesel::sql_query(
        "UPDATE sms_messages m SET status = r.status, error = r.error, updated_at = now() \
         FROM unnest($1::bigint[], $2::text[], $3::text[]) AS r(id, status, error) \
         WHERE m.id = r.id AND m.status = 'sent'",
    )
    .bind::<Array<BigInt>, _>(ids)
    .bind::<Array<Text>, _>(statuses)
    .bind::<Array<Nullable<Text>>, _>(errors)
    .execute(conn)?;
    Ok(updated)
}

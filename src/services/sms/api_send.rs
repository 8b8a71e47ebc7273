//! SMS sent by another system through an API (an Odoo database's SMS API): numbers as typed,
//! each with the sender's own id (`uuid`) of the message. Every number gets its own state;
//! what is affordable is priced, held and recorded in one transaction before the carrier is
//! called (the common paid-service steps), and a uuid already sent is never sent or charged
//! again: sent again (Odoo retrying a call whose answer a failover lost), it answers the state
//! its message is in.

use std::collections::HashSet;

use diesel::PgConnection;

use super::encoding::SmsCount;
use super::gateway::SmsGateway;
use super::messages::{self, OdooSmsInsertForm, SmsMessage, SmsStatus};
use super::pricing::{self, CountryPrice};
use super::sending::{SendError, checked_count, hold_ttl};
use crate::domain::ledger::{self, Actor};
use crate::domain::metering::{self, Request};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, DatabaseId};
use crate::services::contacts::phone;

/// One number to send a text to.
#[derive(Debug, Clone)]
pub struct NumberRequest {
    pub uuid: String,
    pub number: String,
    pub content: String,
}

/// What became of one number, in the words of Odoo's SMS API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberState {
    /// Handed to the carrier.
    Success,
    /// Recorded and paid for; the carrier was unavailable and it will be handed over by the
    /// worker.
    Processing,
    WrongNumberFormat,
    CountryNotSupported,
    InsufficientCredit,
    DuplicateMessage,
    /// The carrier refused it (not charged).
    ServerError,
}

impl NumberState {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberState::Success => "success",
            NumberState::Processing => "processing",
            NumberState::WrongNumberFormat => "wrong_number_format",
            NumberState::CountryNotSupported => "country_not_supported",
            NumberState::InsufficientCredit => "insufficient_credit",
            NumberState::DuplicateMessage => "duplicate_message",
            NumberState::ServerError => "server_error",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NumberOutcome {
    pub uuid: String,
    pub state: NumberState,
    /// The price, when it is known (a number that could be priced).
    pub credit: Option<Credits>,
}

/// A number ready to send: where, what, for how much.
struct Priced<'a> {
    index: usize,
    request: &'a NumberRequest,
    recipient: String,
    count: SmsCount,
    cost: Credits,
}

/// The price per part in a country, when SMS are sold there (its own price or the price for
/// other countries).
fn price_in(prices: &[CountryPrice], country: &str) -> Option<Credits> {
    prices
        .iter()
        .find(|p| p.country_code.eq_ignore_ascii_case(country))
        .or_else(|| {
            prices
                .iter()
                .find(|p| p.country_code == pricing::OTHER_COUNTRIES)
        })
        .map(|p| p.price)
}

/// Checks every text first: a text that cannot be sent refuses the whole call (nothing is
/// written), naming the message by its index.
pub fn check_texts(requests: &[NumberRequest]) -> Result<(), (usize, SendError)> {
    for (i, request) in requests.iter().enumerate() {
        checked_count(&request.content).map_err(|e| (i, e))?;
    }
    Ok(())
}

/// Sends `requests` on the database's SMS account (`account_id`), reporting deliveries to
/// `webhook_url`. The affordable numbers, in order, are sent; the rest answer
/// `insufficient_credit`.
pub fn send(
    conn: &mut PgConnection,
    gateway: &dyn SmsGateway,
    database_id: DatabaseId,
    account_id: AccountId,
    requests: &[NumberRequest],
    webhook_url: Option<&str>,
) -> Result<Vec<NumberOutcome>, SendError> {
    check_texts(requests).map_err(|(_, e)| e)?;
    let mut outcomes: Vec<NumberOutcome> = requests
        .iter()
        .map(|r| NumberOutcome {
            uuid: r.uuid.clone(),
            state: NumberState::DuplicateMessage,
            credit: None,
        })
        .collect();
    let uuids: Vec<&str> = requests.iter().map(|r| r.uuid.as_str()).collect();
    let known: std::collections::HashMap<String, SmsStatus> =
        messages::odoo_uuids_known(conn, database_id, &uuids)?
            .into_iter()
            .collect();
    let mut seen = HashSet::new();
    let prices = pricing::all_prices(conn)?;
    let mut priced = Vec::new();
    for (index, request) in requests.iter().enumerate() {
        if !seen.insert(request.uuid.clone()) {
            continue; // twice in this call: DuplicateMessage
        }
        let outcome = &mut outcomes[index];
        if let Some(status) = known.get(&request.uuid) {
            // Sent by an earlier call: its state now, neither sent nor charged again.
            outcome.state = match status {
                SmsStatus::Queued => NumberState::Processing,
                SmsStatus::Sent | SmsStatus::Delivered => NumberState::Success,
                SmsStatus::Error => NumberState::ServerError,
            };
            continue;
        }
        let Ok(number) = phone::PhoneNumber::parse(&request.number, None) else {
            outcome.state = NumberState::WrongNumberFormat;
            continue;
        };
        let recipient = number.e164().to_string();
        let Some(price) = phone::country_of(&recipient).and_then(|c| price_in(&prices, &c)) else {
            outcome.state = NumberState::CountryNotSupported;
            continue;
        };
        let count = checked_count(&request.content)?;
        let cost = pricing::cost(&count, price);
        outcome.credit = Some(cost);
        priced.push(Priced {
            index,
            request,
            recipient,
            count,
            cost,
        });
    }
    // What the account can pay for, in order; a concurrent spend between the look and the hold
    // makes the hold fail, and the look is taken again.
    let mut sent = Vec::new();
    let mut affordable_uuids = HashSet::new();
    for _ in 0..3 {
        let available = ledger::refresh(conn, account_id)?.available();
        let (mut affordable, mut total) = (Vec::new(), Credits::ZERO);
        for p in &priced {
            if total.units() + p.cost.units() <= available.units() {
                total = Credits::from_units(total.units() + p.cost.units());
                affordable.push(p);
            }
        }
        if affordable.is_empty() {
            break;
        }
        match send_batch(
            conn,
            gateway,
            (database_id, account_id),
            &affordable,
            total,
            webhook_url,
        ) {
            Ok(messages) => {
                sent = messages;
                affordable_uuids = affordable.iter().map(|p| p.request.uuid.clone()).collect();
                break;
            }
            Err(SendError::InsufficientCredits { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    for p in &priced {
        let written = sent
            .iter()
            .find(|m| m.odoo_uuid.as_deref() == Some(&p.request.uuid));
        outcomes[p.index].state = match written {
            Some(m) if m.was_accepted() => NumberState::Success,
            Some(m) if m.status == SmsStatus::Queued => NumberState::Processing,
            Some(_) => NumberState::ServerError,
            // Paid for but written meanwhile by a concurrent call with the same uuid.
            None if affordable_uuids.contains(&p.request.uuid) => NumberState::DuplicateMessage,
            None => NumberState::InsufficientCredit,
        };
    }
    Ok(outcomes)
}

/// Steps 1 to 4 of the common paid-service flow for the affordable numbers.
fn send_batch(
    conn: &mut PgConnection,
    gateway: &dyn SmsGateway,
    (database_id, account_id): (DatabaseId, AccountId),
    numbers: &[&Priced<'_>],
    total: Credits,
    webhook_url: Option<&str>,
) -> Result<Vec<SmsMessage>, SendError> {
    let actor = Actor::system("odoo-sms");
    let description = format!("SMS API: {} number(s)", numbers.len());
    let request = Request {
        database_id,
        account: Some(account_id),
        service: &super::sending::SmsService(gateway),
        credits: total,
        hold_ttl: hold_ttl(numbers.len()),
        description: &description,
        actor: &actor,
    };
    let begun = metering::begin(conn, &request, |conn, job| {
        let rows: Vec<OdooSmsInsertForm> = numbers
            .iter()
            .map(|p| OdooSmsInsertForm {
                database_id,
                recipient: &p.recipient,
                body: &p.request.content,
                encoding: p.count.encoding.name(),
                parts: i32::try_from(p.count.parts).unwrap_or(0),
                cost: p.cost,
                status: SmsStatus::Queued,
                hold_id: job.hold_id,
                job_id: job.id,
                odoo_uuid: &p.request.uuid,
                webhook_url,
            })
            .collect();
        messages::insert_odoo(conn, &rows)
    });
    let (job, _) = begun.map_err(SendError::from)?;
    // Committed: from here a failure leaves the job to the worker, which sends it later.
    if let Err(e) = metering::run(conn, &super::sending::SmsService(gateway), job.id) {
        tracing::warn!(job = %job.id, "SMS API job left to the worker: {e}");
    }
    Ok(messages::of_job(conn, job.id)?)
}

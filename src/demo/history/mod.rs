//! The first start's history: about ninety days of a living product, so that a newcomer's first
//! visit shows real shapes — the operator's dashboard, every chart, the forecasts, every
//! service's history (SMS, enrichments, leads, letters, signed contracts, digitized bills),
//! orders, invoices and refunds, a top-up or two and a low-credit alert. A few dozen customer
//! databases (the demo's own among them) each use a few services day by day, more on weekdays
//! and a little more each week, and buy a pack when their credits run low.
//!
//! Everything is written through its owner's past-activity writers (`ledger::history`,
//! `metering::history`, `orders::history`, and each service's `history`), with the rules of the
//! present: exact credits, a ledger row for every change with the balance after it, an SMS
//! charged, another service's use held then captured by a job, no balance below zero, the
//! rollups kept by the database's triggers — `verify-ledger` accepts the result. Deterministic
//! but for the tokens and keys: the same history on every machine.

mod data;
mod plan;
mod uses;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::domain::ledger::history::{self as ledger_history, PastEntry, PastUse};
use crate::domain::ledger::{Actor, EntryKind, IapAccount, LedgerError, accounts};
use crate::domain::mail::outbox;
use crate::domain::metering::{self, MeteringError, history::PastJob};
use crate::domain::orders::history::{self as order_history, PastOrder};
use crate::domain::tenancy::{self, Subscription, TenancyError};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{ContactId, DatabaseId};
use crate::services::documents::PastDocumentError;
use data::CUSTOMERS;
use plan::{Planned, plan_account};
use uses::{Kind, Services, Spend, USE_TAKES, Usage, write_records};

pub const DAYS: i64 = 90;

/// A contact of the demo's database the history sends SMS to.
pub struct Recipient {
    pub contact_id: ContactId,
    pub name: String,
    /// E.164.
    pub mobile: String,
    pub country: String,
}

/// What the history wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Seeded {
    pub databases: usize,
    pub accounts: usize,
    pub orders: usize,
    pub refunds: usize,
    pub ledger_rows: usize,
    pub sms: usize,
    /// The other services' records: enrichments, lead requests, letters, signature requests
    /// (each with its itsme identification) and digitized bills.
    pub enrichments: usize,
    pub lead_requests: usize,
    pub letters: usize,
    pub identifications: usize,
    pub bills: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Tenancy(#[from] TenancyError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Metering(#[from] MeteringError),
    #[error(transparent)]
    Document(#[from] PastDocumentError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error("the catalog has no {0}")]
    Catalog(String),
}

/// Seeds the history as of `now` into the demo database `demo` (its contacts get the SMS) and
/// the customer databases above (made now). Run once, on a first start, in one transaction.
pub fn seed_history(
    conn: &mut PgConnection,
    demo: DatabaseId,
    demo_contacts: &[Recipient],
    now: DateTime<Utc>,
) -> Result<Seeded, HistoryError> {
    conn.transaction(|conn| {
        let mut seeded = Seeded::default();
        let services = Services::load(conn)?;
        // Most started 90 days ago; some joined since (the demo's own is as old as the rest).
        let joined = |n: usize| {
            let days_ago = if n % 4 == 3 {
                20 + (n as i64 * 7) % 50
            } else {
                DAYS
            };
            day_start(now - Duration::days(days_ago)) + Duration::hours(7)
        };
        let mut databases = vec![(demo, Subscription::Enterprise, "Demo Company".to_string())];
        for (name, subscription) in CUSTOMERS {
            if tenancy::find_database(conn, name)?.is_some() {
                continue;
            }
            let at = joined(databases.len());
            let database = tenancy::create_database_at(conn, name, *subscription, at)?;
            databases.push((database.id, *subscription, database.name));
        }
        for (n, (database_id, subscription, name)) in databases.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(0x1a9_0000 + n as u64);
            let start = joined(n);
            for usage in services.used_by(n, &mut rng) {
                let contacts = if *database_id == demo {
                    demo_contacts
                } else {
                    &[]
                };
                let written = write_account(
                    conn,
                    &mut rng,
                    Account {
                        database_id: *database_id,
                        name,
                        subscription: *subscription,
                        auto_topup: n % 7 == 2,
                        refunds: n % 9 == 4,
                        // The demo's own accounts warn below 5 credits; one customer's SMS
                        // account is below its threshold now (its alert is queued).
                        warn_me: match n {
                            0 => WarnMe::Below(Credits::whole(5)),
                            1 if usage.kind == Kind::Sms => WarnMe::AlertNow,
                            _ => WarnMe::Off,
                        },
                        warning_email: &warning_email(name),
                    },
                    &usage,
                    &services,
                    contacts,
                    (start, now),
                )?;
                seeded.accounts += 1;
                seeded.orders += written.orders;
                seeded.refunds += written.refunds;
                seeded.ledger_rows += written.ledger_rows;
                seeded.sms += written.sms;
                seeded.enrichments += written.enrichments;
                seeded.lead_requests += written.lead_requests;
                seeded.letters += written.letters;
                seeded.identifications += written.identifications;
                seeded.bills += written.bills;
            }
            seeded.databases += 1;
        }
        Ok(seeded)
    })
}

struct Account<'a> {
    database_id: DatabaseId,
    name: &'a str,
    subscription: Subscription,
    auto_topup: bool,
    refunds: bool,
    warn_me: WarnMe,
    warning_email: &'a str,
}

/// Warn Me on an account of the history.
#[derive(Clone, Copy)]
enum WarnMe {
    Off,
    Below(Credits),
    /// Set just above what is left: its low-credit alert goes out on the first start.
    AlertNow,
}

#[derive(Default)]
struct Written {
    orders: usize,
    refunds: usize,
    ledger_rows: usize,
    sms: usize,
    enrichments: usize,
    lead_requests: usize,
    letters: usize,
    identifications: usize,
    bills: usize,
}

/// Where a customer's alerts go.
fn warning_email(database_name: &str) -> String {
    let domain: String = database_name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("billing@{}.example", domain.trim_matches('-'))
}

fn day_start(at: DateTime<Utc>) -> DateTime<Utc> {
    at.date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(at, |d| d.and_utc())
}

/// Plans one account's days, then writes its orders, its ledger rows and the records of its
/// uses.
fn write_account(
    conn: &mut PgConnection,
    rng: &mut ChaCha8Rng,
    account: Account,
    usage: &Usage,
    services: &Services,
    demo_contacts: &[Recipient],
    (start, now): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Written, HistoryError> {
    let Some(opened) =
        ledger_history::open_account_at(conn, account.database_id, usage.service.id, start)?
    else {
        return Ok(Written::default());
    };
    let plan = plan_account(rng, &account, usage, services, demo_contacts, (start, now));
    let ledger = write_ledger(conn, &opened, usage, services, &plan)?;
    let records = write_records(
        conn,
        account.database_id,
        plan.into_iter().filter_map(|p| match p {
            Planned::Use { record, .. } => Some(record),
            _ => None,
        }),
        &ledger.jobs,
    )?;
    let threshold = match account.warn_me {
        WarnMe::Off => None,
        WarnMe::Below(threshold) => Some(threshold),
        // The next ten credits' worth above what is left, in whole credits.
        WarnMe::AlertNow => Some(Credits::whole(
            ledger.balance.units() / crate::kernel::credits::UNITS_PER_CREDIT + 10,
        )),
    };
    if let Some(threshold) = threshold {
        // Warn Me, as a customer sets it; an account below its threshold now alerts (once).
        accounts::save_alert_settings(
            conn,
            opened.id,
            &accounts::AlertSettings {
                warn_me: true,
                threshold,
                warning_email: account.warning_email.to_string(),
            },
        )?;
    }
    Ok(Written {
        orders: ledger.orders,
        refunds: ledger.refunds,
        ledger_rows: ledger.rows,
        ..records
    })
}

/// What `write_ledger` wrote.
struct Ledger {
    orders: usize,
    refunds: usize,
    rows: usize,
    balance: Credits,
    /// The held uses' jobs, in their order.
    jobs: Vec<PastJob>,
}

/// Writes the plan's money: its orders (and refunds), the held uses' holds and jobs, and every
/// ledger row at once.
fn write_ledger(
    conn: &mut PgConnection,
    opened: &IapAccount,
    usage: &Usage,
    services: &Services,
    plan: &[Planned],
) -> Result<Ledger, HistoryError> {
    let packs = services.packs_of(usage);
    // The orders first (the purchases' rows name them), then every ledger row at once.
    let past_orders: Vec<PastOrder> = plan
        .iter()
        .filter_map(|p| match p {
            Planned::Purchase {
                at,
                pack,
                auto_topup,
            } => Some(PastOrder {
                account: opened,
                pack: &packs[*pack],
                paid_at: *at,
                auto_topup: *auto_topup,
            }),
            _ => None,
        })
        .collect();
    let orders = order_history::paid_in_past(conn, &past_orders)?;
    let order_ids: Vec<_> = orders.iter().map(|o| o.id).collect();
    outbox::cancel_receipts_of_past_orders(conn, &order_ids)?;
    // The other services' uses: held and captured, by a job done or by their provider
    // (written before the ledger rows, which name their holds).
    let held = |spend: Spend, actor: &Actor| -> Vec<PastUse> {
        plan.iter()
            .filter_map(|p| match p {
                Planned::Use {
                    at,
                    price,
                    description,
                    record,
                } if record.spend() == spend => Some(PastUse {
                    at: *at,
                    finished_at: *at + USE_TAKES,
                    price: *price,
                    actor: actor.as_str().to_string(),
                    description: description.clone(),
                }),
                _ => None,
            })
            .collect()
    };
    let service_actor = Actor::system(&usage.service.slug.to_string());
    let jobs = metering::history::done_in_past(conn, opened, &held(Spend::Job, &service_actor))?;
    let provider_holds = ledger_history::holds_in_past(
        conn,
        opened,
        &held(Spend::ProviderHold, &Actor::api(opened.id)),
    )?;
    let mut next_job = jobs.iter();
    let mut next_hold = provider_holds.iter();
    let mut next_order = orders.iter();
    let mut purchase_orders = Vec::new();
    let mut refunds = Vec::new();
    let entries: Vec<PastEntry> = plan
        .iter()
        .filter_map(|p| {
            Some(match p {
                Planned::Trial {
                    at,
                    credits,
                    service,
                } => vec![PastEntry::posted(
                    *at,
                    EntryKind::Trial,
                    *credits,
                    None,
                    Actor::system("trial").as_str().to_string(),
                    format!("Free trial credits for {service}"),
                )],
                Planned::Purchase { at, auto_topup, .. } => {
                    let order = next_order.next()?;
                    purchase_orders.push(order);
                    vec![PastEntry::posted(
                        *at,
                        EntryKind::Purchase,
                        order.credits,
                        Some(order.id),
                        Actor::order(order.id).as_str().to_string(),
                        if *auto_topup {
                            format!("Automatic top-up: {} ({})", order.pack_name, order.number())
                        } else {
                            format!("{} ({})", order.pack_name, order.number())
                        },
                    )]
                }
                Planned::Refund { at, of_purchase } => {
                    let order = purchase_orders.get(*of_purchase)?;
                    refunds.push((*order, *at));
                    vec![PastEntry::posted(
                        *at,
                        EntryKind::Refund,
                        Credits::from_units(-order.credits.units()),
                        Some(order.id),
                        Actor::system("refund").as_str().to_string(),
                        "Refund: the wrong pack was bought".into(),
                    )]
                }
                Planned::Use {
                    at,
                    price,
                    description,
                    record,
                } => match record.spend() {
                    Spend::Job => next_job.next()?.entries.to_vec(),
                    Spend::ProviderHold => next_hold.next()?.entries.to_vec(),
                    Spend::Charged => vec![PastEntry::posted(
                        *at,
                        EntryKind::Charge,
                        Credits::from_units(-price.units()),
                        None,
                        service_actor.as_str().to_string(),
                        description.clone(),
                    )],
                },
            })
        })
        .flatten()
        .collect();
    let written = ledger_history::write_past(conn, opened, &entries)?;
    for (order, at) in &refunds {
        let entry_id = entries
            .iter()
            .zip(&written.entry_ids)
            .find(|(e, _)| e.kind == EntryKind::Refund && e.order_id == Some(order.id))
            .map(|(_, id)| *id)
            .ok_or(diesel::result::Error::NotFound)?;
        order_history::refunded_in_past(
            conn,
            order,
            entry_id,
            order.credits,
            "The wrong pack was bought",
            *at,
        )?;
    }
    Ok(Ledger {
        orders: orders.len(),
        refunds: refunds.len(),
        rows: entries.len(),
        balance: written.balance,
        jobs,
    })
}

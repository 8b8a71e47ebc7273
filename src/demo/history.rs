//! The first start's history: about ninety days of a living product, so that a newcomer's first
//! visit shows real shapes — the operator's dashboard, every chart, the forecasts, the SMS
//! history, orders, invoices and refunds, a top-up or two and a low-credit alert. A few dozen
//! customer databases (the demo's own among them) each use a few services day by day, more on
//! weekdays and a little more each week, and buy a pack when their credits run low.
//!
//! Everything is written through its owner's past-activity writers (`ledger::history`,
//! `orders::history`, `sms::history`), with the rules of the present: exact credits, a ledger
//! row for every change with the balance after it, no balance below zero, the rollups kept by
//! the database's triggers — `verify-ledger` accepts the result. Deterministic: the same
//! history on every machine.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use diesel::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::catalog::{self, Pack, Service, usage_prices};
use crate::domain::ledger::history::{self as ledger_history, PastEntry};
use crate::domain::ledger::{Actor, EntryKind, LedgerError, accounts};
use crate::domain::mail::outbox;
use crate::domain::orders::history::{self as order_history, PastOrder};
use crate::domain::tenancy::{self, Subscription, TenancyError};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{ContactId, DatabaseId};
use crate::services::sms::history::{self as sms_history, PastSms};
use crate::services::sms::pricing;
use crate::services::snailmail::postage;

/// How far back the history goes.
pub const DAYS: i64 = 90;

/// The other customer databases, with their subscriptions (most pay Odoo; a few are trials).
const CUSTOMERS: &[(&str, Subscription)] = &[
    ("Azure Interior", Subscription::Enterprise),
    ("Deco Addict", Subscription::Enterprise),
    ("Gemini Furniture", Subscription::Enterprise),
    ("Lumber Inc", Subscription::None),
    ("Ready Mat", Subscription::Enterprise),
    ("Wood Corner", Subscription::None),
    ("The Jackson Group", Subscription::Enterprise),
    ("Ponto Mobiliário", Subscription::None),
    ("Nordlicht Logistik", Subscription::Enterprise),
    ("Brasserie du Parc", Subscription::OneAppFree),
    ("Kappa Dental", Subscription::Enterprise),
    ("Atelier Moreau", Subscription::None),
    ("Helios Solar", Subscription::Enterprise),
    ("Vega Pharma", Subscription::Enterprise),
    ("Blue Harbor Travel", Subscription::None),
    ("Studio Lumen", Subscription::Demo),
    ("Greenfield Farms", Subscription::Enterprise),
    ("Orion Consulting", Subscription::Enterprise),
    ("Maison Verte", Subscription::None),
    ("Pixel & Co", Subscription::Educational),
    ("Delta Freight", Subscription::Enterprise),
    ("Alpine Sports", Subscription::None),
    ("Coastal Realty", Subscription::Enterprise),
    ("Tulip Events", Subscription::Enterprise),
    ("Iron Works BV", Subscription::None),
    ("Sunrise Bakery", Subscription::OneAppFree),
    ("Quantum Labs", Subscription::Enterprise),
    ("Rivera Legal", Subscription::Enterprise),
    ("Northwind Traders", Subscription::None),
];

/// Where the customers' SMS go: (country, a number's first digits).
const SMS_TARGETS: &[(&str, &str)] = &[
    ("BE", "+32470"),
    ("FR", "+33612"),
    ("DE", "+4915123"),
    ("NL", "+31612"),
    ("US", "+1202555"),
    ("GB", "+447911"),
    ("IN", "+9198200"),
    ("BR", "+5511912"),
];

const SMS_BODIES: &[&str] = &[
    "Your order has shipped and will arrive tomorrow.",
    "Reminder: your appointment is tomorrow at 10:00.",
    "Your invoice is ready in your customer portal.",
    "Thank you for your visit! Rate us with a reply from 1 to 5.",
    "Your verification code is 482913.",
    "Our shop is closed on Monday for inventory. See you Tuesday!",
];

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
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Tenancy(#[from] TenancyError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error("the catalog has no {0}")]
    Catalog(String),
}

/// How a database uses one service: uses a day (on a weekday, at the start) and the credits of
/// one use.
struct Usage {
    service: Service,
    per_day: f64,
    /// One use: its price and what the ledger says of it. SMS are priced per message.
    price: Credits,
    what: &'static str,
}

/// One planned change of an account: an entry, and for a purchase the pack bought (its order
/// is written before the entries) and, for a refund, the purchase it takes back.
enum Planned {
    Use {
        at: DateTime<Utc>,
        price: Credits,
        description: String,
    },
    Trial {
        at: DateTime<Utc>,
        credits: Credits,
        service: String,
    },
    Purchase {
        at: DateTime<Utc>,
        pack: usize,
        auto_topup: bool,
    },
    Refund {
        at: DateTime<Utc>,
        of_purchase: usize,
    },
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
                        subscription: *subscription,
                        auto_topup: n % 7 == 2,
                        refunds: n % 9 == 4,
                        // The demo's own accounts warn below 5 credits; one customer's SMS
                        // account is below its threshold now (its alert is queued).
                        warn_me: match n {
                            0 => WarnMe::Below(Credits::whole(5)),
                            1 if usage.service.id == services.sms.0.id => WarnMe::AlertNow,
                            _ => WarnMe::Off,
                        },
                        warning_email: &warning_email(name),
                    },
                    &usage,
                    &services,
                    contacts,
                    start,
                    now,
                )?;
                seeded.accounts += 1;
                seeded.orders += written.orders;
                seeded.refunds += written.refunds;
                seeded.ledger_rows += written.ledger_rows;
                seeded.sms += written.sms;
            }
            seeded.databases += 1;
        }
        Ok(seeded)
    })
}

/// The catalog the history uses.
struct Services {
    sms: (Service, Vec<Pack>, Vec<pricing::CountryPrice>),
    others: Vec<(Service, Vec<Pack>, Credits, &'static str)>,
}

impl Services {
    fn load(conn: &mut PgConnection) -> Result<Services, HistoryError> {
        let service =
            |conn: &mut PgConnection, slug: &str| -> Result<(Service, Vec<Pack>), HistoryError> {
                let service = catalog::service_by_slug(conn, slug)?
                    .ok_or_else(|| HistoryError::Catalog(format!("service {slug}")))?;
                let packs = catalog::active_packs(conn, service.id)?;
                if packs.is_empty() {
                    return Err(HistoryError::Catalog(format!("pack of {slug}")));
                }
                Ok((service, packs))
            };
        let (sms, sms_packs) = service(conn, "sms")?;
        let mut others = Vec::new();
        for (slug, unit, what) in [
            (
                "partner-autocomplete",
                usage_prices::ENRICHMENT,
                "Partner Autocomplete: ",
            ),
            (
                "lead-generation",
                usage_prices::COMPANY,
                "Lead Generation: ",
            ),
            ("snailmail", "", "Letter to "),
            (
                "documents-digitization",
                usage_prices::DOCUMENT,
                "Digitization: ",
            ),
            (
                "itsme",
                usage_prices::IDENTIFICATION,
                "itsme identification: ",
            ),
        ] {
            let (service, packs) = service(conn, slug)?;
            let price = if unit.is_empty() {
                // A one-page letter to Belgium, at the postage table's price.
                postage::zone_of(conn, "BE")?
                    .map(|zone| zone.price(1, postage::LetterOptions::default()))
                    .ok_or_else(|| HistoryError::Catalog("postage zone for BE".into()))?
            } else {
                usage_prices::price(conn, slug, unit)?
            };
            others.push((service, packs, price, what));
        }
        Ok(Services {
            sms: (sms, sms_packs, pricing::all_prices(conn)?),
            others,
        })
    }

    /// The services database `n` uses: SMS always, and one to three others.
    fn used_by(&self, n: usize, rng: &mut ChaCha8Rng) -> Vec<Usage> {
        let mut used = vec![Usage {
            service: self.sms.0.clone(),
            per_day: rng.random_range(2.0..9.0),
            price: Credits::ZERO,
            what: "SMS to ",
        }];
        for (k, (service, _, price, what)) in self.others.iter().enumerate() {
            if (n + k).is_multiple_of(3) || n == 0 {
                used.push(Usage {
                    service: service.clone(),
                    per_day: rng.random_range(0.3..2.5),
                    price: *price,
                    what,
                });
            }
        }
        used
    }

    fn packs_of(&self, usage: &Usage) -> &[Pack] {
        if usage.service.id == self.sms.0.id {
            return &self.sms.1;
        }
        self.others
            .iter()
            .find(|(s, ..)| s.id == usage.service.id)
            .map_or(&[], |(_, packs, ..)| packs.as_slice())
    }
}

struct Account<'a> {
    database_id: DatabaseId,
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

/// Plans one account's days, then writes its orders, its ledger rows and (for SMS) its
/// messages.
#[allow(clippy::too_many_arguments)] // the plan's inputs, read where they are
fn write_account(
    conn: &mut PgConnection,
    rng: &mut ChaCha8Rng,
    account: Account,
    usage: &Usage,
    services: &Services,
    demo_contacts: &[Recipient],
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Written, HistoryError> {
    let Some(opened) =
        ledger_history::open_account_at(conn, account.database_id, usage.service.id, start)?
    else {
        return Ok(Written::default());
    };
    let packs = services.packs_of(usage);
    let is_sms = usage.service.id == services.sms.0.id;
    let mut plan = Vec::new();
    let mut sms = Vec::new();
    let mut balance = Credits::ZERO;
    let mut purchases = 0usize;
    if account.subscription.gets_trial_credits() && usage.service.trial_credits > Credits::ZERO {
        plan.push(Planned::Trial {
            at: start + Duration::minutes(5),
            credits: usage.service.trial_credits,
            service: usage.service.name.clone(),
        });
        balance = usage.service.trial_credits;
    }
    let days = (now - day_start(start)).num_days() + 1;
    for day in 0..days {
        let date = day_start(start) + Duration::days(day);
        let weekday = !matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let growth = 0.75 + 0.5 * day as f64 / DAYS as f64;
        let rate = usage.per_day * growth * if weekday { 1.0 } else { 0.3 };
        let uses = rate.floor() as usize + usize::from(rng.random_bool(rate.fract()));
        let mut minutes: Vec<i64> = (0..uses).map(|_| rng.random_range(480..1140)).collect();
        minutes.sort_unstable();
        for minute in minutes {
            let at = date + Duration::minutes(minute);
            if at >= now - Duration::minutes(10) {
                break;
            }
            let (price, description) = if is_sms {
                let body = SMS_BODIES[rng.random_range(0..SMS_BODIES.len())];
                let (contact_id, recipient, name, country) = match demo_contacts {
                    [] => {
                        let (country, prefix) = SMS_TARGETS[rng.random_range(0..SMS_TARGETS.len())];
                        let number = format!("{prefix}{:05}", rng.random_range(10_000..99_999));
                        (None, number, String::new(), country)
                    }
                    contacts => {
                        let r = &contacts[rng.random_range(0..contacts.len())];
                        (
                            Some(r.contact_id),
                            r.mobile.clone(),
                            r.name.clone(),
                            r.country.as_str(),
                        )
                    }
                };
                let parts = crate::services::sms::encoding::count(body).parts;
                let per_part = pricing::price_in(&services.sms.2, Some(country));
                let cost = Credits::from_units(per_part.units() * parts as i64);
                let description = if name.is_empty() {
                    format!("SMS to {recipient}")
                } else {
                    format!("SMS to {name}")
                };
                sms.push(PastSms {
                    at,
                    contact_id,
                    sent_by: None,
                    recipient,
                    body: body.to_string(),
                    cost,
                });
                (cost, description)
            } else {
                (
                    usage.price,
                    format!(
                        "{}{}",
                        usage.what,
                        COUNTERPARTS[rng.random_range(0..COUNTERPARTS.len())]
                    ),
                )
            };
            if balance < price {
                // Short of credits: a pack is bought (by hand, or by the automatic top-up).
                let pack = if packs.len() > 1 && rng.random_bool(0.7) {
                    1
                } else {
                    0
                };
                let bought = at - Duration::minutes(1);
                plan.push(Planned::Purchase {
                    at: bought,
                    pack,
                    auto_topup: account.auto_topup,
                });
                purchases += 1;
                balance = Credits::from_units(balance.units() + packs[pack].credits.units());
                if account.refunds && purchases == 2 {
                    // The wrong pack: refunded at once, and the right one bought.
                    plan.push(Planned::Refund {
                        at: bought + Duration::seconds(20),
                        of_purchase: purchases - 1,
                    });
                    balance = Credits::from_units(balance.units() - packs[pack].credits.units());
                    plan.push(Planned::Purchase {
                        at: bought + Duration::seconds(40),
                        pack: 0,
                        auto_topup: false,
                    });
                    purchases += 1;
                    balance = Credits::from_units(balance.units() + packs[0].credits.units());
                }
            }
            if balance < price {
                continue;
            }
            balance = Credits::from_units(balance.units() - price.units());
            plan.push(Planned::Use {
                at,
                price,
                description,
            });
        }
    }

    // The orders first (the purchases' rows name them), then every ledger row at once.
    let past_orders: Vec<PastOrder> = plan
        .iter()
        .filter_map(|p| match p {
            Planned::Purchase {
                at,
                pack,
                auto_topup,
            } => Some(PastOrder {
                account: &opened,
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
                } => PastEntry {
                    at: *at,
                    kind: EntryKind::Trial,
                    amount: *credits,
                    order_id: None,
                    actor: Actor::system("trial").as_str().to_string(),
                    description: format!("Free trial credits for {service}"),
                },
                Planned::Purchase { at, auto_topup, .. } => {
                    let order = next_order.next()?;
                    purchase_orders.push(order);
                    PastEntry {
                        at: *at,
                        kind: EntryKind::Purchase,
                        amount: order.credits,
                        order_id: Some(order.id),
                        actor: Actor::order(order.id).as_str().to_string(),
                        description: if *auto_topup {
                            format!("Automatic top-up: {} ({})", order.pack_name, order.number())
                        } else {
                            format!("{} ({})", order.pack_name, order.number())
                        },
                    }
                }
                Planned::Refund { at, of_purchase } => {
                    let order = purchase_orders.get(*of_purchase)?;
                    refunds.push((*order, *at));
                    PastEntry {
                        at: *at,
                        kind: EntryKind::Refund,
                        amount: Credits::from_units(-order.credits.units()),
                        order_id: Some(order.id),
                        actor: Actor::system("refund").as_str().to_string(),
                        description: "Refund: the wrong pack was bought".into(),
                    }
                }
                Planned::Use {
                    at,
                    price,
                    description,
                } => PastEntry {
                    at: *at,
                    kind: EntryKind::Charge,
                    amount: Credits::from_units(-price.units()),
                    order_id: None,
                    actor: Actor::system(&usage.service.slug.to_string())
                        .as_str()
                        .to_string(),
                    description: description.clone(),
                },
            })
        })
        .collect();
    let written = ledger_history::write_past(conn, &opened, &entries)?;
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
    let sms_count = if is_sms && !sms.is_empty() {
        sms_history::delivered_in_past(conn, account.database_id, &sms)?
    } else {
        0
    };
    let threshold = match account.warn_me {
        WarnMe::Off => None,
        WarnMe::Below(threshold) => Some(threshold),
        // The next ten credits' worth above what is left, in whole credits.
        WarnMe::AlertNow => Some(Credits::whole(
            written.balance.units() / crate::kernel::credits::UNITS_PER_CREDIT + 10,
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
        orders: orders.len(),
        refunds: refunds.len(),
        ledger_rows: entries.len(),
        sms: sms_count,
    })
}

/// Who the other services' uses were about.
const COUNTERPARTS: &[&str] = &[
    "Acme Corporation",
    "Globex SARL",
    "Initech GmbH",
    "Umbrella BV",
    "Stark Industries",
    "Wayne Enterprises",
    "Soylent NV",
    "Hooli Inc",
];

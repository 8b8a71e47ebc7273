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

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use diesel::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::catalog::{self, Pack, Service, usage_prices};
use crate::domain::ledger::history::{self as ledger_history, PastEntry, PastUse};
use crate::domain::ledger::{Actor, EntryKind, LedgerError, accounts};
use crate::domain::mail::outbox;
use crate::domain::metering::{self, MeteringError};
use crate::domain::orders::history::{self as order_history, PastOrder};
use crate::domain::tenancy::{self, Subscription, TenancyError};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{CompanyId, ContactId, DatabaseId};
use crate::services::digitization::history::{self as bill_history, PastBill};
use crate::services::directory::{self, Company};
use crate::services::documents::PastDocumentError;
use crate::services::leads::generation::LeadPrices;
use crate::services::leads::history::{self as lead_history, PastLeadRequest};
use crate::services::partner_autocomplete::{self, PastEnrichment};
use crate::services::signing::history::{self as signing_history, PastSignature};
use crate::services::sms::history::{self as sms_history, PastSms};
use crate::services::sms::pricing;
use crate::services::snailmail::history::{self as letter_history, PastLetter};
use crate::services::snailmail::postage::{self, LetterOptions, Zone};
use crate::services::snailmail::{Address, LetterSource};

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

/// How a database uses one service: uses a day (on a weekday, at the start).
struct Usage {
    service: Service,
    per_day: f64,
    kind: Kind,
}

/// Which service a use is of: each leaves its own records.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sms,
    Enrichment,
    Leads,
    Letter,
    Signature,
    Bill,
}

/// What one use of a service other than SMS leaves, for its service to write.
enum Record {
    Enrichment(CompanyId),
    Leads(Vec<Company>),
    Letter {
        address: Address,
        pages: i32,
        zone: String,
        lines: Vec<String>,
    },
    Signature {
        title: String,
        signer: (&'static str, &'static str),
        pages: Vec<Vec<String>>,
    },
    Bill {
        file_name: String,
        lines: Vec<String>,
    },
}

/// One planned change of an account: an entry, and for a purchase the pack bought (its order
/// is written before the entries) and, for a refund, the purchase it takes back.
enum Planned {
    Use {
        at: DateTime<Utc>,
        price: Credits,
        description: String,
        /// The service's records of the use (none for an SMS: it is charged at once).
        record: Option<Record>,
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
                        name,
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

/// The catalog the history uses, and the companies its uses are about.
struct Services {
    sms: (Service, Vec<Pack>, Vec<pricing::CountryPrice>),
    others: Vec<(Service, Vec<Pack>, Kind)>,
    enrichment: Credits,
    leads: LeadPrices,
    identification: Credits,
    document: Credits,
    /// Letters go to these countries' zones.
    zones: Vec<(String, Zone)>,
    /// Companies of the directory: enriched, found as leads, written to, billing us.
    companies: Vec<Company>,
}

/// How many of the directory's companies the history draws on.
const COMPANY_POOL: i64 = 3_000;

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
        for (slug, kind) in [
            (partner_autocomplete::SERVICE, Kind::Enrichment),
            ("lead-generation", Kind::Leads),
            ("snailmail", Kind::Letter),
            ("documents-digitization", Kind::Bill),
            ("itsme", Kind::Signature),
        ] {
            let (service, packs) = service(conn, slug)?;
            others.push((service, packs, kind));
        }
        let mut zones = Vec::new();
        for country in ["BE", "FR", "NL", "DE", "LU", "US"] {
            if let Some(zone) = postage::zone_of(conn, country)? {
                zones.push((country.to_string(), zone));
            }
        }
        if zones.is_empty() {
            return Err(HistoryError::Catalog("postage zone".into()));
        }
        // Spread over the directory (7 and its size share no factor: no company twice).
        let ids: Vec<CompanyId> = (0..COMPANY_POOL)
            .map(|i| CompanyId(1 + i * 7 % crate::services::directory::generate::COMPANIES as i64))
            .collect();
        let mut companies = directory::companies(conn, &ids)?;
        companies.sort_by_key(|c| (c.id.0 * 7_919) % 10_007);
        Ok(Services {
            sms: (sms, sms_packs, pricing::all_prices(conn)?),
            others,
            enrichment: usage_prices::price(
                conn,
                partner_autocomplete::SERVICE,
                usage_prices::ENRICHMENT,
            )?,
            leads: LeadPrices::current(conn)?,
            identification: usage_prices::price(conn, "itsme", usage_prices::IDENTIFICATION)?,
            document: usage_prices::price(conn, "documents-digitization", usage_prices::DOCUMENT)?,
            zones,
            companies,
        })
    }

    /// The services database `n` uses: SMS always, and one to three others (the demo's own
    /// database uses them all). Without companies in the directory, none is about one.
    fn used_by(&self, n: usize, rng: &mut ChaCha8Rng) -> Vec<Usage> {
        let mut used = vec![Usage {
            service: self.sms.0.clone(),
            per_day: rng.random_range(2.0..9.0),
            kind: Kind::Sms,
        }];
        for (k, (service, _, kind)) in self.others.iter().enumerate() {
            if ((n + k).is_multiple_of(3) || n == 0) && !self.companies.is_empty() {
                used.push(Usage {
                    service: service.clone(),
                    // A few a week: each leaves records (letters and bills their PDFs).
                    per_day: rng.random_range(0.15..0.9),
                    kind: *kind,
                });
            }
        }
        used
    }

    fn packs_of(&self, usage: &Usage) -> &[Pack] {
        if usage.kind == Kind::Sms {
            return &self.sms.1;
        }
        self.others
            .iter()
            .find(|(s, ..)| s.id == usage.service.id)
            .map_or(&[], |(_, packs, ..)| packs.as_slice())
    }

    /// One use of a service other than SMS by `database` at `at`: its price, what the ledger
    /// says of it and its records. `leads_found` counts the companies the database has as
    /// leads already (each company is found once); `None` when it has them all.
    fn plan_use(
        &self,
        kind: Kind,
        rng: &mut ChaCha8Rng,
        database: &str,
        at: DateTime<Utc>,
        leads_found: &mut usize,
    ) -> Option<(Credits, String, Record)> {
        let company = &self.companies[rng.random_range(0..self.companies.len())];
        Some(match kind {
            Kind::Sms => return None,
            Kind::Enrichment => (
                self.enrichment,
                format!("Partner Autocomplete (Odoo): {}", company.full_name()),
                Record::Enrichment(company.id),
            ),
            Kind::Leads => {
                let wanted = rng.random_range(1..=4usize);
                let start = (database.len() * 211) % self.companies.len();
                if *leads_found + wanted > self.companies.len() {
                    return None;
                }
                let found: Vec<Company> = (*leads_found..*leads_found + wanted)
                    .map(|i| self.companies[(start + i) % self.companies.len()].clone())
                    .collect();
                *leads_found += wanted;
                (
                    self.leads.cost(wanted as i32, 0),
                    format!(
                        "Lead Generation: {wanted} {}",
                        if wanted == 1 { "company" } else { "companies" }
                    ),
                    Record::Leads(found),
                )
            }
            Kind::Letter => {
                let (country, zone) = &self.zones[rng.random_range(0..self.zones.len())];
                let pages = rng.random_range(1..=3);
                let (street, postal_code, city) = LETTER_ADDRESSES
                    .iter()
                    .find(|(c, ..)| c == country)
                    .map(|(_, s, p, c)| (*s, *p, *c))
                    .unwrap_or(("Rue de la Loi 16", "1000", "Brussels"));
                let recipient = company.full_name();
                let amount = rng.random_range(120..4_800);
                let lines = vec![
                    format!(
                        "Invoice INV/{}/{:05}",
                        at.year(),
                        rng.random_range(1..99_999)
                    ),
                    database.to_string(),
                    String::new(),
                    recipient.clone(),
                    street.to_string(),
                    format!("{postal_code} {city}"),
                    String::new(),
                    format!("Date: {}", at.format("%Y-%m-%d")),
                    format!("Amount due: {amount}.00 EUR"),
                    "Payment terms: 30 days.".into(),
                ];
                (
                    zone.price(pages, LetterOptions::default()),
                    format!("Letter to {recipient} (Odoo)"),
                    Record::Letter {
                        address: Address {
                            recipient,
                            street: street.to_string(),
                            postal_code: postal_code.to_string(),
                            city: city.to_string(),
                            country: country.clone(),
                        },
                        pages,
                        zone: zone.zone.clone(),
                        lines,
                    },
                )
            }
            Kind::Signature => {
                let signer = SIGNERS[rng.random_range(0..SIGNERS.len())];
                let what = CONTRACTS[rng.random_range(0..CONTRACTS.len())];
                let title = format!("{what}: {}", company.name);
                let pages = vec![vec![
                    title.clone(),
                    format!("Between {database} and {}.", company.full_name()),
                    format!("Signed by {} for {}.", signer.0, company.name),
                    format!("Made on {}.", at.format("%Y-%m-%d")),
                ]];
                (
                    self.identification,
                    format!("itsme identification: {}", signer.0),
                    Record::Signature {
                        title,
                        signer,
                        pages,
                    },
                )
            }
            Kind::Bill => {
                let number = format!("INV-{}-{:05}", at.year(), rng.random_range(100..99_999));
                // In cents: 40 to 2,400 EUR before VAT.
                let net: i64 = rng.random_range(4_000..240_000);
                let tax = net * 21 / 100;
                let date = at.date_naive();
                let mut lines = vec![
                    company.full_name(),
                    company.street.clone(),
                    format!("{} {}", company.postal_code, company.city),
                ];
                if let Some(vat) = &company.vat {
                    lines.push(format!("VAT: {vat}"));
                }
                lines.extend([
                    "INVOICE".to_string(),
                    format!("Invoice No.: {number}"),
                    format!("Invoice date: {}", date.format("%Y-%m-%d")),
                    format!(
                        "Due date: {}",
                        (date + Duration::days(30)).format("%Y-%m-%d")
                    ),
                    format!("Bill to: {database}"),
                    format!("Subtotal    {}.{:02}", net / 100, net % 100),
                    format!("VAT 21%    {}.{:02}", tax / 100, tax % 100),
                    format!(
                        "Total due    EUR {}.{:02}",
                        (net + tax) / 100,
                        (net + tax) % 100
                    ),
                ]);
                let file_name = format!("{number}.pdf");
                (
                    self.document,
                    format!("Digitization: {file_name}"),
                    Record::Bill { file_name, lines },
                )
            }
        })
    }
}

/// Where the history's letters go, by country: (country, street, postal code, city).
const LETTER_ADDRESSES: &[(&str, &str, &str, &str)] = &[
    ("BE", "Avenue Louise 54", "1050", "Brussels"),
    ("FR", "12 Rue de Rivoli", "75004", "Paris"),
    ("NL", "Keizersgracht 241", "1016 EA", "Amsterdam"),
    ("DE", "Friedrichstraße 43", "10117", "Berlin"),
    ("LU", "2 Rue du Fossé", "1536", "Luxembourg"),
    ("US", "1600 Market Street", "19103", "Philadelphia, PA"),
];

/// Who signs the history's contracts with itsme: (name, email).
const SIGNERS: &[(&str, &str)] = &[
    ("Marie Peeters", "marie.peeters@example.be"),
    ("Lucas Janssens", "lucas.janssens@example.be"),
    ("Emma Maes", "emma.maes@example.be"),
    ("Noah Jacobs", "noah.jacobs@example.be"),
    ("Louise Willems", "louise.willems@example.be"),
    ("Arthur Claes", "arthur.claes@example.be"),
];

const CONTRACTS: &[&str] = &[
    "Service agreement",
    "Non-disclosure agreement",
    "Lease agreement",
    "Employment contract",
    "Framework purchase agreement",
];

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
    let is_sms = usage.kind == Kind::Sms;
    let mut leads_found = 0;
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
        // One use a minute: a use's hold is captured within it.
        minutes.dedup();
        for minute in minutes {
            let at = date + Duration::minutes(minute);
            if at >= now - Duration::minutes(10) {
                break;
            }
            let (price, description, record) = if is_sms {
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
                (cost, description, None)
            } else {
                let Some((price, description, record)) =
                    services.plan_use(usage.kind, rng, account.name, at, &mut leads_found)
                else {
                    continue;
                };
                (price, description, Some(record))
            };
            if balance < price {
                // Short of credits: a pack is bought (by hand, or by the automatic top-up).
                let pack = if packs.len() > 1 && rng.random_bool(0.7) {
                    1
                } else {
                    0
                };
                // After the last use's capture (a minute before at most, and 15 s long).
                let bought = at - Duration::seconds(40);
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
                        at: bought + Duration::seconds(10),
                        of_purchase: purchases - 1,
                    });
                    balance = Credits::from_units(balance.units() - packs[pack].credits.units());
                    plan.push(Planned::Purchase {
                        at: bought + Duration::seconds(20),
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
                record,
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
    // The other services' uses: held and captured, each a job done (written before the ledger
    // rows, which name their holds).
    let actor = Actor::system(&usage.service.slug.to_string())
        .as_str()
        .to_string();
    let uses: Vec<PastUse> = plan
        .iter()
        .filter_map(|p| match p {
            Planned::Use {
                at,
                price,
                description,
                record: Some(_),
            } => Some(PastUse {
                at: *at,
                finished_at: *at + USE_TAKES,
                price: *price,
                actor: actor.clone(),
                description: description.clone(),
            }),
            _ => None,
        })
        .collect();
    let jobs = metering::history::done_in_past(conn, &opened, &uses)?;
    let mut next_job = jobs.iter();
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
                    record: None,
                } => vec![PastEntry::posted(
                    *at,
                    EntryKind::Charge,
                    Credits::from_units(-price.units()),
                    None,
                    actor.clone(),
                    description.clone(),
                )],
                Planned::Use {
                    record: Some(_), ..
                } => next_job.next()?.entries.to_vec(),
            })
        })
        .flatten()
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
    let records = write_records(
        conn,
        account.database_id,
        plan.into_iter()
            .filter_map(|p| match p {
                Planned::Use {
                    record: Some(record),
                    ..
                } => Some(record),
                _ => None,
            })
            .zip(&jobs),
    )?;
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
        ..records
    })
}

/// How long one of the other services' uses took: from its hold to its capture.
const USE_TAKES: Duration = Duration::seconds(15);

/// Hands each use's record to its service to write, with the job it was done by.
fn write_records<'a>(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    records: impl Iterator<Item = (Record, &'a metering::history::PastJob)>,
) -> Result<Written, HistoryError> {
    let (mut enrichments, mut leads, mut letters, mut signatures, mut bills) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (record, job) in records {
        let (job_id, at, price) = (job.job_id, job.at, job.used);
        match record {
            Record::Enrichment(company_id) => enrichments.push(PastEnrichment {
                job_id,
                at,
                company_id,
                price,
            }),
            Record::Leads(companies) => leads.push(PastLeadRequest {
                job_id,
                at,
                price_per_company: Credits::from_units(price.units() / companies.len() as i64),
                price_per_contact: Credits::ZERO,
                companies,
            }),
            Record::Letter {
                address,
                pages,
                zone,
                lines,
            } => letters.push(PastLetter {
                job_id,
                at,
                delivered_at: at + Duration::days(2),
                text: lines,
                address,
                pages,
                zone,
                price,
                source: LetterSource::Odoo,
            }),
            Record::Signature {
                title,
                signer,
                pages,
            } => signatures.push(PastSignature {
                job_id,
                at,
                signed_at: at + USE_TAKES,
                title,
                pages,
                signer_name: signer.0.to_string(),
                signer_email: signer.1.to_string(),
                signer_country: "BE".into(),
                birth_date: chrono::NaiveDate::from_ymd_opt(1970 + (job_id.0 % 30) as i32, 3, 14)
                    .unwrap_or_default(),
                national_number: format!("{:011}", 70_031_412_345 + job_id.0),
                price,
            }),
            Record::Bill { file_name, lines } => bills.push(PastBill {
                job_id,
                at,
                read_at: at + USE_TAKES,
                file_name,
                lines,
                price,
            }),
        }
    }
    Ok(Written {
        enrichments: partner_autocomplete::enriched_in_past(conn, database_id, &enrichments)?,
        lead_requests: {
            lead_history::found_in_past(conn, database_id, &leads)?;
            leads.len()
        },
        letters: letter_history::delivered_in_past(conn, database_id, &letters)?,
        identifications: signing_history::signed_in_past(conn, database_id, &signatures)?,
        bills: bill_history::digitized_in_past(conn, database_id, &bills)?,
        ..Written::default()
    })
}

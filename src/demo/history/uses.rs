//! The services a database of the history uses, what one use of each costs and leaves, and
//! the hand-over of those records to the services' past writers.

use chrono::{DateTime, Datelike, Duration, Utc};
use diesel::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::data::{CONTRACTS, LETTER_ADDRESSES, SIGNERS, SMS_BODIES, SMS_TARGETS};
use super::{HistoryError, Recipient, Written};
use crate::domain::catalog::{self, Pack, Service, usage_prices};
use crate::domain::metering::history::PastJob;
use crate::kernel::credits::Credits;
use crate::kernel::ids::{CompanyId, DatabaseId};
use crate::services::digitization::history::{self as bill_history, PastBill};
use crate::services::directory::{self, Company};
use crate::services::leads::generation::LeadPrices;
use crate::services::leads::history::{self as lead_history, PastLeadRequest};
use crate::services::partner_autocomplete::{self, PastEnrichment};
use crate::services::signing::history::{self as signing_history, PastSignature};
use crate::services::sms::history::{self as sms_history, PastSms};
use crate::services::sms::pricing;
use crate::services::snailmail::history::{self as letter_history, PastLetter};
use crate::services::snailmail::postage::{self, LetterOptions, Zone};
use crate::services::snailmail::{Address, LetterSource};

/// How a database uses one service: uses a day (on a weekday, at the start).
pub(super) struct Usage {
    pub(super) service: Service,
    pub(super) per_day: f64,
    pub(super) kind: Kind,
}

/// Which service a use is of: each leaves its own records.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Sms,
    Enrichment,
    Leads,
    Letter,
    Signature,
    Bill,
    /// Third-party providers' services, spent through the API (a hold, then its capture).
    VatCheck,
    Translation,
}

/// What one use leaves, for its service to write.
pub(super) enum Record {
    /// Charged at once, and delivered.
    Sms(PastSms),
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
    /// A third-party provider's use: its records are the provider's own.
    Provider,
}

/// How a use spent its credits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Spend {
    /// Charged at once (an SMS).
    Charged,
    /// Held, then captured by a job of our own service.
    Job,
    /// Held, then captured by its provider through the API.
    ProviderHold,
}

impl Record {
    pub(super) fn spend(&self) -> Spend {
        match self {
            Record::Sms(_) => Spend::Charged,
            Record::Provider => Spend::ProviderHold,
            _ => Spend::Job,
        }
    }
}

/// The catalog the history uses, and the companies its uses are about.
pub(super) struct Services {
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
    pub(super) fn load(conn: &mut PgConnection) -> Result<Services, HistoryError> {
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
            ("vat-validation", Kind::VatCheck),
            ("document-translation", Kind::Translation),
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
    pub(super) fn used_by(&self, n: usize, rng: &mut ChaCha8Rng) -> Vec<Usage> {
        let mut used = vec![Usage {
            service: self.sms.0.clone(),
            per_day: rng.random_range(2.0..9.0),
            kind: Kind::Sms,
        }];
        for (k, (service, _, kind)) in self.others.iter().enumerate() {
            if ((n + k).is_multiple_of(3) || n == 0) && !self.companies.is_empty() {
                // A few a week: each leaves records (letters and bills their PDFs). A bill is
                // read for real (tens of milliseconds each): a few a fortnight.
                let per_day = rng.random_range(0.15..0.9);
                used.push(Usage {
                    service: service.clone(),
                    per_day: if *kind == Kind::Bill {
                        per_day / 3.0
                    } else {
                        per_day
                    },
                    kind: *kind,
                });
            }
        }
        used
    }

    pub(super) fn packs_of(&self, usage: &Usage) -> &[Pack] {
        if usage.kind == Kind::Sms {
            return &self.sms.1;
        }
        self.others
            .iter()
            .find(|(s, ..)| s.id == usage.service.id)
            .map_or(&[], |(_, packs, ..)| packs.as_slice())
    }

    /// One use by `database` at `at`: its price, what the ledger says of it and its records.
    /// SMS go to the demo's contacts (`contacts`), or to numbers of their own. `leads_found`
    /// counts the companies the database has as leads already (each company is found once);
    /// `None` when it has them all.
    pub(super) fn plan_use(
        &self,
        kind: Kind,
        rng: &mut ChaCha8Rng,
        database: &str,
        contacts: &[Recipient],
        at: DateTime<Utc>,
        leads_found: &mut usize,
    ) -> Option<(Credits, String, Record)> {
        if kind == Kind::Sms {
            return Some(self.plan_sms(rng, contacts, at));
        }
        let company = &self
            .companies
            .get(rng.random_range(0..self.companies.len().max(1)))?;
        Some(match kind {
            // Planned above.
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
            Kind::VatCheck => (
                Credits::whole(1),
                format!(
                    "VAT number check: {}",
                    company.vat.clone().unwrap_or_else(|| company.full_name())
                ),
                Record::Provider,
            ),
            Kind::Translation => {
                let pages = rng.random_range(1..=6);
                let what = ["Quotation", "Invoice", "Product sheet"][rng.random_range(0..3)];
                (
                    Credits::whole(pages),
                    format!(
                        "Translation: {what} for {} ({pages} {})",
                        company.name,
                        if pages == 1 { "page" } else { "pages" }
                    ),
                    Record::Provider,
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

    /// An SMS at `at`: its price by its parts and its country.
    fn plan_sms(
        &self,
        rng: &mut ChaCha8Rng,
        contacts: &[Recipient],
        at: DateTime<Utc>,
    ) -> (Credits, String, Record) {
        let body = SMS_BODIES[rng.random_range(0..SMS_BODIES.len())];
        let (contact_id, recipient, name, country) = match contacts {
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
        let per_part = pricing::price_in(&self.sms.2, Some(country));
        let cost = Credits::from_units(per_part.units() * parts as i64);
        let description = if name.is_empty() {
            format!("SMS to {recipient}")
        } else {
            format!("SMS to {name}")
        };
        let sms = PastSms {
            at,
            contact_id,
            sent_by: None,
            recipient,
            body: body.to_string(),
            cost,
        };
        (cost, description, Record::Sms(sms))
    }
}

/// How long one of the other services' uses took: from its hold to its capture.
pub(super) const USE_TAKES: Duration = Duration::seconds(15);

/// Hands each use's record to its service to write; a held use's with the job that did it
/// (`jobs`, in the held uses' order).
pub(super) fn write_records(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    records: impl Iterator<Item = Record>,
    jobs: &[PastJob],
) -> Result<Written, HistoryError> {
    let (mut sms, mut enrichments, mut leads, mut letters, mut signatures, mut bills) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut jobs = jobs.iter();
    for record in records {
        match record {
            Record::Sms(message) => {
                sms.push(message);
                continue;
            }
            Record::Provider => continue,
            _ => {}
        }
        let job = jobs.next().ok_or(diesel::result::Error::NotFound)?;
        let (job_id, at, price) = (job.job_id, job.at, job.used);
        match record {
            Record::Sms(_) | Record::Provider => {}
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
        sms: if sms.is_empty() {
            0
        } else {
            sms_history::delivered_in_past(conn, database_id, &sms)?
        },
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

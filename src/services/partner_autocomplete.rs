//! Partner Autocomplete: suggestions of companies as a user types (free), and the enrichment
//! of a company contact from the directory for the catalog's price per enrichment — on the common paid-service
//! steps: the credit is held and the request recorded before the directory is asked, the
//! contact is filled and its chatter told in the provider step, and the credit captured once.
//! Enriching a contact again with the company it has costs nothing; with too few credits only
//! the website and logo are filled in (free). Owner of `enrichments`.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;

use crate::domain::catalog::usage_prices;
use crate::domain::ledger::Actor;
use crate::domain::metering::{self, Job, MeteringError, PaidService, PerformError, Request};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, CompanyId, ContactId, DatabaseId, JobId, UserId};
use crate::platform::schema::enrichments;
use crate::services::contacts;
use crate::services::directory::Company;
use crate::services::directory::provider::{CompanyDirectory, DirectoryError};

pub const SERVICE: &str = "partner-autocomplete";

crate::sql_text_enum! {
    /// Where an enrichment is in its life.
    pub enum EnrichmentStatus {
        /// Paid for by a hold; the directory not asked yet.
        Pending => "pending",
        /// The contact was filled in (or the company handed to Odoo): charged.
        Done => "done",
        /// The contact or the company went away, or the job was given up: not charged.
        Failed => "failed",
    }
}

crate::sql_text_enum! {
    /// Who asked for an enrichment.
    pub enum EnrichmentSource {
        /// A user, from a contact's page.
        Contact => "contact",
        /// An Odoo database, through the protocol.
        Odoo => "odoo",
    }
}
/// The hold outlives every attempt of the job.
fn hold_ttl() -> Duration {
    metering::LEASE * (metering::MAX_ATTEMPTS as u32 + 1)
}

/// An enrichment as written when its price is held.
#[derive(Insertable)]
#[diesel(table_name = enrichments, check_for_backend(diesel::pg::Pg))]
struct NewEnrichment {
    job_id: JobId,
    database_id: DatabaseId,
    contact_id: Option<ContactId>,
    company_id: CompanyId,
    requested_by: Option<UserId>,
    price: Credits,
    source: EnrichmentSource,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error("no such contact")]
    ContactNotFound,
    #[error("no such company in the directory")]
    CompanyNotFound,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Metering(MeteringError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

crate::from_metering_error!(EnrichError);

/// What an enrichment came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Enriched {
    /// Filled in, and the price spent.
    Charged(Credits),
    /// The contact has this company already: nothing to pay.
    AlreadyEnriched,
    /// The directory did not answer: the credit stays held and the worker tries again; the
    /// contact is filled (and the credit captured) when it answers.
    UnderWay,
    /// Too few credits: only the website and logo were filled in, nothing spent.
    WebsiteAndLogoOnly {
        account_id: AccountId,
        available: Credits,
    },
}

/// An enrichment as asked: for a contact of the app (and its user), or by an Odoo database.
struct Asked {
    database_id: DatabaseId,
    /// The account an Odoo database's token named; `None`: the database's default.
    account: Option<AccountId>,
    company_id: CompanyId,
    price: Credits,
    contact: Option<(ContactId, UserId)>,
    description: String,
}

/// The common steps' first one: holds the price and records the enrichment, together.
fn begin(
    conn: &mut PgConnection,
    worker: &PartnerAutocompleteWorker,
    asked: &Asked,
) -> Result<Job, MeteringError> {
    let actor = match asked.contact {
        Some((_, user_id)) => Actor::user(user_id),
        None => Actor::system("odoo"),
    };
    let request = Request {
        database_id: asked.database_id,
        account: asked.account,
        service: worker,
        credits: asked.price,
        hold_ttl: hold_ttl(),
        description: &asked.description,
        actor: &actor,
    };
    let (job, _) = metering::begin(conn, &request, |conn, job| {
        if asked.contact.is_none() && odoo_paid_already(conn, asked, true)? {
            // Bought meanwhile by a concurrent call: nothing held, nothing written.
            return Err(diesel::result::Error::RollbackTransaction);
        }
        diesel::insert_into(enrichments::table)
            .values(NewEnrichment {
                job_id: job.id,
                database_id: asked.database_id,
                contact_id: asked.contact.map(|(c, _)| c),
                company_id: asked.company_id,
                requested_by: asked.contact.map(|(_, u)| u),
                price: asked.price,
                source: if asked.contact.is_some() {
                    EnrichmentSource::Contact
                } else {
                    EnrichmentSource::Odoo
                },
            })
            .execute(conn)
    })?;
    Ok(job)
}

/// Companies for what was typed (free).
pub fn suggest(
    directory: &dyn CompanyDirectory,
    query: &str,
) -> Result<Vec<Company>, DirectoryError> {
    directory.search(query)
}

/// Enriches the database's contact with the directory's company `company_id`.
pub fn enrich(
    conn: &mut PgConnection,
    directory: &Arc<dyn CompanyDirectory>,
    database_id: DatabaseId,
    user_id: UserId,
    contact_id: ContactId,
    company_id: CompanyId,
) -> Result<Enriched, EnrichError> {
    let contact =
        contacts::find(conn, database_id, contact_id)?.ok_or(EnrichError::ContactNotFound)?;
    if contact.directory_company_id == Some(company_id) {
        return Ok(Enriched::AlreadyEnriched);
    }
    let price = usage_prices::price(conn, SERVICE, usage_prices::ENRICHMENT)?;
    let asked = Asked {
        database_id,
        account: None,
        company_id,
        price,
        contact: Some((contact_id, user_id)),
        description: format!("Partner Autocomplete: {}", contact.name),
    };
    let worker = PartnerAutocompleteWorker(directory.clone());
    let job = match begin(conn, &worker, &asked) {
        Ok(job) => job,
        Err(MeteringError::InsufficientCredits {
            account_id,
            available,
            ..
        }) => {
            // The free part: what any visitor of the company's site sees.
            let company = directory
                .enrich(company_id)?
                .ok_or(EnrichError::CompanyNotFound)?;
            contacts::apply_company(conn, database_id, contact_id, &company, false)?;
            return Ok(Enriched::WebsiteAndLogoOnly {
                account_id,
                available,
            });
        }
        // The same enrichment asked twice at once: the other request does it (and is charged).
        Err(MeteringError::Database(e)) if crate::platform::db::is_unique_violation(&e) => {
            return Ok(Enriched::AlreadyEnriched);
        }
        // A company id the directory never had: nothing was held or written.
        Err(MeteringError::Database(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        ))) => return Err(EnrichError::CompanyNotFound),
        Err(e) => return Err(e.into()),
    };
    metering::run(conn, &worker, job.id)?;
    let status: EnrichmentStatus = enrichments::table
        .filter(enrichments::job_id.eq(job.id))
        .select(enrichments::status)
        .first(conn)?;
    match status {
        EnrichmentStatus::Done => Ok(Enriched::Charged(price)),
        EnrichmentStatus::Pending => Ok(Enriched::UnderWay),
        EnrichmentStatus::Failed => Err(EnrichError::CompanyNotFound),
    }
}

/// What an enrichment asked by an Odoo database came to.
#[derive(Debug, Clone, PartialEq)]
pub enum OdooEnriched {
    /// The price was spent: the caller hands the company over.
    Charged(Credits),
    /// The database paid for this company before: handed over again for nothing.
    AgainFree,
    /// Too few credits: nothing was held or spent.
    InsufficientCredits { available: Credits, needed: Credits },
}

/// Whether the database has paid (or, `with_pending`, is paying) for the company through Odoo.
/// With `with_pending`, first waits for any concurrent enrichment of the same company by the
/// database to commit (a transaction advisory lock), so that two calls pay once.
fn odoo_paid_already(
    conn: &mut PgConnection,
    asked: &Asked,
    with_pending: bool,
) -> QueryResult<bool> {
    if with_pending {
        diesel::sql_query(
            "SELECT pg_advisory_xact_lock($1, (($2 # ($3 << 20)) % 2147483647)::int)",
        )
        .bind::<diesel::sql_types::Integer, _>(ENRICHMENT_LOCK)
        .bind::<diesel::sql_types::BigInt, _>(asked.database_id.0)
        .bind::<diesel::sql_types::BigInt, _>(asked.company_id)
        .execute(conn)?;
    }
    let statuses: &[EnrichmentStatus] = if with_pending {
        &[EnrichmentStatus::Done, EnrichmentStatus::Pending]
    } else {
        &[EnrichmentStatus::Done]
    };
    diesel::select(diesel::dsl::exists(
        enrichments::table
            .filter(enrichments::database_id.eq(asked.database_id))
            .filter(enrichments::company_id.eq(asked.company_id))
            .filter(enrichments::source.eq(EnrichmentSource::Odoo))
            .filter(enrichments::status.eq_any(statuses)),
    ))
    .get_result(conn)
}

/// The first key of the advisory locks that serialize a database's enrichments of one company.
const ENRICHMENT_LOCK: i32 = 0x0e_a1c4;

/// Charges the account an Odoo database named for the company it asked to enrich with, once:
/// the same company enriched again by the database is free (as a contact enriched again in
/// the app). The directory was asked first (the data is in hand, so nothing is charged for
/// data that never came), then the price is held and captured on the common steps; Odoo
/// keeps the data itself.
pub fn enrich_for_odoo(
    conn: &mut PgConnection,
    directory: &Arc<dyn CompanyDirectory>,
    account: &crate::domain::ledger::IapAccount,
    company: &Company,
) -> Result<OdooEnriched, EnrichError> {
    let price = usage_prices::price(conn, SERVICE, usage_prices::ENRICHMENT)?;
    let asked = Asked {
        database_id: account.database_id,
        account: Some(account.id),
        company_id: company.id,
        price,
        contact: None,
        description: format!("Partner Autocomplete (Odoo): {}", company.full_name()),
    };
    if odoo_paid_already(conn, &asked, false)? {
        return Ok(OdooEnriched::AgainFree);
    }
    let worker = PartnerAutocompleteWorker(directory.clone());
    let job = match begin(conn, &worker, &asked) {
        Ok(job) => job,
        Err(MeteringError::InsufficientCredits {
            available, needed, ..
        }) => return Ok(OdooEnriched::InsufficientCredits { available, needed }),
        Err(MeteringError::Database(diesel::result::Error::RollbackTransaction)) => {
            return Ok(OdooEnriched::AgainFree);
        }
        Err(e) => return Err(e.into()),
    };
    let finished = metering::run(conn, &worker, job.id)?;
    if finished.is_some_and(|j| j.status == metering::JobStatus::Done) {
        Ok(OdooEnriched::Charged(price))
    } else {
        // Not finished now: give it up rather than charge later for an answer not sent.
        metering::abandon(conn, &worker, job.id)?;
        Err(EnrichError::CompanyNotFound)
    }
}

/// An enrichment waiting for the directory: id, database, contact, company, asker, price.
type PendingEnrichment = (
    i64,
    DatabaseId,
    Option<ContactId>,
    CompanyId,
    Option<UserId>,
    Credits,
);

/// The worker's Partner Autocomplete: the provider step and what a job used.
pub struct PartnerAutocompleteWorker(pub Arc<dyn CompanyDirectory>);

impl PaidService for PartnerAutocompleteWorker {
    fn slug(&self) -> &'static str {
        SERVICE
    }

    fn perform(&self, conn: &mut PgConnection, job: &Job) -> Result<(), PerformError> {
        let pending: Vec<PendingEnrichment> = enrichments::table
            .filter(enrichments::job_id.eq(job.id))
            .filter(enrichments::status.eq(EnrichmentStatus::Pending))
            .filter(enrichments::source.eq(EnrichmentSource::Contact))
            .select((
                enrichments::id,
                enrichments::database_id,
                enrichments::contact_id,
                enrichments::company_id,
                enrichments::requested_by,
                enrichments::price,
            ))
            .load(conn)?;
        // Asked by Odoo: the data was handed over with the request; nothing left to fetch.
        diesel::update(
            enrichments::table
                .filter(enrichments::job_id.eq(job.id))
                .filter(enrichments::status.eq(EnrichmentStatus::Pending))
                .filter(enrichments::source.eq(EnrichmentSource::Odoo)),
        )
        .set(enrichments::status.eq(EnrichmentStatus::Done))
        .execute(conn)?;
        for (id, database_id, contact_id, company_id, user_id, price) in pending {
            // Asked with no transaction open; the answer is saved in a short one.
            let company = self
                .0
                .enrich(company_id)
                .map_err(|e| PerformError(e.to_string()))?;
            conn.transaction(|conn| {
                let status = match (company.as_ref(), contact_id) {
                    (Some(company), Some(contact_id)) => {
                        contacts::apply_company(conn, database_id, contact_id, company, true)?;
                        contacts::add_event(
                            conn,
                            database_id,
                            contact_id,
                            user_id,
                            &format!(
                                "Enriched with Partner Autocomplete ({}), {} {}",
                                company.full_name(),
                                price.to_display(),
                                if price == Credits::whole(1) {
                                    "credit"
                                } else {
                                    "credits"
                                }
                            ),
                        )?;
                        EnrichmentStatus::Done
                    }
                    // The contact was deleted meanwhile, or the company left the directory.
                    _ => EnrichmentStatus::Failed,
                };
                diesel::update(enrichments::table.find(id))
                    .set(enrichments::status.eq(status))
                    .execute(conn)
            })?;
        }
        Ok(())
    }

    fn close_unfinished(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<()> {
        diesel::update(
            enrichments::table
                .filter(enrichments::job_id.eq(job.id))
                .filter(enrichments::status.eq(EnrichmentStatus::Pending)),
        )
        .set(enrichments::status.eq(EnrichmentStatus::Failed))
        .execute(conn)
        .map(drop)
    }

    fn used(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<Credits> {
        let prices: Vec<Credits> = enrichments::table
            .filter(enrichments::job_id.eq(job.id))
            .filter(enrichments::status.eq(EnrichmentStatus::Done))
            .select(enrichments::price)
            .load(conn)?;
        Ok(prices.into_iter().sum())
    }
}

/// An enrichment as the operator's pages list it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct EnrichmentRow {
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub company: String,
    pub status: EnrichmentStatus,
    pub price: Credits,
}

/// The database's latest enrichments, newest first (one query, the company's name joined).
pub fn latest(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    limit: i64,
) -> QueryResult<Vec<EnrichmentRow>> {
    use crate::platform::schema::directory_companies;
    enrichments::table
        .inner_join(
            directory_companies::table.on(directory_companies::id.eq(enrichments::company_id)),
        )
        .filter(enrichments::database_id.eq(database_id))
        .order(enrichments::id.desc())
        .limit(limit)
        .select((
            enrichments::created_at,
            directory_companies::name,
            enrichments::status,
            enrichments::price,
        ))
        .load(conn)
}

/// An enrichment done in the past (the first start's history), for a job
/// `metering::history` wrote: asked by an Odoo database for the company `company_id`.
pub struct PastEnrichment {
    pub job_id: JobId,
    pub at: chrono::DateTime<chrono::Utc>,
    pub company_id: CompanyId,
    pub price: Credits,
}

/// Writes the database's past enrichments, done; how many.
pub fn enriched_in_past(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    past: &[PastEnrichment],
) -> QueryResult<usize> {
    let rows: Vec<_> = past
        .iter()
        .map(|e| {
            (
                NewEnrichment {
                    job_id: e.job_id,
                    database_id,
                    contact_id: None,
                    company_id: e.company_id,
                    requested_by: None,
                    price: e.price,
                    source: EnrichmentSource::Odoo,
                },
                enrichments::status.eq(EnrichmentStatus::Done),
                enrichments::created_at.eq(e.at),
            )
        })
        .collect();
    diesel::insert_into(enrichments::table)
        .values(rows)
        .execute(conn)
}

//! Lead Generation: "Generate Leads" buys companies (and some of their people) matching a
//! database's criteria from the company directory, on the common paid-service steps:
//!
//! - **begin**: the maximum (leads × (price per company + contacts × price per contact)) is
//!   held and the request recorded, or — too few credits — nothing is written at all;
//! - **perform**: the directory is asked with no transaction open, leaving out the companies
//!   that are leads of the database already; what it found becomes leads in one transaction
//!   (a company another request made a lead meanwhile is skipped by the unique key);
//! - **settle**: 1 credit (the catalog's price) per company and per contact actually added is
//!   captured, the rest of the hold released.
//!
//! A form posted twice (same `form_key`) makes one request.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::add_events;
use crate::domain::catalog::usage_prices;
use crate::domain::ledger::Actor;
use crate::domain::metering::{self, Job, MeteringError, PaidService, PerformError, Request};
use crate::kernel::credits::Credits;
use crate::kernel::forms::FieldErrors;
use crate::kernel::ids::{AccountId, CompanyId, DatabaseId, JobId, LeadId, LeadRequestId, UserId};
use crate::platform::schema::{company_lookups, lead_contacts, lead_requests, leads, service_jobs};
use crate::services::directory::Company;
use crate::services::directory::data::{COUNTRIES, DEPARTMENTS, INDUSTRIES, SENIORITIES};
use crate::services::directory::provider::{CompanyDirectory, MinedCompany, MiningCriteria};

crate::sql_text_enum! {
    /// Where a Generate Leads request is.
    pub enum LeadRequestStatus {
        /// Paid for by a hold; the directory not asked (or not answered) yet.
        Pending => "pending",
        /// The leads were made, and what was found charged.
        Done => "done",
        /// Given up: nothing found, nothing charged.
        Failed => "failed",
    }
}

pub const SERVICE: &str = "lead-generation";
pub const MAX_LEADS: i32 = 200;
pub const MAX_CONTACTS: i32 = 5;
/// The largest company size one can ask for (the directory's largest companies are smaller).
pub const MAX_EMPLOYEES: i32 = 1_000_000;

/// The hold outlives every attempt of the job.
fn hold_ttl() -> Duration {
    metering::LEASE * (metering::MAX_ATTEMPTS as u32 + 1)
}

/// The Generate Leads form as typed (several values per list field).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadRequestInput {
    pub form_key: String,
    pub leads: String,
    pub countries: Vec<String>,
    pub industries: Vec<String>,
    pub min_employees: String,
    pub max_employees: String,
    pub contacts: String,
    pub seniorities: Vec<String>,
    pub departments: Vec<String>,
}

/// A request that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidLeadRequest {
    pub form_key: String,
    pub lead_count: i32,
    pub countries: Vec<String>,
    pub industries: Vec<String>,
    pub min_employees: i32,
    pub max_employees: i32,
    pub contacts_per_company: i32,
    pub seniorities: Vec<String>,
    pub departments: Vec<String>,
}

pub use crate::kernel::forms::new_form_key;

/// A lead as a request writes it: the directory's company, copied.
#[derive(Insertable)]
#[diesel(table_name = leads, check_for_backend(diesel::pg::Pg))]
pub(super) struct NewLead<'a> {
    database_id: DatabaseId,
    request_id: LeadRequestId,
    directory_company_id: CompanyId,
    name: String,
    country_code: &'a str,
    street: &'a str,
    postal_code: &'a str,
    city: &'a str,
    vat: Option<&'a str>,
    website: String,
    phone: &'a str,
    industry: &'a str,
    employees: i32,
    logo_svg: String,
}

impl<'a> NewLead<'a> {
    pub(super) fn of(database_id: DatabaseId, request_id: LeadRequestId, c: &'a Company) -> Self {
        NewLead {
            database_id,
            request_id,
            directory_company_id: c.id,
            name: c.full_name(),
            country_code: &c.country_code,
            street: &c.street,
            postal_code: &c.postal_code,
            city: &c.city,
            vat: c.vat.as_deref(),
            website: c.website(),
            phone: &c.phone,
            industry: &c.industry,
            employees: c.employees,
            logo_svg: c.logo_svg(),
        }
    }
}

/// A request as it is written when its maximum is held.
#[derive(Insertable)]
#[diesel(table_name = lead_requests, check_for_backend(diesel::pg::Pg))]
pub(super) struct NewLeadRequest<'a> {
    pub(super) job_id: JobId,
    pub(super) database_id: DatabaseId,
    pub(super) requested_by: Option<UserId>,
    pub(super) form_key: &'a str,
    pub(super) lead_count: i32,
    pub(super) countries: &'a [String],
    pub(super) industries: &'a [String],
    pub(super) min_employees: i32,
    pub(super) max_employees: i32,
    pub(super) contacts_per_company: i32,
    pub(super) seniorities: &'a [String],
    pub(super) departments: &'a [String],
    pub(super) price_per_company: Credits,
    pub(super) price_per_contact: Credits,
}

impl LeadRequestInput {
    /// The form as a new user first sees it.
    pub fn blank() -> Self {
        LeadRequestInput {
            form_key: new_form_key(),
            leads: "10".into(),
            min_employees: "1".into(),
            max_employees: "1000".into(),
            contacts: "1".into(),
            ..Default::default()
        }
    }

    /// From the posted fields. `fewer` (the refusal's "ask for N instead" button) replaces the
    /// number of leads.
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut input = LeadRequestInput::default();
        let mut fewer = None;
        for (key, value) in pairs {
            let value = value.clone();
            match key.as_str() {
                "form_key" => input.form_key = value,
                "leads" => input.leads = value,
                "fewer" => fewer = Some(value),
                "country" => input.countries.push(value),
                "industry" => input.industries.push(value),
                "min_employees" => input.min_employees = value,
                "max_employees" => input.max_employees = value,
                "contacts" => input.contacts = value,
                "seniority" => input.seniorities.push(value),
                "department" => input.departments.push(value),
                _ => {}
            }
        }
        if let Some(fewer) = fewer {
            input.leads = fewer;
        }
        input
    }

    pub fn validate(&self) -> Result<ValidLeadRequest, FieldErrors> {
        let mut errors = FieldErrors::default();
        let number = |errors: &mut FieldErrors, field, text: &str, min, max, what: &str| match text
            .trim()
            .parse::<i32>()
        {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                errors.add(field, format!("Enter {what} from {min} to {max}."));
                min
            }
        };
        let lead_count = number(
            &mut errors,
            "leads",
            &self.leads,
            1,
            MAX_LEADS,
            "a number of leads",
        );
        let contacts_per_company = number(
            &mut errors,
            "contacts",
            &self.contacts,
            0,
            MAX_CONTACTS,
            "a number of contacts",
        );
        let min_employees = number(
            &mut errors,
            "employees",
            &self.min_employees,
            1,
            MAX_EMPLOYEES,
            "company sizes",
        );
        let max_employees = number(
            &mut errors,
            "employees",
            &self.max_employees,
            1,
            MAX_EMPLOYEES,
            "company sizes",
        );
        if min_employees > max_employees {
            errors.add(
                "employees",
                "The smallest size must not be larger than the largest.",
            );
        }
        let known = |errors: &mut FieldErrors, field, values: &[String], allowed: &[&str], what| {
            let mut chosen: Vec<String> = Vec::new();
            for value in values {
                if !allowed.contains(&value.as_str()) {
                    errors.add(field, format!("Choose {what} from the list."));
                } else if !chosen.contains(value) {
                    chosen.push(value.clone());
                }
            }
            chosen
        };
        let country_codes: Vec<&str> = COUNTRIES.iter().map(|c| c.code).collect();
        let industry_codes: Vec<&str> = INDUSTRIES.iter().map(|(code, _)| *code).collect();
        let countries = known(
            &mut errors,
            "countries",
            &self.countries,
            &country_codes,
            "countries",
        );
        let industries = known(
            &mut errors,
            "industries",
            &self.industries,
            &industry_codes,
            "industries",
        );
        let seniorities = known(
            &mut errors,
            "seniorities",
            &self.seniorities,
            SENIORITIES,
            "seniorities",
        );
        let departments = known(
            &mut errors,
            "departments",
            &self.departments,
            DEPARTMENTS,
            "departments",
        );
        let key = self.form_key.trim();
        if !crate::kernel::forms::is_form_key(key) {
            errors.add(
                "leads",
                "This form is out of date: reload the page and try again.",
            );
        }
        errors.into_result()?;
        Ok(ValidLeadRequest {
            form_key: key.to_string(),
            lead_count,
            countries,
            industries,
            min_employees,
            max_employees,
            contacts_per_company,
            seniorities,
            departments,
        })
    }
}

/// The catalog's prices of Lead Generation now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadPrices {
    pub per_company: Credits,
    pub per_contact: Credits,
}

impl LeadPrices {
    pub fn current(conn: &mut PgConnection) -> QueryResult<Self> {
        Ok(LeadPrices {
            per_company: usage_prices::price(conn, SERVICE, usage_prices::COMPANY)?,
            per_contact: usage_prices::price(conn, SERVICE, usage_prices::CONTACT)?,
        })
    }

    /// What one lead with `contacts` contacts costs at most.
    pub fn per_lead(&self, contacts: i32) -> Credits {
        Credits::from_units(
            self.per_company.units() + i64::from(contacts) * self.per_contact.units(),
        )
    }

    /// What a request costs at most: every lead found with every contact asked for.
    pub fn maximum(&self, leads: i32, contacts: i32) -> Credits {
        Credits::from_units(self.per_lead(contacts).units() * i64::from(leads))
    }

    /// What was found costs.
    pub fn cost(&self, companies: i32, contacts: i32) -> Credits {
        Credits::from_units(
            self.per_company.units() * i64::from(companies)
                + self.per_contact.units() * i64::from(contacts),
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Nothing was held or written.
    #[error("not enough credits: {available} available, {needed} needed")]
    InsufficientCredits {
        account_id: AccountId,
        available: Credits,
        needed: Credits,
        /// How many leads the credits cover with the same settings.
        affordable: i64,
    },
    #[error(transparent)]
    Metering(MeteringError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

crate::from_metering_error!(GenerateError);

/// Runs a Generate Leads request of the database's user: holds the maximum, asks the
/// directory, makes the leads and captures what they cost. The same form posted again answers
/// the request it made the first time. The request may still be under way when this returns
/// (the directory failed and the worker will try again).
pub fn generate(
    conn: &mut PgConnection,
    directory: &Arc<dyn CompanyDirectory>,
    database_id: DatabaseId,
    user_id: UserId,
    request: &ValidLeadRequest,
) -> Result<LeadRequestId, GenerateError> {
    generate_for(conn, directory, database_id, Asker::User(user_id), request)
}

/// Who asks for leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// A user of the database, from its default account.
    User(UserId),
    /// The database's Odoo, from the account its token named.
    Odoo(AccountId),
}

/// `generate` for a user of the database, or for the database's Odoo through its protocol.
pub fn generate_for(
    conn: &mut PgConnection,
    directory: &Arc<dyn CompanyDirectory>,
    database_id: DatabaseId,
    asker: Asker,
    request: &ValidLeadRequest,
) -> Result<LeadRequestId, GenerateError> {
    let (user_id, account) = match asker {
        Asker::User(user_id) => (Some(user_id), None),
        Asker::Odoo(account_id) => (None, Some(account_id)),
    };
    if let Some(existing) = by_form_key(conn, database_id, &request.form_key)? {
        return Ok(existing);
    }
    let prices = LeadPrices::current(conn)?;
    let maximum = prices.maximum(request.lead_count, request.contacts_per_company);
    let actor = user_id.map_or_else(|| Actor::system("odoo"), Actor::user);
    let description = format!("Lead Generation: up to {} leads", request.lead_count);
    let metered = Request {
        database_id,
        account,
        service: &LeadGenerationWorker(directory.clone()),
        credits: maximum,
        hold_ttl: hold_ttl(),
        description: &description,
        actor: &actor,
    };
    let begun = metering::begin(conn, &metered, |conn, job| {
        diesel::insert_into(lead_requests::table)
            .values(NewLeadRequest {
                job_id: job.id,
                database_id,
                requested_by: user_id,
                form_key: &request.form_key,
                lead_count: request.lead_count,
                countries: &request.countries,
                industries: &request.industries,
                min_employees: request.min_employees,
                max_employees: request.max_employees,
                contacts_per_company: request.contacts_per_company,
                seniorities: &request.seniorities,
                departments: &request.departments,
                price_per_company: prices.per_company,
                price_per_contact: prices.per_contact,
            })
            .returning(lead_requests::id)
            .get_result::<LeadRequestId>(conn)
    });
    let (job, request_id) = match begun {
        Ok(begun) => begun,
        Err(MeteringError::InsufficientCredits {
            account_id,
            available,
            needed,
        }) => {
            let per_lead = prices.per_lead(request.contacts_per_company).units();
            return Err(GenerateError::InsufficientCredits {
                account_id,
                available,
                needed,
                affordable: if per_lead > 0 {
                    available.units().max(0) / per_lead
                } else {
                    0
                },
            });
        }
        // The same form posted twice at once: the other post made the request.
        Err(MeteringError::Database(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ))) => {
            return by_form_key(conn, database_id, &request.form_key)?
                .ok_or(GenerateError::Database(diesel::result::Error::NotFound));
        }
        Err(e) => return Err(e.into()),
    };
    metering::run(conn, &LeadGenerationWorker(directory.clone()), job.id)?;
    Ok(request_id)
}

fn by_form_key(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    form_key: &str,
) -> QueryResult<Option<LeadRequestId>> {
    lead_requests::table
        .filter(lead_requests::database_id.eq(database_id))
        .filter(lead_requests::form_key.eq(form_key))
        .select(lead_requests::id)
        .first(conn)
        .optional()
}

/// Gives up the request's job if the directory has not answered yet (for a caller that must
/// answer now): nothing is charged and the hold is released. Whether it was given up.
pub fn give_up_if_pending(
    conn: &mut PgConnection,
    directory: &Arc<dyn CompanyDirectory>,
    request_id: LeadRequestId,
) -> Result<bool, GenerateError> {
    let (job_id, status): (crate::kernel::ids::JobId, LeadRequestStatus) = lead_requests::table
        .find(request_id)
        .select((lead_requests::job_id, lead_requests::status))
        .first(conn)?;
    if status != LeadRequestStatus::Pending {
        return Ok(false);
    }
    metering::abandon(conn, &LeadGenerationWorker(directory.clone()), job_id)?;
    Ok(true)
}

/// A request as its pages show it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = lead_requests, check_for_backend(diesel::pg::Pg))]
pub struct LeadRequest {
    pub id: LeadRequestId,
    pub database_id: DatabaseId,
    pub lead_count: i32,
    pub countries: Vec<String>,
    pub industries: Vec<String>,
    pub min_employees: i32,
    pub max_employees: i32,
    pub contacts_per_company: i32,
    pub seniorities: Vec<String>,
    pub departments: Vec<String>,
    pub price_per_company: Credits,
    pub price_per_contact: Credits,
    pub status: LeadRequestStatus,
    pub companies_found: i32,
    pub contacts_found: i32,
    pub created_at: DateTime<Utc>,
}

impl LeadRequest {
    fn prices(&self) -> LeadPrices {
        LeadPrices {
            per_company: self.price_per_company,
            per_contact: self.price_per_contact,
        }
    }

    /// The most it could cost (what was held).
    pub fn maximum(&self) -> Credits {
        self.prices()
            .maximum(self.lead_count, self.contacts_per_company)
    }

    /// What what it found costs.
    pub fn cost(&self) -> Credits {
        self.prices()
            .cost(self.companies_found, self.contacts_found)
    }
}

/// A request with what its job captured (`None` while under way).
pub type RequestWithCharge = (LeadRequest, Option<Credits>);

/// The database's requests, newest first.
pub fn requests(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    limit: i64,
) -> QueryResult<Vec<RequestWithCharge>> {
    lead_requests::table
        .inner_join(service_jobs::table)
        .filter(lead_requests::database_id.eq(database_id))
        .order(lead_requests::id.desc())
        .limit(limit)
        .select((LeadRequest::as_select(), service_jobs::used))
        .load(conn)
}

/// One of the database's requests.
pub fn request(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    request_id: LeadRequestId,
) -> QueryResult<Option<RequestWithCharge>> {
    lead_requests::table
        .inner_join(service_jobs::table)
        .filter(lead_requests::database_id.eq(database_id))
        .filter(lead_requests::id.eq(request_id))
        .select((LeadRequest::as_select(), service_jobs::used))
        .first(conn)
        .optional()
}

/// The worker's Lead Generation: the directory call and what a job used.
pub struct LeadGenerationWorker(pub Arc<dyn CompanyDirectory>);

/// The request of a job, with who asked.
type PendingRequest = (LeadRequest, Option<UserId>);

fn pending_request(conn: &mut PgConnection, job: &Job) -> QueryResult<Option<PendingRequest>> {
    lead_requests::table
        .filter(lead_requests::job_id.eq(job.id))
        .filter(lead_requests::status.eq(LeadRequestStatus::Pending))
        .select((LeadRequest::as_select(), lead_requests::requested_by))
        .first(conn)
        .optional()
}

impl PaidService for LeadGenerationWorker {
    fn slug(&self) -> &'static str {
        SERVICE
    }

    fn perform(&self, conn: &mut PgConnection, job: &Job) -> Result<(), PerformError> {
        let Some((request, user_id)) = pending_request(conn, job)? else {
            return Ok(());
        };
        let criteria = MiningCriteria {
            companies: i64::from(request.lead_count),
            countries: request.countries.clone(),
            industries: request.industries.clone(),
            min_employees: request.min_employees,
            max_employees: request.max_employees,
            contacts_per_company: i64::from(request.contacts_per_company),
            seniorities: request.seniorities.clone(),
            departments: request.departments.clone(),
            exclude: super::directory_companies_of(conn, request.database_id)?,
        };
        // Asked with no transaction open; the answer is saved in one short transaction.
        let found = self
            .0
            .mine(&criteria)
            .map_err(|e| PerformError(e.to_string()))?;
        conn.transaction(|conn| save_found(conn, &request, user_id, &found))?;
        Ok(())
    }

    fn close_unfinished(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<()> {
        diesel::update(
            lead_requests::table
                .filter(lead_requests::job_id.eq(job.id))
                .filter(lead_requests::status.eq(LeadRequestStatus::Pending)),
        )
        .set(lead_requests::status.eq(LeadRequestStatus::Failed))
        .execute(conn)
        .map(drop)
    }

    fn used(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<Credits> {
        let request: Option<LeadRequest> = lead_requests::table
            .filter(lead_requests::job_id.eq(job.id))
            .select(LeadRequest::as_select())
            .for_update()
            .first(conn)
            .optional()?;
        Ok(match request {
            // Not a request: companies an Odoo database bought one by one.
            None => cost_of_lookups(conn, job)?,
            Some(request) if request.status == LeadRequestStatus::Failed => Credits::ZERO,
            Some(request) => request.cost(),
        })
    }
}

/// Makes leads of what the directory found (companies that became leads of the database
/// meanwhile are skipped, and not counted), and closes the request with what it found. Once:
/// the request is locked and must still be pending.
fn save_found(
    conn: &mut PgConnection,
    request: &LeadRequest,
    user_id: Option<UserId>,
    found: &[MinedCompany],
) -> QueryResult<()> {
    let still_pending: Option<LeadRequestId> = lead_requests::table
        .find(request.id)
        .filter(lead_requests::status.eq(LeadRequestStatus::Pending))
        .select(lead_requests::id)
        .for_update()
        .first(conn)
        .optional()?;
    if still_pending.is_none() {
        return Ok(());
    }
    let database_id = request.database_id;
    let rows: Vec<NewLead> = found
        .iter()
        .take(usize::try_from(request.lead_count).unwrap_or(0))
        .map(|m| NewLead::of(database_id, request.id, &m.company))
        .collect();
    let made: Vec<(LeadId, CompanyId)> = if rows.is_empty() {
        Vec::new()
    } else {
        diesel::insert_into(leads::table)
            .values(&rows)
            .on_conflict((leads::database_id, leads::directory_company_id))
            .do_nothing()
            .returning((leads::id, leads::directory_company_id.assume_not_null()))
            .get_results(conn)?
    };
    let per_contact_limit = usize::try_from(request.contacts_per_company).unwrap_or(0);
    let mut contact_rows = Vec::new();
    let mut notes = Vec::new();
    for (lead_id, company_id) in &made {
        let Some(mined) = found.iter().find(|m| m.company.id == *company_id) else {
            continue;
        };
        let people = &mined.people[..mined.people.len().min(per_contact_limit)];
        for p in people {
            contact_rows.push((
                lead_contacts::database_id.eq(database_id),
                lead_contacts::lead_id.eq(*lead_id),
                lead_contacts::directory_person_id.eq(p.id),
                lead_contacts::name.eq(&p.name),
                lead_contacts::job_title.eq(&p.job_title),
                lead_contacts::seniority.eq(&p.seniority),
                lead_contacts::department.eq(&p.department),
                lead_contacts::email.eq(&p.email),
            ));
        }
        let cost = request.prices().cost(1, people.len() as i32);
        notes.push((
            *lead_id,
            format!(
                "Generated by Lead Generation (request #{}): the company and {} {}, {} {}",
                request.id,
                people.len(),
                if people.len() == 1 {
                    "contact"
                } else {
                    "contacts"
                },
                cost.to_display(),
                if cost == Credits::whole(1) {
                    "credit"
                } else {
                    "credits"
                },
            ),
        ));
    }
    if !contact_rows.is_empty() {
        diesel::insert_into(lead_contacts::table)
            .values(&contact_rows)
            .execute(conn)?;
    }
    if !notes.is_empty() {
        add_events(conn, database_id, user_id, &notes)?;
    }
    diesel::update(lead_requests::table.find(request.id))
        .set((
            lead_requests::status.eq(LeadRequestStatus::Done),
            lead_requests::companies_found.eq(made.len() as i32),
            lead_requests::contacts_found.eq(contact_rows.len() as i32),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a job of `lookups` cost (its settle step: they were handed over with the answer).
fn cost_of_lookups(conn: &mut PgConnection, job: &Job) -> QueryResult<Credits> {
    let prices: Vec<Credits> = company_lookups::table
        .filter(company_lookups::job_id.eq(job.id))
        .select(company_lookups::price)
        .load(conn)?;
    Ok(prices.into_iter().sum())
}

//! Lead requests of the past (the first start's history): written as a request the worker
//! finished leaves it — the request done, a lead per company found — for the jobs
//! `metering::history` wrote.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::generation::{LeadRequestStatus, new_form_key};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{DatabaseId, JobId, LeadRequestId};
use crate::platform::schema::{lead_requests, leads};
use crate::services::directory::Company;

/// A request that found `companies` (no contacts), each at `price_per_company`.
pub struct PastLeadRequest {
    pub job_id: JobId,
    pub at: DateTime<Utc>,
    pub companies: Vec<Company>,
    pub price_per_company: Credits,
    pub price_per_contact: Credits,
}

/// Writes the database's past requests and their leads; how many leads. A company that is a
/// lead of the database already is not made one twice (as the worker does).
pub fn found_in_past(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    past: &[PastLeadRequest],
) -> QueryResult<usize> {
    let mut made = 0;
    for request in past {
        let distinct = |f: fn(&Company) -> String| {
            let mut values: Vec<String> = request.companies.iter().map(f).collect();
            values.sort();
            values.dedup();
            values
        };
        let employees = request.companies.iter().map(|c| c.employees);
        let request_id: LeadRequestId = diesel::insert_into(lead_requests::table)
            .values((
                lead_requests::job_id.eq(request.job_id),
                lead_requests::database_id.eq(database_id),
                lead_requests::form_key.eq(new_form_key()),
                lead_requests::lead_count.eq(request.companies.len() as i32),
                lead_requests::countries.eq(distinct(|c| c.country_code.clone())),
                lead_requests::industries.eq(distinct(|c| c.industry.clone())),
                lead_requests::min_employees.eq(employees.clone().min().unwrap_or(1).max(1)),
                lead_requests::max_employees.eq(employees.max().unwrap_or(1).max(1)),
                lead_requests::contacts_per_company.eq(0),
                lead_requests::seniorities.eq(Vec::<String>::new()),
                lead_requests::departments.eq(Vec::<String>::new()),
                lead_requests::price_per_company.eq(request.price_per_company),
                lead_requests::price_per_contact.eq(request.price_per_contact),
                lead_requests::status.eq(LeadRequestStatus::Done),
                lead_requests::companies_found.eq(request.companies.len() as i32),
                lead_requests::created_at.eq(request.at),
            ))
            .returning(lead_requests::id)
            .get_result(conn)?;
        let rows: Vec<_> = request
            .companies
            .iter()
            .map(|c| {
                (
                    leads::database_id.eq(database_id),
                    leads::request_id.eq(request_id),
                    leads::directory_company_id.eq(c.id),
                    leads::name.eq(c.full_name()),
                    leads::country_code.eq(&c.country_code),
                    leads::street.eq(&c.street),
                    leads::postal_code.eq(&c.postal_code),
                    leads::city.eq(&c.city),
                    leads::vat.eq(&c.vat),
                    leads::website.eq(c.website()),
                    leads::phone.eq(&c.phone),
                    leads::industry.eq(&c.industry),
                    leads::employees.eq(c.employees),
                    leads::logo_svg.eq(c.logo_svg()),
                    leads::created_at.eq(request.at),
                )
            })
            .collect();
        made += diesel::insert_into(leads::table)
            .values(&rows)
            .on_conflict((leads::database_id, leads::directory_company_id))
            .do_nothing()
            .execute(conn)?;
    }
    Ok(made)
}

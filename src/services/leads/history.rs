//! Lead requests of the past (the first start's history): written as a request the worker
//! finished leaves it — the request done, a lead per company found — for the jobs
//! `metering::history` wrote.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::generation::{LeadRequestStatus, NewLead, NewLeadRequest, new_form_key};
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

/// What a request asked for, as its form would have said: the countries and industries of
/// what it found, sorted and once each.
fn distinct(companies: &[Company], f: fn(&Company) -> &str) -> Vec<String> {
    let mut values: Vec<String> = companies.iter().map(|c| f(c).to_string()).collect();
    values.sort();
    values.dedup();
    values
}

/// Writes the database's past requests and their leads; how many leads. A company that is a
/// lead of the database already is not made one twice (as the worker does).
pub fn found_in_past(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    past: &[PastLeadRequest],
) -> QueryResult<usize> {
    if past.is_empty() {
        return Ok(0);
    }
    let form_keys: Vec<String> = past.iter().map(|_| new_form_key()).collect();
    let countries: Vec<Vec<String>> = past
        .iter()
        .map(|r| distinct(&r.companies, |c| &c.country_code))
        .collect();
    let industries: Vec<Vec<String>> = past
        .iter()
        .map(|r| distinct(&r.companies, |c| &c.industry))
        .collect();
    let rows: Vec<_> = past
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let employees = r.companies.iter().map(|c| c.employees);
            let found = r.companies.len() as i32;
            (
                NewLeadRequest {
                    job_id: r.job_id,
                    database_id,
                    requested_by: None,
                    form_key: &form_keys[i],
                    lead_count: found,
                    countries: &countries[i],
                    industries: &industries[i],
                    min_employees: employees.clone().min().unwrap_or(1).max(1),
                    max_employees: employees.max().unwrap_or(1).max(1),
                    contacts_per_company: 0,
                    seniorities: &[],
                    departments: &[],
                    price_per_company: r.price_per_company,
                    price_per_contact: r.price_per_contact,
                },
                lead_requests::status.eq(LeadRequestStatus::Done),
                lead_requests::companies_found.eq(found),
                lead_requests::created_at.eq(r.at),
            )
        })
        .collect();
    let mut ids: Vec<LeadRequestId> = diesel::insert_into(lead_requests::table)
        .values(rows)
        .returning(lead_requests::id)
        .get_results(conn)?;
    // Ids follow the order of the rows given.
    ids.sort_unstable();
    let leads: Vec<_> = past
        .iter()
        .zip(ids)
        .flat_map(|(r, request_id)| {
            r.companies.iter().map(move |c| {
                (
                    NewLead::of(database_id, request_id, c),
                    leads::created_at.eq(r.at),
                )
            })
        })
        .collect();
    diesel::insert_into(leads::table)
        .values(leads)
        .on_conflict((leads::database_id, leads::directory_company_id))
        .do_nothing()
        .execute(conn)
}

//! The Leads app, a small CRM: the companies a database pursues, with their contacts and a
//! chatter. Leads come from Lead Generation (`generation`), which buys them from the company
//! directory; Odoo databases also buy companies one by one (`lookups`). Owner of `leads`,
//! `lead_contacts`, `lead_events` and `lead_requests`.

pub mod generation;
pub mod history;
pub mod lookups;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::kernel::ids::{CompanyId, DatabaseId, LeadId, LeadRequestId, UserId};
use crate::kernel::pagination::Keyset;
use crate::platform::schema::{lead_contacts, lead_events, leads};

/// Leads per page of the list.
pub const PAGE_SIZE: Keyset = Keyset(50);

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = leads, check_for_backend(diesel::pg::Pg))]
pub struct Lead {
    pub id: LeadId,
    pub database_id: DatabaseId,
    pub request_id: Option<LeadRequestId>,
    pub directory_company_id: Option<CompanyId>,
    pub name: String,
    pub country_code: Option<String>,
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub vat: Option<String>,
    pub website: Option<String>,
    pub phone: Option<String>,
    pub industry: Option<String>,
    pub employees: Option<i32>,
    pub logo_svg: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = lead_contacts, check_for_backend(diesel::pg::Pg))]
pub struct LeadContact {
    pub id: i64,
    pub lead_id: LeadId,
    pub name: String,
    pub job_title: Option<String>,
    pub seniority: Option<String>,
    pub department: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = lead_events, check_for_backend(diesel::pg::Pg))]
pub struct LeadEvent {
    pub id: i64,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A page of the database's leads in name order, those matching `search` (name, city, website
/// or VAT number) when it is not empty, starting after the key `after`.
pub fn list(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    search: &str,
    after: Option<(String, LeadId)>,
) -> QueryResult<Vec<Lead>> {
    let mut query = leads::table
        .filter(leads::database_id.eq(database_id))
        .order((leads::name, leads::id))
        .limit(PAGE_SIZE.fetch())
        .select(Lead::as_select())
        .into_boxed();
    let search = search.trim();
    if !search.is_empty() {
        let pattern = format!("%{}%", crate::platform::db::escape_like(search));
        query = query.filter(
            leads::name
                .ilike(pattern.clone())
                .or(leads::city.ilike(pattern.clone()))
                .or(leads::website.ilike(pattern.clone()))
                .or(leads::vat.ilike(pattern)),
        );
    }
    if let Some((name, id)) = after {
        query = query.filter(
            leads::name
                .gt(name.clone())
                .or(leads::name.eq(name).and(leads::id.gt(id))),
        );
    }
    query.load(conn)
}

/// The database's lead `lead_id`: `None` for another database's.
pub fn find(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    lead_id: LeadId,
) -> QueryResult<Option<Lead>> {
    leads::table
        .filter(leads::database_id.eq(database_id))
        .filter(leads::id.eq(lead_id))
        .select(Lead::as_select())
        .first(conn)
        .optional()
}

pub fn contacts_of(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    lead_id: LeadId,
) -> QueryResult<Vec<LeadContact>> {
    lead_contacts::table
        .filter(lead_contacts::database_id.eq(database_id))
        .filter(lead_contacts::lead_id.eq(lead_id))
        .order(lead_contacts::id)
        .select(LeadContact::as_select())
        .load(conn)
}

/// The contacts of several leads in one query, by lead then id.
pub fn contacts_of_leads(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    lead_ids: &[LeadId],
) -> QueryResult<Vec<LeadContact>> {
    lead_contacts::table
        .filter(lead_contacts::database_id.eq(database_id))
        .filter(lead_contacts::lead_id.eq_any(lead_ids))
        .order((lead_contacts::lead_id, lead_contacts::id))
        .select(LeadContact::as_select())
        .load(conn)
}

/// The lead's chatter, newest first.
pub fn events_of(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    lead_id: LeadId,
) -> QueryResult<Vec<LeadEvent>> {
    lead_events::table
        .filter(lead_events::database_id.eq(database_id))
        .filter(lead_events::lead_id.eq(lead_id))
        .order(lead_events::id.desc())
        .limit(100)
        .select(LeadEvent::as_select())
        .load(conn)
}

/// The leads a request made, in name order.
pub fn made_by(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    request_id: LeadRequestId,
) -> QueryResult<Vec<Lead>> {
    leads::table
        .filter(leads::database_id.eq(database_id))
        .filter(leads::request_id.eq(request_id))
        .order((leads::name, leads::id))
        .select(Lead::as_select())
        .load(conn)
}

/// How many contacts each of `lead_ids` has (one query for a whole page).
pub fn contact_counts(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    lead_ids: &[LeadId],
) -> QueryResult<std::collections::HashMap<LeadId, i64>> {
    let counts: Vec<(LeadId, i64)> = lead_contacts::table
        .filter(lead_contacts::database_id.eq(database_id))
        .filter(lead_contacts::lead_id.eq_any(lead_ids))
        .group_by(lead_contacts::lead_id)
        .select((lead_contacts::lead_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(counts.into_iter().collect())
}

/// The directory companies that are leads of the database already.
pub fn directory_companies_of(
    conn: &mut PgConnection,
    database_id: DatabaseId,
) -> QueryResult<Vec<CompanyId>> {
    leads::table
        .filter(leads::database_id.eq(database_id))
        .filter(leads::directory_company_id.is_not_null())
        .select(leads::directory_company_id.assume_not_null())
        .load(conn)
}

/// Writes a note in the chatter of several leads at once.
fn add_events(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    user_id: Option<UserId>,
    notes: &[(LeadId, String)],
) -> QueryResult<usize> {
    let rows: Vec<_> = notes
        .iter()
        .map(|(lead_id, body)| {
            (
                lead_events::database_id.eq(database_id),
                lead_events::lead_id.eq(*lead_id),
                lead_events::created_by.eq(user_id),
                lead_events::body.eq(body.as_str()),
            )
        })
        .collect();
    diesel::insert_into(lead_events::table)
        .values(&rows)
        .execute(conn)
}

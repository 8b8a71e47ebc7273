//! The company directory behind Partner Autocomplete and Lead Generation. A real deployment
//! would buy it from a data provider; the default provider here is simulated, faithfully: a
//! directory of `generate::COMPANIES` companies in 20 countries, generated the same on every
//! machine, kept in its own tables and searched as a provider's API would be (by name with
//! trigram similarity, exactly by VAT number or domain). Owner of `directory_companies` and
//! `directory_people`.

pub mod data;
pub mod generate;
pub mod ip_ranges;
pub mod provider;
pub mod vat;

use std::collections::HashSet;

use diesel::prelude::*;

use crate::kernel::ids::CompanyId;
use crate::platform::schema::{directory_companies, directory_people};

/// A company as the directory knows it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = directory_companies, check_for_backend(diesel::pg::Pg))]
pub struct Company {
    pub id: CompanyId,
    pub name: String,
    pub legal_form: String,
    pub country_code: String,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub vat: Option<String>,
    pub domain: String,
    pub phone: String,
    pub industry: String,
    pub employees: i32,
    pub founded: i32,
}

impl Company {
    /// The name with its legal form, as on its letterhead.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.name, self.legal_form)
    }

    pub fn website(&self) -> String {
        format!("https://www.{}", self.domain)
    }

    pub fn logo_svg(&self) -> String {
        generate::logo_svg(&self.name, self.id.0)
    }
}

/// An industry's NACE section as people read it: "Manufacturing (NACE C)".
pub fn industry_label(code: &str) -> String {
    data::INDUSTRIES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(
            || code.to_string(),
            |(c, name)| format!("{name} (NACE {c})"),
        )
}

/// One of a company's people.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = directory_people, check_for_backend(diesel::pg::Pg))]
pub struct Person {
    pub id: i64,
    pub company_id: CompanyId,
    pub name: String,
    pub job_title: String,
    pub seniority: String,
    pub department: String,
    pub email: String,
}

/// The most a search answers.
pub const MAX_RESULTS: i64 = 10;
/// Rows per INSERT while seeding.
const SEED_BATCH: usize = 1_000;

/// Fills an empty directory with the first `count` generated companies and their people
/// (domains and VAT numbers made unique in generation order). Returns how many companies were
/// added: 0 when the directory already holds companies. One transaction: all or nothing.
pub fn seed(conn: &mut PgConnection, count: u64) -> QueryResult<u64> {
    conn.transaction(|conn| {
        // Two processes starting at once: the second waits here, then finds it seeded.
        diesel::sql_query("LOCK TABLE directory_companies IN EXCLUSIVE MODE").execute(conn)?;
        let existing: i64 = directory_companies::table.count().get_result(conn)?;
        if existing > 0 {
            return Ok(0);
        }
        let (mut domains, mut vats) = (HashSet::new(), HashSet::new());
        let mut companies = Vec::with_capacity(SEED_BATCH);
        let mut people = Vec::new();
        for n in 0..count {
            let mut c = generate::company(n);
            let base = c.domain.clone();
            let mut k = 2;
            while !domains.insert(c.domain.clone()) {
                let (stem, tld) = base.split_once('.').unwrap_or((&base, "com"));
                c.domain = format!("{stem}{k}.{tld}");
                k += 1;
            }
            let vat = c.vat.take().filter(|v| vats.insert(v.clone()));
            let id = n as i64 + 1;
            for p in &c.people {
                people.push((
                    directory_people::company_id.eq(id),
                    directory_people::name.eq(p.name.clone()),
                    directory_people::job_title.eq(p.job_title.clone()),
                    directory_people::seniority.eq(p.seniority.clone()),
                    directory_people::department.eq(p.department.clone()),
                    directory_people::email.eq(format!("{}@{}", p.email_local, c.domain)),
                ));
            }
            companies.push((
                directory_companies::id.eq(id),
                directory_companies::name.eq(c.name),
                directory_companies::legal_form.eq(c.legal_form),
                directory_companies::country_code.eq(c.country_code),
                directory_companies::street.eq(c.street),
                directory_companies::postal_code.eq(c.postal_code),
                directory_companies::city.eq(c.city),
                directory_companies::vat.eq(vat),
                directory_companies::domain.eq(c.domain),
                directory_companies::phone.eq(c.phone),
                directory_companies::industry.eq(c.industry),
                directory_companies::employees.eq(c.employees),
                directory_companies::founded.eq(c.founded),
            ));
            if companies.len() == SEED_BATCH {
                flush(conn, &mut companies, &mut people)?;
            }
        }
        flush(conn, &mut companies, &mut people)?;
        Ok(count)
    })
}

type CompanyRow = (
    diesel::dsl::Eq<directory_companies::id, i64>,
    diesel::dsl::Eq<directory_companies::name, String>,
    diesel::dsl::Eq<directory_companies::legal_form, String>,
    diesel::dsl::Eq<directory_companies::country_code, String>,
    diesel::dsl::Eq<directory_companies::street, String>,
    diesel::dsl::Eq<directory_companies::postal_code, String>,
    diesel::dsl::Eq<directory_companies::city, String>,
    diesel::dsl::Eq<directory_companies::vat, Option<String>>,
    diesel::dsl::Eq<directory_companies::domain, String>,
    diesel::dsl::Eq<directory_companies::phone, String>,
    diesel::dsl::Eq<directory_companies::industry, String>,
    diesel::dsl::Eq<directory_companies::employees, i32>,
    diesel::dsl::Eq<directory_companies::founded, i32>,
);

type PersonRow = (
    diesel::dsl::Eq<directory_people::company_id, i64>,
    diesel::dsl::Eq<directory_people::name, String>,
    diesel::dsl::Eq<directory_people::job_title, String>,
    diesel::dsl::Eq<directory_people::seniority, String>,
    diesel::dsl::Eq<directory_people::department, String>,
    diesel::dsl::Eq<directory_people::email, String>,
);

fn flush(
    conn: &mut PgConnection,
    companies: &mut Vec<CompanyRow>,
    people: &mut Vec<PersonRow>,
) -> QueryResult<()> {
    if !companies.is_empty() {
        diesel::insert_into(directory_companies::table)
            .values(&*companies)
            .execute(conn)?;
        companies.clear();
    }
    for chunk in people.chunks(SEED_BATCH) {
        diesel::insert_into(directory_people::table)
            .values(chunk)
            .execute(conn)?;
    }
    people.clear();
    Ok(())
}

/// Companies matching what a user typed: an exact VAT number or domain first, else names by
/// trigram similarity (best first). Fewer than 3 characters find nothing.
pub fn search(conn: &mut PgConnection, query: &str) -> QueryResult<Vec<Company>> {
    let query = query.trim();
    if query.chars().count() < 3 || query.contains('\0') {
        return Ok(Vec::new());
    }
    let compact: String = query
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
        .collect::<String>()
        .to_uppercase();
    let exact: Vec<Company> = directory_companies::table
        .filter(
            directory_companies::vat
                .eq(&compact)
                .or(directory_companies::domain.eq(query.to_lowercase())),
        )
        .select(Company::as_select())
        .limit(MAX_RESULTS)
        .load(conn)?;
    if !exact.is_empty() {
        return Ok(exact);
    }
    // Names that start with what was typed (a B-tree range), then the nearest names by trigram
    // distance (a GiST nearest-neighbour scan) to fill the list: both stay fast on the whole
    // directory, where ranking every partial match by similarity would not.
    use diesel::sql_types::{Bool, Float, Text};
    let lowered = query.to_lowercase();
    let pattern = format!("{}%", crate::platform::db::escape_like(&lowered));
    let mut found: Vec<Company> = directory_companies::table
        .filter(diesel::dsl::sql::<Bool>("lower(name) LIKE ").bind::<Text, _>(&pattern))
        .order((
            diesel::dsl::sql::<Text>("lower(name)"),
            directory_companies::id,
        ))
        .select(Company::as_select())
        .limit(MAX_RESULTS)
        .load(conn)?;
    let missing = MAX_RESULTS - found.len() as i64;
    if missing > 0 {
        let seen: Vec<CompanyId> = found.iter().map(|c| c.id).collect();
        let nearest: Vec<Company> = directory_companies::table
            .filter(directory_companies::id.ne_all(&seen))
            .filter(diesel::dsl::sql::<Bool>("lower(name) % ").bind::<Text, _>(&lowered))
            .order(diesel::dsl::sql::<Float>("lower(name) <-> ").bind::<Text, _>(&lowered))
            .select(Company::as_select())
            .limit(missing)
            .load(conn)?;
        found.extend(nearest);
    }
    Ok(found)
}

pub fn company(conn: &mut PgConnection, id: CompanyId) -> QueryResult<Option<Company>> {
    directory_companies::table
        .find(id)
        .select(Company::as_select())
        .first(conn)
        .optional()
}

/// The companies of these ids that the directory has, in id order (one query).
pub fn companies(conn: &mut PgConnection, ids: &[CompanyId]) -> QueryResult<Vec<Company>> {
    directory_companies::table
        .filter(directory_companies::id.eq_any(ids))
        .order(directory_companies::id)
        .select(Company::as_select())
        .load(conn)
}

/// The companies whose web domain is one of `domains` (lower case), in id order (one query).
pub fn companies_by_domain(
    conn: &mut PgConnection,
    domains: &[String],
) -> QueryResult<Vec<Company>> {
    directory_companies::table
        .filter(directory_companies::domain.eq_any(domains))
        .order(directory_companies::id)
        .select(Company::as_select())
        .load(conn)
}

/// The people of these companies, by company then in directory order (one query).
pub fn people_of(conn: &mut PgConnection, company_ids: &[CompanyId]) -> QueryResult<Vec<Person>> {
    directory_people::table
        .filter(directory_people::company_id.eq_any(company_ids))
        .order((directory_people::company_id, directory_people::id))
        .select(Person::as_select())
        .load(conn)
}

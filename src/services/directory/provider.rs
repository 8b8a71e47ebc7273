//! The directory as a provider: what Partner Autocomplete and Lead Generation ask of it, behind
//! a trait so that a real data provider's API can replace the simulated one. The simulated
//! provider answers from the generated directory through its own connections, as a remote
//! provider would answer from its own servers: nothing it does is part of the caller's
//! transaction.

use std::collections::HashMap;
use std::net::IpAddr;

use diesel::prelude::*;

use super::{Company, Person};
use crate::kernel::ids::CompanyId;
use crate::platform::db::DbPool;
use crate::platform::schema::directory_companies;

#[derive(Debug, thiserror::Error)]
#[error("the company directory is unavailable: {0}")]
pub struct DirectoryError(pub String);

impl From<diesel::result::Error> for DirectoryError {
    fn from(e: diesel::result::Error) -> Self {
        DirectoryError(e.to_string())
    }
}

impl From<diesel::r2d2::PoolError> for DirectoryError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        DirectoryError(e.to_string())
    }
}

/// What Lead Generation asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MiningCriteria {
    /// How many companies, at most.
    pub companies: i64,
    /// ISO country codes; empty means any.
    pub countries: Vec<String>,
    /// NACE sections; empty means any.
    pub industries: Vec<String>,
    pub min_employees: i32,
    pub max_employees: i32,
    /// People per company, at most (0 to 5).
    pub contacts_per_company: i64,
    /// Empty means any.
    pub seniorities: Vec<String>,
    /// Empty means any.
    pub departments: Vec<String>,
    /// Directory ids of companies the asker has already: never returned.
    pub exclude: Vec<CompanyId>,
}

/// A company found for Lead Generation, with the people that match.
#[derive(Debug, Clone, PartialEq)]
pub struct MinedCompany {
    pub company: Company,
    pub people: Vec<Person>,
}

pub trait CompanyDirectory: Send + Sync {
    /// Companies matching what a user typed (free: suggestions).
    fn search(&self, query: &str) -> Result<Vec<Company>, DirectoryError>;
    /// Everything the directory knows of one company (what an enrichment buys).
    fn enrich(&self, company_id: CompanyId) -> Result<Option<Company>, DirectoryError>;
    /// Companies (and their people) matching the criteria, maybe fewer than asked.
    fn mine(&self, criteria: &MiningCriteria) -> Result<Vec<MinedCompany>, DirectoryError>;
    /// The company each visitor's address belongs to, if the directory knows one, in the order
    /// asked (Visitor Reveal). One round trip for the whole batch.
    fn companies_at(&self, ips: &[IpAddr]) -> Result<Vec<Option<Company>>, DirectoryError>;
    /// The companies whose web domain is one of these (lower case), one round trip (Lead
    /// Enrichment).
    fn companies_by_domain(&self, domains: &[String]) -> Result<Vec<Company>, DirectoryError>;
    /// These companies' people, by company then in directory order, one round trip.
    fn people_of(&self, company_ids: &[CompanyId]) -> Result<Vec<Person>, DirectoryError>;
}

/// The default provider: the generated directory.
#[derive(Clone)]
pub struct SimulatedDirectory(pub DbPool);

impl CompanyDirectory for SimulatedDirectory {
    fn search(&self, query: &str) -> Result<Vec<Company>, DirectoryError> {
        Ok(super::search(&mut *self.0.get()?, query)?)
    }

    fn enrich(&self, company_id: CompanyId) -> Result<Option<Company>, DirectoryError> {
        Ok(super::company(&mut *self.0.get()?, company_id)?)
    }

    fn mine(&self, criteria: &MiningCriteria) -> Result<Vec<MinedCompany>, DirectoryError> {
        Ok(mine(&mut *self.0.get()?, criteria)?)
    }

    fn companies_at(&self, ips: &[IpAddr]) -> Result<Vec<Option<Company>>, DirectoryError> {
        // The ranges are computed, not stored: only the owners' rows are read.
        let owners: Vec<Option<CompanyId>> = ips
            .iter()
            .map(|ip| match ip {
                IpAddr::V4(ip) => super::ip_ranges::company_at(*ip),
                IpAddr::V6(_) => None,
            })
            .collect();
        let ids: Vec<CompanyId> = owners.iter().flatten().copied().collect();
        let known: HashMap<CompanyId, Company> = if ids.is_empty() {
            HashMap::new()
        } else {
            super::companies(&mut *self.0.get()?, &ids)?
                .into_iter()
                .map(|c| (c.id, c))
                .collect()
        };
        Ok(owners
            .into_iter()
            .map(|id| id.and_then(|id| known.get(&id).cloned()))
            .collect())
    }

    fn companies_by_domain(&self, domains: &[String]) -> Result<Vec<Company>, DirectoryError> {
        if domains.is_empty() {
            return Ok(Vec::new());
        }
        Ok(super::companies_by_domain(&mut *self.0.get()?, domains)?)
    }

    fn people_of(&self, company_ids: &[CompanyId]) -> Result<Vec<Person>, DirectoryError> {
        if company_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(super::people_of(&mut *self.0.get()?, company_ids)?)
    }
}

/// Two queries whatever the number of companies: the companies, then their matching people
/// (ranked per company in SQL, so that only the asked number comes back).
pub fn mine(conn: &mut PgConnection, criteria: &MiningCriteria) -> QueryResult<Vec<MinedCompany>> {
    let mut query = directory_companies::table
        .filter(directory_companies::employees.ge(criteria.min_employees))
        .filter(directory_companies::employees.le(criteria.max_employees))
        .filter(directory_companies::id.ne_all(&criteria.exclude))
        .into_boxed();
    if !criteria.countries.is_empty() {
        query = query.filter(directory_companies::country_code.eq_any(&criteria.countries));
    }
    if !criteria.industries.is_empty() {
        query = query.filter(directory_companies::industry.eq_any(&criteria.industries));
    }
    let companies: Vec<Company> = query
        .order(directory_companies::id)
        .limit(criteria.companies.clamp(0, 1_000))
        .select(Company::as_select())
        .load(conn)?;
    if companies.is_empty() || criteria.contacts_per_company <= 0 {
        return Ok(companies
            .into_iter()
            .map(|company| MinedCompany {
                company,
                people: Vec::new(),
            })
            .collect());
    }
    use diesel::sql_types::{Array, BigInt, Text};
    let ids: Vec<CompanyId> = companies.iter().map(|c| c.id).collect();
    let people: Vec<Person> = diesel::sql_query(
        "SELECT id, company_id, name, job_title, seniority, department, email FROM (
             SELECT p.*, row_number() OVER (PARTITION BY company_id ORDER BY id) AS rank
             FROM directory_people p
             WHERE company_id = ANY($1)
               AND (cardinality($2::text[]) = 0 OR seniority = ANY($2))
               AND (cardinality($3::text[]) = 0 OR department = ANY($3))
         ) ranked WHERE rank <= $4 ORDER BY company_id, id",
    )
    .bind::<Array<BigInt>, _>(&ids)
    .bind::<Array<Text>, _>(&criteria.seniorities)
    .bind::<Array<Text>, _>(&criteria.departments)
    .bind::<BigInt, _>(criteria.contacts_per_company)
    .load(conn)?;
    Ok(companies
        .into_iter()
        .map(|company| MinedCompany {
            people: people
                .iter()
                .filter(|p| p.company_id == company.id)
                .cloned()
                .collect(),
            company,
        })
        .collect())
}

/// A provider that is never reachable: what a deployment without a directory contract has, and
/// how tests see the app behave while the provider is down.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnavailableDirectory;

impl CompanyDirectory for UnavailableDirectory {
    fn search(&self, _: &str) -> Result<Vec<Company>, DirectoryError> {
        Err(DirectoryError("no directory is configured".into()))
    }

    fn enrich(&self, _: CompanyId) -> Result<Option<Company>, DirectoryError> {
        Err(DirectoryError("no directory is configured".into()))
    }

    fn mine(&self, _: &MiningCriteria) -> Result<Vec<MinedCompany>, DirectoryError> {
        Err(DirectoryError("no directory is configured".into()))
    }

    fn companies_at(&self, _: &[IpAddr]) -> Result<Vec<Option<Company>>, DirectoryError> {
        Err(DirectoryError("no directory is configured".into()))
    }

    fn companies_by_domain(&self, _: &[String]) -> Result<Vec<Company>, DirectoryError> {
        Err(DirectoryError("no directory is configured".into()))
    }

    fn people_of(&self, _: &[CompanyId]) -> Result<Vec<Person>, DirectoryError> {
        Err(DirectoryError("no directory is configured".into()))
    }
}

//! Odoo's calls to the company directory: `partner_autocomplete` (`/api/dnb/1/search_by_name`,
//! `search_by_vat`, `enrich_by_domain`, `enrich_by_duns`) and `crm_iap_mine`
//! (`/iap/clearbit/1/lead_mining_request`), answered from the same directory and charged on the
//! same metering as the app's own Partner Autocomplete and Lead Generation.
//!
//! Shapes (Odoo 17/18): searches answer `{"data": [company, …]}` and are free; an enrichment
//! answers `{"data": company}` for the price of one enrichment, `{"credit_error": true}` when
//! the credits are short and `{"error": …}` ("no credit was consumed") when the company is
//! unknown. Lead mining answers `{"data": [{"company_data", "people_data"}, …]}`, or Odoo's
//! `InsufficientCreditError` before anything runs. Our directory's companies carry a 9-digit
//! number as their `duns`, and its NACE section letters as `industry_code` (Odoo's own
//! `base.res_partner_industry_<letter>` records).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::Context;
use super::iap::{account_for, credit_url};
use super::params::Params;
use super::rpc::RpcError;
use crate::catalog::{self, Service};
use crate::directory::Company;
use crate::directory::generate::{COUNTRIES, INDUSTRIES};
use crate::directory::provider::CompanyDirectory;
use crate::leads::{self, generation};
use crate::partner_autocomplete::{self, EnrichError, OdooEnriched};
use diesel::PgConnection;

pub(super) const PARTNER_AUTOCOMPLETE: &str = "partner_autocomplete";
pub(super) const LEAD_MINING: &str = "reveal";

pub(super) fn service(conn: &mut PgConnection, odoo_name: &str) -> Result<Service, RpcError> {
    catalog::service_by_odoo_name(conn, odoo_name)?
        .ok_or_else(|| RpcError::User(format!("{odoo_name} is not sold on this server")))
}

/// The database's account of the service the call is for (registered on first use).
pub(super) fn account(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Params,
    dbuuid_param: &str,
    service: &Service,
) -> Result<crate::ledger::IapAccount, RpcError> {
    let token = params.token("account_token")?;
    let dbuuid = params.dbuuid(dbuuid_param)?;
    account_for(
        conn,
        &ctx.client_address,
        dbuuid.as_ref(),
        token,
        Some(service),
    )?
    .ok_or_else(|| RpcError::Access("unknown account token: send the database's uuid".into()))
}

fn duns(company: &Company) -> String {
    format!("{:09}", company.id)
}

pub(super) fn country_name(code: &str) -> Option<&'static str> {
    COUNTRIES.iter().find(|c| c.code == code).map(|c| c.name)
}

/// A suggestion: what anyone may see of a company (free).
fn suggestion_json(company: &Company) -> Value {
    json!({
        "name": company.full_name(),
        "duns": duns(company),
        "vat": company.vat,
        "city": company.city,
        "country_code": company.country_code,
        "country_name": country_name(&company.country_code),
        "website": company.website(),
        "domain": company.domain,
    })
}

/// Everything an enrichment buys, in the fields Odoo fills a partner with.
fn company_json(company: &Company) -> Value {
    json!({
        "name": company.full_name(),
        "duns": duns(company),
        "vat": company.vat,
        "street": company.street,
        "street2": Value::Null,
        "city": company.city,
        "zip": company.postal_code,
        "country_code": company.country_code,
        "country_name": country_name(&company.country_code),
        "state_code": Value::Null,
        "phone": company.phone,
        "email": Value::Null,
        "website": company.website(),
        "domain": company.domain,
        "industry_code": company.industry,
        "employee_count": company.employees,
        "founded_year": company.founded,
    })
}

/// The directory is asked holding no transaction; a failure is our provider's, said plainly.
pub(super) fn search(
    directory: &Arc<dyn CompanyDirectory>,
    query: &str,
) -> Result<Vec<Company>, RpcError> {
    directory.search(query).map_err(|e| {
        tracing::warn!("company directory search failed: {e}");
        RpcError::User("the company directory is unavailable; try again later".into())
    })
}

/// Suggestions, those of `query_country_code` first (Odoo sends its company's country).
fn suggestions(params: &Params, found: Vec<Company>) -> Result<Value, RpcError> {
    let country = params.optional_string("query_country_code")?.unwrap_or("");
    let (mut first, rest): (Vec<Company>, Vec<Company>) = found
        .into_iter()
        .partition(|c| c.country_code.eq_ignore_ascii_case(country));
    first.extend(rest);
    Ok(json!({ "data": first.iter().map(suggestion_json).collect::<Vec<_>>() }))
}

pub(super) fn query<'a>(params: &'a Params<'_>) -> Result<&'a str, RpcError> {
    let query = params.string("query")?;
    if query.chars().count() > 200 {
        return Err(RpcError::invalid("query", "at most 200 characters"));
    }
    Ok(query)
}

/// `/api/dnb/1/search_by_name`: companies by name (free).
pub fn search_by_name(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let service = service(conn, PARTNER_AUTOCOMPLETE)?;
    account(conn, ctx, &params, "db_uuid", &service)?;
    let found = search(&ctx.directory, query(&params)?)?;
    suggestions(&params, found)
}

/// `/api/dnb/1/search_by_vat`: the company with this VAT number (free).
pub fn search_by_vat(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let service = service(conn, PARTNER_AUTOCOMPLETE)?;
    account(conn, ctx, &params, "db_uuid", &service)?;
    let vat = query(&params)?;
    let compact: String = vat
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_uppercase();
    let found = search(&ctx.directory, &compact)?
        .into_iter()
        .filter(|c| c.vat.as_deref() == Some(compact.as_str()))
        .collect();
    suggestions(&params, found)
}

/// Charges one enrichment with `company` (already fetched) and answers it, or says why not.
fn enrich(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Params,
    company: Option<Company>,
) -> Result<Value, RpcError> {
    let service = service(conn, PARTNER_AUTOCOMPLETE)?;
    let account = account(conn, ctx, params, "db_uuid", &service)?;
    let Some(company) = company else {
        return Ok(
            json!({ "error": "No company found in the directory; no credit was consumed." }),
        );
    };
    match partner_autocomplete::enrich_for_odoo(conn, &ctx.directory, &account, &company) {
        Ok(OdooEnriched::Charged(_) | OdooEnriched::AgainFree) => {
            Ok(json!({ "data": company_json(&company) }))
        }
        Ok(OdooEnriched::InsufficientCredits { .. }) => Ok(json!({ "credit_error": true })),
        Err(EnrichError::Database(e)) => Err(e.into()),
        Err(EnrichError::CompanyNotFound) => Ok(json!({
            "error": "The company could not be enriched; no credit was consumed."
        })),
        Err(e) => {
            tracing::error!("enrichment for Odoo failed: {e}");
            Err(RpcError::Internal)
        }
    }
}

/// `/api/dnb/1/enrich_by_domain`: everything about the company of a web domain (1 enrichment).
pub fn enrich_by_domain(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let domain = params
        .string("domain")?
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("www.")
        .trim_end_matches('/')
        .to_lowercase();
    if domain.len() < 3 || domain.len() > 253 {
        return Err(RpcError::invalid("domain", "a web domain"));
    }
    let company = search(&ctx.directory, &domain)?
        .into_iter()
        .find(|c| c.domain == domain);
    enrich(conn, ctx, &params, company)
}

/// `/api/dnb/1/enrich_by_duns`: everything about the company of a DUNS number (1 enrichment),
/// what Odoo 18 asks once a suggestion is picked.
pub fn enrich_by_duns(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let id: i64 = params
        .string("duns")?
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| RpcError::invalid("duns", "a DUNS number"))?;
    let company = ctx.directory.enrich(id).map_err(|e| {
        tracing::warn!("company directory enrich failed: {e}");
        RpcError::User("the company directory is unavailable; try again later".into())
    })?;
    enrich(conn, ctx, &params, company)
}

/// Odoo's roles (`crm.iap.lead.role`) as our directory's departments.
fn department_of_role(role: &str) -> Option<&'static str> {
    Some(match role {
        "CEO" | "founder" | "owner" | "president" => "management",
        "sale" => "sales",
        "marketing" | "communications" | "public_relations" => "marketing",
        "finance" => "finance",
        "operations" | "customer_service" => "operations",
        "engineering" | "information_technology" | "product" | "research" => "engineering",
        "human_resources" | "recruiting" => "human_resources",
        _ => return None,
    })
}

fn strings(data: &Map<String, Value>, name: &str) -> Result<Vec<String>, RpcError> {
    match data.get(name) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) if s.len() <= 100 && !s.contains('\0') => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(RpcError::invalid(
                    &format!("data.{name}"),
                    "a list of strings",
                )),
            })
            .collect(),
        Some(_) => Err(RpcError::invalid(&format!("data.{name}"), "a list")),
    }
}

fn whole(data: &Map<String, Value>, name: &str) -> Result<Option<i64>, RpcError> {
    match data.get(name) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
        Some(_) => Err(RpcError::invalid(&format!("data.{name}"), "a whole number")),
    }
}

/// The Odoo request's `data` as a Lead Generation request.
fn mining_request(data: &Map<String, Value>) -> Result<generation::ValidLeadRequest, RpcError> {
    let lead_count = whole(data, "lead_number")?
        .filter(|n| (1..=i64::from(generation::MAX_LEADS)).contains(n))
        .ok_or_else(|| RpcError::invalid("data.lead_number", "a number of leads from 1 to 200"))?
        as i32;
    let people = match data.get("search_type").and_then(Value::as_str) {
        Some("people") => true,
        Some("companies") | None => false,
        Some(_) => {
            return Err(RpcError::invalid(
                "data.search_type",
                "\"companies\" or \"people\"",
            ));
        }
    };
    let contacts = if people {
        // Odoo's form allows at most 5; more is what the directory cannot give anyway.
        whole(data, "contact_number")?
            .unwrap_or(1)
            .clamp(1, i64::from(generation::MAX_CONTACTS)) as i32
    } else {
        0
    };
    let countries: Vec<String> = strings(data, "countries")?
        .into_iter()
        .map(|c| c.to_uppercase())
        .collect();
    let industries = strings(data, "industry_ids")?;
    let unknown: Vec<&String> = industries
        .iter()
        .filter(|i| !INDUSTRIES.iter().any(|(code, _)| code == i))
        .collect();
    if !unknown.is_empty() {
        return Err(RpcError::User(format!(
            "this server filters industries by NACE section letter (A to S); unknown: {}",
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let min = whole(data, "company_size_min")?.unwrap_or(1).max(1);
    let max = whole(data, "company_size_max")?
        .unwrap_or(i64::from(generation::MAX_EMPLOYEES))
        .min(i64::from(generation::MAX_EMPLOYEES));
    if min > max {
        return Err(RpcError::invalid(
            "data.company_size_min",
            "at most company_size_max",
        ));
    }
    let mut departments = Vec::new();
    let mut seniorities = Vec::new();
    if people {
        match data.get("contact_filter_type").and_then(Value::as_str) {
            Some("seniority") => {
                if let Some(s) = data.get("seniority").and_then(Value::as_str) {
                    seniorities.push(s.to_string());
                }
            }
            _ => {
                let mut roles: Vec<String> = data
                    .get("preferred_role")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .into_iter()
                    .collect();
                roles.extend(strings(data, "other_roles")?);
                for role in roles {
                    if let Some(d) = department_of_role(&role)
                        && !departments.iter().any(|x: &String| x == d)
                    {
                        departments.push(d.to_string());
                    }
                }
            }
        }
    }
    Ok(generation::ValidLeadRequest {
        form_key: generation::new_form_key(),
        lead_count,
        countries,
        industries,
        min_employees: min as i32,
        max_employees: max as i32,
        contacts_per_company: contacts,
        seniorities,
        departments,
    })
}

/// A lead as crm_iap_mine reads it (`company_data`, `people_data`).
fn lead_json(lead: &leads::Lead, people: &[leads::LeadContact]) -> Value {
    let domain = lead
        .website
        .as_deref()
        .map(|w| w.trim_start_matches("https://www.").to_string());
    let phone = lead.phone.clone();
    json!({
        "company_data": {
            "clearbit_id": lead.directory_company_id.map(|id| format!("{id:09}")),
            "name": lead.name,
            "legal_name": lead.name,
            "domain": domain,
            "email": [],
            "phone": phone,
            "phone_numbers": phone.iter().collect::<Vec<_>>(),
            "location": lead.street,
            "city": lead.city,
            "postal_code": lead.postal_code,
            "country_code": lead.country_code,
            "state_code": Value::Null,
            "employees": lead.employees,
            "industry": lead.industry.as_deref().map(crate::directory::industry_label),
            "description": Value::Null,
            "logo": Value::Null,
            "twitter": Value::Null,
            "facebook": Value::Null,
            "linkedin": Value::Null,
            "crunchbase": Value::Null,
            "company_type": Value::Null,
            "founded_year": Value::Null,
            "sector_primary": Value::Null,
            "industry_group": Value::Null,
            "sub_industry": Value::Null,
            "estimated_annual_revenue": Value::Null,
            "timezone": Value::Null,
            "tech": [],
            "twitter_bio": Value::Null,
            "twitter_followers": Value::Null,
        },
        "people_data": people.iter().map(|p| json!({
            "full_name": p.name,
            "email": p.email,
            "title": p.job_title,
            "seniority": p.seniority,
            "role": p.department,
        })).collect::<Vec<_>>(),
    })
}

/// `/iap/clearbit/1/lead_mining_request`: companies (and contacts) matching `data`, made leads
/// of the database and charged as found; too few credits for the maximum refuse it whole.
pub fn lead_mining_request(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let service = service(conn, LEAD_MINING)?;
    let account = account(conn, ctx, &params, "dbuuid", &service)?;
    let data = match params.0.get("data") {
        Some(Value::Object(data)) => data,
        None | Some(Value::Null) => return Err(RpcError::missing("data")),
        Some(_) => return Err(RpcError::invalid("data", "an object")),
    };
    let request = mining_request(data)?;
    let database_id = account.database_id;
    let request_id =
        match generation::generate_for(conn, &ctx.directory, database_id, None, &request) {
            Ok(id) => id,
            Err(generation::GenerateError::InsufficientCredits {
                available, needed, ..
            }) => {
                return Err(RpcError::InsufficientCredit {
                    credit: crate::credits::Credits::from_units(needed.units() - available.units()),
                    service_name: LEAD_MINING.into(),
                    base_url: credit_url(&ctx.base_url),
                });
            }
            Err(generation::GenerateError::Database(e)) => return Err(e.into()),
            Err(e) => {
                tracing::error!("lead mining for Odoo failed: {e}");
                return Err(RpcError::Internal);
            }
        };
    if generation::give_up_if_pending(conn, &ctx.directory, request_id).map_err(|e| {
        tracing::error!("could not give up a lead mining request: {e}");
        RpcError::Internal
    })? {
        return Err(RpcError::User(
            "the company directory did not answer; no credit was consumed, try again later".into(),
        ));
    }
    let made = leads::made_by(conn, database_id, request_id)?;
    let ids: Vec<_> = made.iter().map(|l| l.id).collect();
    let people = leads::contacts_of_leads(conn, database_id, &ids)?;
    let answer: Vec<Value> = made
        .iter()
        .map(|lead| {
            let theirs: Vec<leads::LeadContact> = people
                .iter()
                .filter(|p| p.lead_id == lead.id)
                .cloned()
                .collect();
            lead_json(lead, &theirs)
        })
        .collect();
    Ok(json!({ "data": answer }))
}

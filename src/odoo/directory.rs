//! Odoo's calls to the company directory as newer Odoo versions make them: Partner
//! Autocomplete's `/api/dnb/1/search_by_name`, `search_by_vat`, `enrich_by_domain` and
//! `enrich_by_duns`, answered from the same directory and charged on the same metering as the
//! app's own Partner Autocomplete (Odoo 18's own module is `partner_autocomplete`, the lead
//! modules `clearbit`). The helpers both share live here.
//!
//! Shapes: searches answer `{"data": [company, …]}` and are free; an enrichment answers
//! `{"data": company}` for the price of one enrichment (the same company again for nothing),
//! `{"credit_error": true}` when the credits are short and `{"error": …}` ("no credit was
//! consumed") when the company is unknown. Our directory's companies carry a 9-digit number as
//! their `duns`, and its NACE section letters as `industry_code` (Odoo's own
//! `base.res_partner_industry_<letter>` records).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::Context;
use super::iap::account_for;
use super::params::Params;
use super::rpc::RpcError;
use crate::domain::catalog::{self, Service};
use crate::kernel::ids::CompanyId;
use crate::services::directory::Company;
use crate::services::directory::data::COUNTRIES;
use crate::services::directory::provider::CompanyDirectory;
use crate::services::partner_autocomplete::{self, EnrichError, OdooEnriched};
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
) -> Result<crate::domain::ledger::IapAccount, RpcError> {
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
        Err(e) => Err(RpcError::fault(&format!("enrichment for Odoo failed: {e}"))),
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
    let company = ctx.directory.enrich(CompanyId(id)).map_err(|e| {
        tracing::warn!("company directory enrich failed: {e}");
        RpcError::User("the company directory is unavailable; try again later".into())
    })?;
    enrich(conn, ctx, &params, company)
}

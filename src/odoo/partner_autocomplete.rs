//! Odoo 18's own `partner_autocomplete` module, as `iap_autocomplete_api.py` calls it:
//! `<iap.partner_autocomplete.endpoint>/iap/partner_autocomplete/<action>` with `db_uuid`
//! (spelled so), `account_token`, and the Odoo company's `country_code` and `zip`.
//!
//! - `search {query}` → a list of suggestions (free);
//! - `search_vat {vat}` → one company, or `false` (free; Odoo then asks VIES itself);
//! - `enrich {domain, partner_gid, vat}` → `{"company_data": …}` for the catalog's price of an
//!   enrichment, the same company again for nothing, `{"credit_error": true}` when short;
//! - `update {partner_gid, vat}` → the nightly sync of the partners Odoo keeps (free).
//!
//! Every company carries `partner_gid`: the directory company's id, an integer as Odoo's field
//! is. The form widget hands what it gets to the partner form, which refuses a key that is not
//! one of its fields: the answers hold only the partner's fields, the keys the widget or
//! `_format_data_company` removes (`country_code`, `legal_name`, `logo`, …) and empty lists for
//! `child_ids` and `bank_ids`. No logo is given (`logo: false`): the directory's logos are SVG,
//! which Odoo's image fields do not take.

use serde_json::{Map, Value, json};

use super::Context;
use super::directory::{PARTNER_AUTOCOMPLETE, account, country_name, query, search, service};
use super::params::Params;
use super::rpc::RpcError;
use crate::kernel::ids::CompanyId;
use crate::services::directory::Company;
use crate::services::directory::data::INDUSTRIES;
use crate::services::partner_autocomplete::{self, EnrichError, OdooEnriched};
use diesel::PgConnection;

/// The database's Partner Autocomplete account (registered on first use).
fn autocomplete_account(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Params,
) -> Result<crate::domain::ledger::IapAccount, RpcError> {
    let service = service(conn, PARTNER_AUTOCOMPLETE)?;
    account(conn, ctx, params, "db_uuid", &service)
}

/// A suggestion: what anyone may see of a company (free).
fn suggestion(company: &Company) -> Value {
    json!({
        "name": company.full_name(),
        "legal_name": company.full_name(),
        "partner_gid": company.id,
        "website": company.domain,
        "vat": company.vat.clone().map_or(Value::Bool(false), Value::String),
        "city": company.city,
        "country_code": company.country_code,
        "country_name": country_name(&company.country_code),
        "state_code": false,
        "logo": false,
    })
}

/// Everything an enrichment buys, in the fields Odoo fills a partner with.
fn company_data(company: &Company) -> Value {
    let industry = INDUSTRIES
        .iter()
        .find(|(code, _)| *code == company.industry)
        .map(|(_, name)| *name);
    json!({
        "name": company.full_name(),
        "legal_name": company.full_name(),
        "partner_gid": company.id,
        "street": company.street,
        "street2": false,
        "city": company.city,
        "zip": company.postal_code,
        "country_code": company.country_code,
        "country_name": country_name(&company.country_code),
        "state_code": false,
        "state_name": false,
        "phone": company.phone,
        "email": false,
        "website": company.website(),
        "domain": company.domain,
        "vat": company.vat.clone().map_or(Value::Bool(false), Value::String),
        "logo": false,
        "child_ids": [],
        "bank_ids": [],
        // Shown in the partner's chatter by Odoo's `iap_mail.enrich_company` template.
        "additional_info": {
            "name": company.full_name(),
            "description": format!(
                "{} company in {}, founded in {}.",
                industry.unwrap_or("A"),
                company.city,
                company.founded
            ),
            "employees": company.employees,
            "founded_year": company.founded,
            "industry": industry,
            "sector_primary": industry,
            "industry_group": false,
            "sub_industry": false,
            "company_type": "private",
            "phone_numbers": [company.phone],
            "email": [],
            "timezone": false,
            "tech": [],
            "twitter": false,
            "facebook": false,
            "linkedin": false,
            "crunchbase": false,
            "twitter_bio": false,
            "twitter_followers": false,
            "estimated_annual_revenue": false,
            "logo": false,
        },
    })
}

/// Suggestions of the caller's company's country (`country_code`) first.
fn in_caller_country_first(params: &Params, found: Vec<Company>) -> Result<Vec<Company>, RpcError> {
    let country = params.optional_string("country_code")?.unwrap_or("");
    let (mut first, rest): (Vec<Company>, Vec<Company>) = found
        .into_iter()
        .partition(|c| c.country_code.eq_ignore_ascii_case(country));
    first.extend(rest);
    Ok(first)
}

/// `search {query}`: companies by name, domain or VAT number (free).
pub fn search_companies(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    autocomplete_account(conn, ctx, &params)?;
    let found = search(&ctx.directory, query(&params)?)?;
    let ordered = in_caller_country_first(&params, found)?;
    Ok(Value::Array(ordered.iter().map(suggestion).collect()))
}

/// A VAT number as the directory keeps it: letters and digits, upper case.
fn compact_vat(vat: &str) -> String {
    vat.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_uppercase()
}

/// The company with this VAT number, if the directory has one.
fn by_vat(ctx: &Context, vat: &str) -> Result<Option<Company>, RpcError> {
    let compact = compact_vat(vat);
    if compact.len() < 4 {
        return Ok(None);
    }
    Ok(search(&ctx.directory, &compact)?
        .into_iter()
        .find(|c| c.vat.as_deref() == Some(compact.as_str())))
}

fn vat_param<'a>(params: &'a Params) -> Result<Option<&'a str>, RpcError> {
    // Odoo sends `false` for a partner without one.
    if params.0.get("vat") == Some(&Value::Bool(false)) {
        return Ok(None);
    }
    let vat = params.optional_string("vat")?;
    if vat.is_some_and(|v| v.chars().count() > 64) {
        return Err(RpcError::invalid("vat", "a VAT number"));
    }
    Ok(vat.filter(|v| !v.trim().is_empty()))
}

/// `search_vat {vat}`: the company with this VAT number, or `false` (free).
pub fn search_vat(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    autocomplete_account(conn, ctx, &params)?;
    let vat = vat_param(&params)?.ok_or_else(|| RpcError::missing("vat"))?;
    Ok(by_vat(ctx, vat)?
        .as_ref()
        .map_or(Value::Bool(false), suggestion))
}

/// `partner_gid` as Odoo sends it: an integer, `false` or absent (a number in a string is taken
/// too, as Odoo's own test data has it).
fn partner_gid(params: &Params) -> Result<Option<CompanyId>, RpcError> {
    let invalid = || RpcError::invalid("partner_gid", "a company id (a whole number) or false");
    match params.0.get("partner_gid") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|n| *n > 0)
            .map(|n| Some(CompanyId(n)))
            .ok_or_else(invalid),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| Some(CompanyId(n)))
            .ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

/// The web domain of what Odoo sends as `domain`: a bare domain or a whole website URL
/// (`https://www.example.com/about` → `example.com`).
pub fn domain_of(text: &str) -> Option<String> {
    let text = text.trim().to_lowercase();
    let text = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(&text);
    let host = text.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = host.split(':').next().unwrap_or(host);
    let host = host.strip_prefix("www.").unwrap_or(host);
    let valid = (3..=253).contains(&host.len())
        && host.contains('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    valid.then(|| host.to_string())
}

/// The company an enrichment names: by `partner_gid` (a suggestion's), else by domain, else by
/// VAT number.
fn company_to_enrich(ctx: &Context, params: &Params) -> Result<Option<Company>, RpcError> {
    let unavailable = |e: crate::services::directory::provider::DirectoryError| {
        tracing::warn!("company directory enrich failed: {e}");
        RpcError::User("the company directory is unavailable; try again later".into())
    };
    if let Some(gid) = partner_gid(params)? {
        return ctx.directory.enrich(gid).map_err(unavailable);
    }
    let domain = match params.0.get("domain") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::String(s)) if s.chars().count() <= 2048 && !s.contains('\0') => domain_of(s),
        Some(_) => return Err(RpcError::invalid("domain", "a web domain or website")),
    };
    if let Some(domain) = domain {
        let found = search(&ctx.directory, &domain)?
            .into_iter()
            .find(|c| c.domain == domain);
        if found.is_some() {
            return Ok(found);
        }
    }
    match vat_param(params)? {
        Some(vat) => by_vat(ctx, vat),
        None => Ok(None),
    }
}

/// `enrich {domain, partner_gid, vat}`: the whole company for one enrichment's price; the same
/// company again for nothing; `{"credit_error": true}` when the credits are short; a company
/// the directory does not have, `{"company_data": false}` and nothing charged.
pub fn enrich(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let account = autocomplete_account(conn, ctx, &params)?;
    let Some(company) = company_to_enrich(ctx, &params)? else {
        return Ok(json!({ "company_data": false }));
    };
    match partner_autocomplete::enrich_for_odoo(conn, &ctx.directory, &account, &company) {
        Ok(OdooEnriched::Charged(_) | OdooEnriched::AgainFree) => {
            Ok(json!({ "company_data": company_data(&company) }))
        }
        Ok(OdooEnriched::InsufficientCredits { .. }) => Ok(json!({ "credit_error": true })),
        Err(EnrichError::Database(e)) => Err(e.into()),
        Err(EnrichError::CompanyNotFound) => Ok(json!({ "company_data": false })),
        Err(e) => Err(RpcError::fault(&format!("enrichment for Odoo failed: {e}"))),
    }
}

/// `update {partner_gid, vat}`: Odoo's nightly sync says which directory company a partner
/// of the database is (free). Answers whether the directory still has it.
pub fn update(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    autocomplete_account(conn, ctx, &params)?;
    let gid = partner_gid(&params)?.ok_or_else(|| RpcError::missing("partner_gid"))?;
    vat_param(&params)?;
    let known = ctx
        .directory
        .enrich(gid)
        .map_err(|e| {
            tracing::warn!("company directory lookup failed: {e}");
            RpcError::User("the company directory is unavailable; try again later".into())
        })?
        .is_some();
    Ok(json!({ "partner_gid": gid, "known": known }))
}

#[cfg(test)]
mod tests {
    use super::domain_of;

    #[test]
    fn websites_become_domains() {
        for (text, domain) in [
            ("example.com", Some("example.com")),
            ("https://www.Example.com/about?x=1", Some("example.com")),
            (
                "http://shop.example.co.uk:8080/",
                Some("shop.example.co.uk"),
            ),
            ("info@example.be", Some("example.be")),
            ("localhost", None),
            ("", None),
            ("exa mple.com", None),
        ] {
            assert_eq!(domain_of(text).as_deref(), domain, "{text}");
        }
    }
}

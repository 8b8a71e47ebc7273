//! Odoo's lead modules, on `reveal.endpoint` and `enrich.endpoint` (both `/iap/clearbit/…`),
//! spending the database's `reveal` account (Lead Generation here) at its prices:
//!
//! - **Lead mining** (`crm_iap_mine`): `/iap/clearbit/2/lead_mining_request` (Odoo 18: countries
//!   as `{code, states}` objects) and `/1/` (countries as codes) — companies and contacts by
//!   country, size, industry and role or seniority, made leads of the database on the same
//!   hold-then-capture as the Generate Leads form: 1 credit (the catalog's price) per company
//!   and per contact; too few credits for the most the request can cost →
//!   `InsufficientCreditError` before anything is mined.
//! - **Lead enrichment** (`crm_iap_enrich`): `/iap/clearbit/1/lead_enrichment_email` — each
//!   lead's e-mail domain → the directory's company or `false`; charged per company found,
//!   free when not found; too few credits for all that was found → `InsufficientCreditError`.
//! - **Visitor reveal** (`website_crm_iap_reveal`): `/iap/clearbit/1/reveal` — each visitor's
//!   address → the company whose range holds it (`directory::ip_ranges`), kept when it matches
//!   one of the visitor's rules (countries, size, industry), with people by role or seniority
//!   for a `people` rule; 1 credit per company and per contact; when the credits run dry the
//!   batch stops with `credit_error` and what was revealed before is kept (and charged once).
//!
//! Odoo's industry ids (`crm.iap.lead.industry`, sent as strings of numbers) are mapped to our
//! directory's NACE sections by `ODOO_INDUSTRIES`; a NACE letter is taken as itself. Odoo's
//! states are not a filter here (the directory has no states): a country's states mean the
//! whole country.

use std::collections::HashMap;
use std::net::IpAddr;

use diesel::PgConnection;
use serde_json::{Map, Value, json};

use super::Context;
use super::directory::{LEAD_MINING, account, country_name, service};
use super::iap::credit_url;
use super::params::Params;
use super::partner_autocomplete::domain_of;
use super::rpc::{RpcError, credits_number};
use crate::kernel::credits::Credits;
use crate::kernel::ids::CompanyId;
use crate::services::directory::data::INDUSTRIES;
use crate::services::directory::provider::DirectoryError;
use crate::services::directory::{Company, Person};
use crate::services::leads::lookups::{self, Bought, Found, LookupError, LookupKind, WhenShort};
use crate::services::leads::{self, generation};

/// Odoo's industry ids, as `crm.iap.lead.industry` lists them (`reveal_ids`), and the NACE
/// sections of our directory each one covers.
pub const ODOO_INDUSTRIES: &[(&str, &str, &[&str])] = &[
    ("30", "Consumer Discretionary", &["G", "R"]),
    ("155", "Consumer Discretionary", &["G", "R"]),
    ("33", "Consumer Staples", &["C", "G"]),
    ("69", "Banks & Insurance", &["K"]),
    ("157", "Banks & Insurance", &["K"]),
    ("86", "Media", &["J"]),
    ("114", "Real Estate", &["L"]),
    ("136", "Transportation", &["H"]),
    ("138", "Energy & Utilities", &["D"]),
    ("156", "Energy & Utilities", &["D"]),
    ("148", "Materials", &["A", "C"]),
    ("149", "Telecommunication Services", &["J"]),
    ("150", "Consumer Services", &["I", "P", "R"]),
    ("151", "Consumer Services", &["I", "P", "R"]),
    ("152", "Retailing", &["G"]),
    ("153", "Food, Beverage & Tobacco", &["A", "C"]),
    ("154", "Food, Beverage & Tobacco", &["A", "C"]),
    ("158", "Diversified Financials & Financial Services", &["K"]),
    ("159", "Diversified Financials & Financial Services", &["K"]),
    ("160", "Health Care Equipment & Services", &["Q"]),
    (
        "161",
        "Pharmaceuticals, Biotechnology & Life Sciences",
        &["C", "M"],
    ),
    ("162", "Capital Goods", &["C", "F"]),
    ("163", "Commercial & Professional Services", &["M", "N"]),
    ("165", "Software & Services", &["J"]),
    ("166", "Technology Hardware & Equipment", &["C"]),
    ("167", "Construction Materials", &["C", "F"]),
    (
        "168",
        "Independent Power and Renewable Electricity Producers",
        &["D"],
    ),
    ("238", "Automobiles & Components", &["C"]),
    ("239", "Consumer Durables & Apparel", &["C"]),
];

/// The database's `reveal` account (Lead Generation here), registered on first use.
fn reveal_account(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Params,
) -> Result<crate::domain::ledger::IapAccount, RpcError> {
    let service = service(conn, LEAD_MINING)?;
    account(conn, ctx, params, "dbuuid", &service)
}

/// The most domains or visitor addresses one call may carry (Odoo sends 50 and 25).
const MAX_LOOKUPS: usize = 200;

/// Odoo's roles (`crm.iap.lead.role.reveal_id`) as our directory's departments.
fn department_of_role(role: &str) -> Option<&'static str> {
    Some(match role {
        "CEO" | "founder" | "owner" | "president" | "legal" => "management",
        "sale" => "sales",
        "marketing" | "communications" | "public_relations" => "marketing",
        "finance" => "finance",
        "operations"
        | "customer_service"
        | "consulting"
        | "real_estate"
        | "health_professional" => "operations",
        "engineering" | "information_technology" | "product" | "research" => "engineering",
        "human_resources" | "recruiting" | "education" => "human_resources",
        _ => return None,
    })
}

/// The NACE sections of Odoo's industry ids (or of NACE letters), each once, in order.
fn nace_sections(ids: &[String], name: &str) -> Result<Vec<String>, RpcError> {
    let mut sections = Vec::new();
    let mut unknown = Vec::new();
    for id in ids {
        let id = id.trim();
        let found: Vec<&str> = if INDUSTRIES.iter().any(|(code, _)| *code == id) {
            vec![id]
        } else if let Some((_, _, codes)) = ODOO_INDUSTRIES.iter().find(|(odoo, ..)| *odoo == id) {
            codes.to_vec()
        } else {
            unknown.push(id.to_string());
            continue;
        };
        for code in found {
            if !sections.iter().any(|s| s == code) {
                sections.push(code.to_string());
            }
        }
    }
    if !unknown.is_empty() {
        return Err(RpcError::User(format!(
            "`{name}`: unknown industry ids {} (this server knows Odoo's crm.iap.lead.industry ids and NACE section letters)",
            unknown.join(", ")
        )));
    }
    Ok(sections)
}

fn strings(data: &Map<String, Value>, name: &str, path: &str) -> Result<Vec<String>, RpcError> {
    match data.get(name) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= 500 => items
            .iter()
            .map(|v| match v {
                Value::String(s) if s.len() <= 100 && !s.contains('\0') => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(RpcError::invalid(
                    &format!("{path}.{name}"),
                    "a list of strings",
                )),
            })
            .collect(),
        Some(_) => Err(RpcError::invalid(&format!("{path}.{name}"), "a list")),
    }
}

fn whole(data: &Map<String, Value>, name: &str, path: &str) -> Result<Option<i64>, RpcError> {
    match data.get(name) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
        Some(_) => Err(RpcError::invalid(
            &format!("{path}.{name}"),
            "a whole number",
        )),
    }
}

fn text<'a>(
    data: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<&'a str>, RpcError> {
    match data.get(name) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::String(s)) if s.len() <= 100 && !s.contains('\0') => {
            Ok(Some(s.as_str()).filter(|s| !s.is_empty()))
        }
        Some(_) => Err(RpcError::invalid(&format!("{path}.{name}"), "a string")),
    }
}

/// Country codes, from Odoo 18's `[{code, states}]` or the older `["BE", …]`.
fn countries(data: &Map<String, Value>, name: &str, path: &str) -> Result<Vec<String>, RpcError> {
    let invalid = || {
        RpcError::invalid(
            &format!("{path}.{name}"),
            "a list of countries ({\"code\": \"BE\", \"states\": […]} or \"BE\")",
        )
    };
    let items = match data.get(name) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => return Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= 300 => items,
        Some(_) => return Err(invalid()),
    };
    items
        .iter()
        .map(|item| {
            let code = match item {
                Value::String(code) => code.as_str(),
                Value::Object(country) => match country.get("code") {
                    Some(Value::String(code)) => code.as_str(),
                    _ => return Err(invalid()),
                },
                _ => return Err(invalid()),
            };
            if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
                Ok(code.to_ascii_uppercase())
            } else {
                Err(invalid())
            }
        })
        .collect()
}

/// Which of a company's people an Odoo request wants: by role (`preferred_role` and
/// `other_roles`, as departments) or by `seniority`.
fn people_filter(
    data: &Map<String, Value>,
    path: &str,
) -> Result<(Vec<String>, Vec<String>), RpcError> {
    let (mut departments, mut seniorities) = (Vec::new(), Vec::new());
    match text(data, "contact_filter_type", path)? {
        Some("seniority") => {
            if let Some(s) = text(data, "seniority", path)? {
                seniorities.push(s.to_string());
            }
        }
        _ => {
            let mut roles: Vec<String> = text(data, "preferred_role", path)?
                .map(String::from)
                .into_iter()
                .collect();
            roles.extend(strings(data, "other_roles", path)?);
            for role in roles {
                if let Some(d) = department_of_role(&role)
                    && !departments.iter().any(|x: &String| x == d)
                {
                    departments.push(d.to_string());
                }
            }
        }
    }
    Ok((departments, seniorities))
}

/// A size range, or the whole range.
fn size_range(data: &Map<String, Value>, path: &str) -> Result<(i64, i64), RpcError> {
    let min = whole(data, "company_size_min", path)?.unwrap_or(1).max(1);
    let max = whole(data, "company_size_max", path)?
        .unwrap_or(i64::from(generation::MAX_EMPLOYEES))
        .min(i64::from(generation::MAX_EMPLOYEES));
    if min > max {
        return Err(RpcError::invalid(
            &format!("{path}.company_size_min"),
            "at most company_size_max",
        ));
    }
    Ok((min, max))
}

/// The Odoo request's `data` as a Lead Generation request.
fn mining_request(data: &Map<String, Value>) -> Result<generation::ValidLeadRequest, RpcError> {
    let path = "data";
    let lead_count = whole(data, "lead_number", path)?
        .filter(|n| (1..=i64::from(generation::MAX_LEADS)).contains(n))
        .ok_or_else(|| RpcError::invalid("data.lead_number", "a number of leads from 1 to 200"))?
        as i32;
    let people = match text(data, "search_type", path)? {
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
        whole(data, "contact_number", path)?
            .unwrap_or(1)
            .clamp(1, i64::from(generation::MAX_CONTACTS)) as i32
    } else {
        0
    };
    let (min, max) = size_range(data, path)?;
    let (departments, seniorities) = if people {
        people_filter(data, path)?
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(generation::ValidLeadRequest {
        form_key: generation::new_form_key(),
        lead_count,
        countries: countries(data, "countries", path)?,
        industries: nace_sections(&strings(data, "industry_ids", path)?, "data.industry_ids")?,
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
            "industry": lead.industry.as_deref().map(crate::services::directory::industry_label),
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
            // Read with [] by crm_iap_mine's chatter template: present, even when unknown.
            "phone": Value::Null,
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
    let account = reveal_account(conn, ctx, &params)?;
    let data = params.object("data")?;
    let request = mining_request(data)?;
    let database_id = account.database_id;
    let request_id = match generation::generate_for(
        conn,
        &ctx.directory,
        database_id,
        generation::Asker::Odoo(account.id),
        &request,
    ) {
        Ok(id) => id,
        Err(generation::GenerateError::InsufficientCredits {
            available, needed, ..
        }) => {
            return Err(RpcError::InsufficientCredit {
                credit: crate::kernel::credits::Credits::from_units(
                    needed.units() - available.units(),
                ),
                service_name: LEAD_MINING.into(),
                base_url: credit_url(&ctx.base_url),
            });
        }
        Err(generation::GenerateError::Database(e)) => return Err(e.into()),
        Err(e) => {
            return Err(RpcError::fault(&format!(
                "lead mining for Odoo failed: {e}"
            )));
        }
    };
    if generation::give_up_if_pending(conn, &ctx.directory, request_id)
        .map_err(|e| RpcError::fault(&format!("could not give up a lead mining request: {e}")))?
    {
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

/// A directory company as Odoo's lead modules read it (`company_data`, a reveal's
/// `reveal_data`, an enrichment): every key they read with `[]` is present.
fn clearbit_company(company: &Company) -> Value {
    let industry = crate::services::directory::industry_label(&company.industry);
    json!({
        "clearbit_id": format!("{:09}", company.id),
        "name": company.full_name(),
        "legal_name": company.full_name(),
        "domain": company.domain,
        "phone": company.phone,
        "phone_numbers": [company.phone],
        "email": [],
        "location": company.street,
        "city": company.city,
        "postal_code": company.postal_code,
        "country_code": company.country_code,
        "country_name": country_name(&company.country_code),
        "state_code": Value::Null,
        "state_name": Value::Null,
        "employees": company.employees,
        "industry": industry,
        "sector_primary": industry,
        "industry_group": Value::Null,
        "sub_industry": Value::Null,
        "founded_year": company.founded,
        "description": Value::Null,
        "logo": Value::Null,
        "twitter": Value::Null,
        "facebook": Value::Null,
        "linkedin": Value::Null,
        "crunchbase": Value::Null,
        "company_type": "private",
        "estimated_annual_revenue": Value::Null,
        "timezone": Value::Null,
        "tech": [],
        "twitter_bio": Value::Null,
        "twitter_followers": Value::Null,
    })
}

fn person_json(person: &Person) -> Value {
    json!({
        "full_name": person.name,
        "email": person.email,
        "title": person.job_title,
        "seniority": person.seniority,
        "role": person.department,
        // Read with [] by crm_iap_mine's chatter template: present, even when unknown.
        "phone": Value::Null,
    })
}

fn unavailable(e: DirectoryError) -> RpcError {
    tracing::warn!("company directory failed: {e}");
    RpcError::User("the company directory is unavailable; try again later".into())
}

/// Too few credits for what was found, as Odoo's lead modules understand it.
fn insufficient(ctx: &Context, available: Credits, needed: Credits) -> RpcError {
    RpcError::InsufficientCredit {
        credit: Credits::from_units((needed.units() - available.units()).max(0)),
        service_name: LEAD_MINING.into(),
        base_url: credit_url(&ctx.base_url),
    }
}

fn lookup_error(ctx: &Context, e: LookupError) -> RpcError {
    match e {
        LookupError::InsufficientCredits { available, needed } => {
            insufficient(ctx, available, needed)
        }
        LookupError::Database(e) => e.into(),
        LookupError::Metering(e) => RpcError::fault(&format!("a lookup for Odoo failed: {e}")),
    }
}

/// `/iap/clearbit/1/lead_enrichment_email`: each lead's e-mail domain → the directory's
/// company, or `false` (free); charged per company found, all or nothing.
pub fn lead_enrichment_email(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let account = reveal_account(conn, ctx, &params)?;
    let domains = match params.0.get("domains") {
        Some(Value::Object(domains)) if domains.len() <= MAX_LOOKUPS => domains,
        Some(Value::Object(_)) => {
            return Err(RpcError::invalid(
                "domains",
                &format!("at most {MAX_LOOKUPS} leads"),
            ));
        }
        None | Some(Value::Null) => return Err(RpcError::missing("domains")),
        Some(_) => {
            return Err(RpcError::invalid(
                "domains",
                "an object of lead ids and domains",
            ));
        }
    };
    // Every domain is read first, so that a bad one refuses the call before anything is asked.
    let mut asked: Vec<(&String, Option<String>)> = Vec::with_capacity(domains.len());
    for (lead_id, domain) in domains {
        let domain = match domain {
            Value::String(d) if d.len() <= 253 => domain_of(d),
            Value::Bool(false) | Value::Null => None,
            _ => {
                return Err(RpcError::invalid(
                    &format!("domains.{lead_id}"),
                    "an e-mail domain",
                ));
            }
        };
        asked.push((lead_id, domain));
    }
    // The directory is asked once, holding no transaction: what it does not know is free.
    let mut wanted: Vec<String> = asked.iter().filter_map(|(_, d)| d.clone()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let known: HashMap<String, Company> = ctx
        .directory
        .companies_by_domain(&wanted)
        .map_err(unavailable)?
        .into_iter()
        .map(|c| (c.domain.clone(), c))
        .collect();
    let asked: Vec<(&String, Option<&Company>)> = asked
        .into_iter()
        .map(|(lead_id, domain)| (lead_id, domain.and_then(|d| known.get(&d))))
        .collect();
    let found: Vec<Found> = asked
        .iter()
        .filter_map(|(_, company)| *company)
        .map(|c| Found {
            asked: c.domain.clone(),
            company_id: c.id,
            person_ids: Vec::new(),
        })
        .collect();
    lookups::buy(
        conn,
        &ctx.directory,
        &account,
        LookupKind::Enrichment,
        &found,
        WhenShort::BuyNothing,
    )
    .map_err(|e| lookup_error(ctx, e))?;
    let mut answer = Map::new();
    for (lead_id, company) in asked {
        answer.insert(
            lead_id.clone(),
            company.map_or(Value::Bool(false), clearbit_company),
        );
    }
    Ok(Value::Object(answer))
}

/// One of Visitor Reveal's rules, as `crm.reveal.rule._get_rules_payload` sends it.
struct RevealRule {
    id: Value,
    countries: Vec<String>,
    size: Option<(i64, i64)>,
    industries: Vec<String>,
    /// People per company: 0 for a `companies` rule.
    contacts: usize,
    departments: Vec<String>,
    seniorities: Vec<String>,
}

impl RevealRule {
    fn parse(key: &str, rule: &Value) -> Result<RevealRule, RpcError> {
        let path = format!("data.rules.{key}");
        let Value::Object(rule) = rule else {
            return Err(RpcError::invalid(&path, "a rule"));
        };
        let people = match text(rule, "lead_for", &path)? {
            Some("people") => true,
            Some("companies") | None => false,
            Some(_) => {
                return Err(RpcError::invalid(
                    &format!("{path}.lead_for"),
                    "\"companies\" or \"people\"",
                ));
            }
        };
        let size = match rule.get("filter_on_size") {
            Some(Value::Bool(true)) => Some(size_range(rule, &path)?),
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(_) => {
                return Err(RpcError::invalid(
                    &format!("{path}.filter_on_size"),
                    "true or false",
                ));
            }
        };
        let (departments, seniorities) = if people {
            people_filter(rule, &path)?
        } else {
            (Vec::new(), Vec::new())
        };
        let extra = whole(rule, "extra_contacts", &path)?
            .unwrap_or(0)
            .clamp(0, 9);
        Ok(RevealRule {
            id: rule.get("rule_id").cloned().unwrap_or_else(|| json!(key)),
            countries: countries(rule, "countries", &path)?,
            size,
            industries: nace_sections(
                &strings(rule, "industry_tags", &path)?,
                &format!("{path}.industry_tags"),
            )?,
            contacts: if people { 1 + extra as usize } else { 0 },
            departments,
            seniorities,
        })
    }

    fn matches(&self, company: &Company) -> bool {
        (self.countries.is_empty() || self.countries.contains(&company.country_code))
            && self
                .size
                .is_none_or(|(min, max)| (min..=max).contains(&i64::from(company.employees)))
            && (self.industries.is_empty() || self.industries.contains(&company.industry))
    }

    fn wants(&self, person: &Person) -> bool {
        (self.departments.is_empty() || self.departments.contains(&person.department))
            && (self.seniorities.is_empty() || self.seniorities.contains(&person.seniority))
    }
}

/// A visitor whose company was found under one of its rules.
struct Revealed {
    ip: String,
    rule_id: Value,
    company: Company,
    people: Vec<Person>,
}

/// `/iap/clearbit/1/reveal`: each visitor's address → its company under the first of its
/// rules it matches, or `not_found`; charged per company and contact, in order, as far as the
/// credits go (then `credit_error`, the rest left for Odoo to send again).
pub fn reveal(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let account = reveal_account(conn, ctx, &params)?;
    let data = params.object("data")?;
    let rules: Vec<(String, RevealRule)> = match data.get("rules") {
        Some(Value::Object(rules)) if rules.len() <= 100 => rules
            .iter()
            .map(|(key, rule)| Ok((key.clone(), RevealRule::parse(key, rule)?)))
            .collect::<Result<_, RpcError>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(RpcError::invalid("data.rules", "an object of rules")),
    };
    let ips = match data.get("ips") {
        Some(Value::Object(ips)) if ips.len() <= MAX_LOOKUPS => ips,
        Some(Value::Object(_)) => {
            return Err(RpcError::invalid(
                "data.ips",
                &format!("at most {MAX_LOOKUPS} addresses"),
            ));
        }
        None | Some(Value::Null) => return Err(RpcError::missing("data.ips")),
        Some(_) => return Err(RpcError::invalid("data.ips", "an object of addresses")),
    };
    // Every visitor's address and rules are read first: a bad one refuses the whole call.
    let mut asked: Vec<(&String, Option<IpAddr>, Vec<&RevealRule>)> = Vec::with_capacity(ips.len());
    for (ip, rule_ids) in ips {
        let Value::Array(rule_ids) = rule_ids else {
            return Err(RpcError::invalid(
                &format!("data.ips.{ip}"),
                "a list of rule ids",
            ));
        };
        let wanted: Vec<&RevealRule> = rule_ids
            .iter()
            .filter_map(|id| {
                let key = match id {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.clone(),
                    _ => return None,
                };
                rules.iter().find(|(k, _)| *k == key).map(|(_, r)| r)
            })
            .collect();
        asked.push((ip, ip.parse::<IpAddr>().ok(), wanted));
    }
    // The directory is asked twice for the whole batch (companies, then their people), holding
    // no transaction.
    let addresses: Vec<IpAddr> = asked.iter().filter_map(|(_, a, _)| *a).collect();
    let mut companies = ctx
        .directory
        .companies_at(&addresses)
        .map_err(unavailable)?
        .into_iter();
    let matched: Vec<Option<(Company, &RevealRule)>> = asked
        .iter()
        .map(|(_, address, wanted)| {
            let company = address.and_then(|_| companies.next().flatten())?;
            let rule = wanted.iter().find(|r| r.matches(&company))?;
            Some((company, *rule))
        })
        .collect();
    let mut with_people: Vec<CompanyId> = matched
        .iter()
        .flatten()
        .filter(|(_, rule)| rule.contacts > 0)
        .map(|(company, _)| company.id)
        .collect();
    with_people.sort_unstable();
    with_people.dedup();
    let mut people_by_company: HashMap<CompanyId, Vec<Person>> = HashMap::new();
    for person in ctx.directory.people_of(&with_people).map_err(unavailable)? {
        people_by_company
            .entry(person.company_id)
            .or_default()
            .push(person);
    }
    // Each visitor, in order: found under a rule, or not found (free).
    let visitors: Vec<Result<Revealed, String>> = asked
        .iter()
        .zip(matched)
        .map(|((ip, _, _), matched)| {
            let Some((company, rule)) = matched else {
                return Err((*ip).clone());
            };
            let people: Vec<Person> = people_by_company
                .get(&company.id)
                .into_iter()
                .flatten()
                .filter(|p| rule.wants(p))
                .take(rule.contacts)
                .cloned()
                .collect();
            Ok(Revealed {
                ip: (*ip).clone(),
                rule_id: rule.id.clone(),
                company,
                people,
            })
        })
        .collect();
    let found: Vec<Found> = visitors
        .iter()
        .filter_map(|v| v.as_ref().ok())
        .map(|r| Found {
            asked: r.ip.clone(),
            company_id: r.company.id,
            person_ids: r.people.iter().map(|p| p.id).collect(),
        })
        .collect();
    let bought = lookups::buy(
        conn,
        &ctx.directory,
        &account,
        LookupKind::Reveal,
        &found,
        WhenShort::BuyInOrder,
    )
    .map_err(|e| lookup_error(ctx, e))?;
    let mut bought = bought.into_iter();
    let mut credit_error = false;
    let mut answer = Vec::with_capacity(visitors.len());
    for visitor in visitors {
        match visitor {
            Err(ip) => answer.push(json!({"ip": ip, "not_found": true})),
            Ok(revealed) => {
                let credit = match bought.next() {
                    Some(Bought::Charged(price)) => price,
                    Some(Bought::Again) => Credits::ZERO,
                    Some(Bought::Unpaid) | None => {
                        // Left out: Odoo keeps the visit and sends it again.
                        credit_error = true;
                        continue;
                    }
                };
                answer.push(json!({
                    "ip": revealed.ip,
                    "rule_id": revealed.rule_id,
                    "clearbit_id": format!("{:09}", revealed.company.id),
                    "reveal_data": clearbit_company(&revealed.company),
                    "people_data": revealed.people.iter().map(person_json).collect::<Vec<_>>(),
                    "credit": credits_number(credit),
                }));
            }
        }
    }
    Ok(json!({ "reveal_data": answer, "credit_error": credit_error }))
}

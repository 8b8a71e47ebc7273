//! Catalog management by the operator: services, their packs, and the SMS price per country.
//! Every change is validated field by field (the form shows each message next to its field)
//! and recorded in the audit log with the values before and after. Nothing is deleted:
//! deactivating hides a service or pack from the catalog and Buy Credits pages, and past
//! orders keep the pack as it was bought (orders snapshot it).

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Action, Operator};
use crate::catalog::{Pack, Price, Service};
use crate::credits::Credits;
use crate::schema::{packs, services, sms_prices};
use crate::sms::pricing::CountryPrice;

/// Messages per field name, for forms.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    pub fn get(&self, field: &str) -> Option<&String> {
        self.0.get(field)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("the form has errors")]
    Invalid(FieldErrors),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// A service form as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ServiceInput {
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub trial_credits: String,
    #[serde(default)]
    pub active: Option<String>,
    #[serde(default)]
    pub sort_order: String,
}

impl ServiceInput {
    pub fn from_service(s: &Service) -> Self {
        ServiceInput {
            slug: s.slug.clone(),
            name: s.name.clone(),
            provider: s.provider.clone(),
            description: s.description.clone(),
            trial_credits: plain(s.trial_credits),
            active: s.active.then(|| "on".into()),
            sort_order: s.sort_order.to_string(),
        }
    }
}

/// Credits as typed in a form: no thousands separators.
pub fn plain(credits: Credits) -> String {
    credits.to_display().replace(',', "")
}

struct ServiceFields {
    name: String,
    provider: String,
    description: String,
    trial_credits: Credits,
    active: bool,
    sort_order: i32,
}

fn required(
    errors: &mut FieldErrors,
    field: &'static str,
    label: &str,
    text: &str,
    max: usize,
) -> String {
    let text = text.trim();
    if text.is_empty() {
        errors.add(field, format!("Enter the {label}."));
    } else if text.chars().count() > max {
        errors.add(field, format!("The {label} is at most {max} characters."));
    }
    text.to_string()
}

fn sort_order(errors: &mut FieldErrors, text: &str) -> i32 {
    let text = text.trim();
    if text.is_empty() {
        return 0;
    }
    text.parse().unwrap_or_else(|_| {
        errors.add("sort_order", "The order is a whole number, like 10.");
        0
    })
}

fn validate_service(input: &ServiceInput, errors: &mut FieldErrors) -> ServiceFields {
    let trial_credits = if input.trial_credits.trim().is_empty() {
        Credits::ZERO
    } else {
        Credits::parse(input.trial_credits.trim()).unwrap_or_else(|e| {
            errors.add("trial_credits", format!("Trial credits: {e}."));
            Credits::ZERO
        })
    };
    ServiceFields {
        name: required(errors, "name", "name", &input.name, 100),
        provider: required(errors, "provider", "provider", &input.provider, 100),
        description: input.description.trim().to_string(),
        trial_credits,
        active: input.active.is_some(),
        sort_order: sort_order(errors, &input.sort_order),
    }
}

fn service_json(s: &Service) -> serde_json::Value {
    json!({
        "slug": s.slug, "name": s.name, "provider": s.provider, "description": s.description,
        "trial_credits": s.trial_credits.to_string(), "active": s.active, "sort_order": s.sort_order,
    })
}

pub fn create_service(
    conn: &mut PgConnection,
    operator: &Operator,
    input: &ServiceInput,
) -> Result<Service, CatalogError> {
    let mut errors = FieldErrors::default();
    let slug = input.slug.trim().to_lowercase();
    let valid_slug = !slug.is_empty()
        && slug.len() <= 50
        && slug.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !valid_slug {
        errors.add("slug", "The slug is lowercase letters and digits joined by dashes, like “sms” or “lead-generation”.");
    }
    let fields = validate_service(input, &mut errors);
    if !errors.is_empty() {
        return Err(CatalogError::Invalid(errors));
    }
    conn.transaction(|conn| {
        let created: Option<Service> = diesel::insert_into(services::table)
            .values((
                services::slug.eq(&slug),
                services::name.eq(&fields.name),
                services::provider.eq(&fields.provider),
                services::description.eq(&fields.description),
                services::trial_credits.eq(fields.trial_credits),
                services::active.eq(fields.active),
                services::sort_order.eq(fields.sort_order),
            ))
            .on_conflict(services::slug)
            .do_nothing()
            .returning(Service::as_returning())
            .get_result(conn)
            .optional()?;
        let Some(service) = created else {
            let mut errors = FieldErrors::default();
            errors.add(
                "slug",
                format!("A service with the slug “{slug}” already exists."),
            );
            return Err(CatalogError::Invalid(errors));
        };
        audit::record(
            conn,
            operator,
            Action {
                action: "service.create",
                subject: format!("service:{}", service.id),
                database_id: None,
                reason: None,
                before: None,
                after: Some(service_json(&service)),
            },
        )?;
        Ok(service)
    })
}

pub fn update_service(
    conn: &mut PgConnection,
    operator: &Operator,
    service_id: i64,
    input: &ServiceInput,
) -> Result<Service, CatalogError> {
    let mut errors = FieldErrors::default();
    let fields = validate_service(input, &mut errors);
    if !errors.is_empty() {
        return Err(CatalogError::Invalid(errors));
    }
    conn.transaction(|conn| {
        let before: Service = services::table
            .find(service_id)
            .select(Service::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(CatalogError::NotFound)?;
        let after: Service = diesel::update(services::table.find(service_id))
            .set((
                services::name.eq(&fields.name),
                services::provider.eq(&fields.provider),
                services::description.eq(&fields.description),
                services::trial_credits.eq(fields.trial_credits),
                services::active.eq(fields.active),
                services::sort_order.eq(fields.sort_order),
                services::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Service::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            operator,
            Action {
                action: "service.update",
                subject: format!("service:{service_id}"),
                database_id: None,
                reason: None,
                before: Some(service_json(&before)),
                after: Some(service_json(&after)),
            },
        )?;
        Ok(after)
    })
}

/// A pack form as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PackInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub credits: String,
    #[serde(default)]
    pub price: String,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub active: Option<String>,
    #[serde(default)]
    pub sort_order: String,
}

impl PackInput {
    pub fn from_pack(p: &Pack) -> Self {
        PackInput {
            name: p.name.clone(),
            credits: plain(p.credits),
            price: format!("{}.{:02}", p.price_minor / 100, p.price_minor % 100),
            currency: p.currency.clone(),
            active: p.active.then(|| "on".into()),
            sort_order: p.sort_order.to_string(),
        }
    }

    pub fn blank() -> Self {
        PackInput {
            currency: "EUR".into(),
            active: Some("on".into()),
            ..PackInput::default()
        }
    }
}

/// "95", "95.5" or "95.00" → 9500 minor units; at most 2 decimals, at most 10,000,000.
pub fn parse_price_minor(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || (text.contains('.') && !digits(fraction)) || fraction.len() > 2 {
        return Err("Enter a price like 95.00 (at most two decimals).".into());
    }
    if whole.len() > 8 {
        return Err("A price is at most 10,000,000.".into());
    }
    let whole: i64 = whole
        .parse()
        .map_err(|_| "Enter a price like 95.00.".to_string())?;
    let cents: i64 = format!("{fraction:0<2}").parse().unwrap_or(0);
    let minor = whole * 100 + cents;
    if minor > 1_000_000_000 {
        return Err("A price is at most 10,000,000.".into());
    }
    Ok(minor)
}

struct PackFields {
    name: String,
    credits: Credits,
    price_minor: i64,
    currency: String,
    active: bool,
    sort_order: i32,
}

fn validate_pack(input: &PackInput, errors: &mut FieldErrors) -> PackFields {
    let credits = match Credits::parse(input.credits.trim()) {
        Ok(c) if c > Credits::ZERO => c,
        Ok(_) => {
            errors.add("credits", "A pack has more than 0 credits.");
            Credits::ZERO
        }
        Err(e) => {
            errors.add("credits", format!("Credits: {e}."));
            Credits::ZERO
        }
    };
    let price_minor = parse_price_minor(&input.price).unwrap_or_else(|e| {
        errors.add("price", e);
        0
    });
    let currency = input.currency.trim().to_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        errors.add("currency", "The currency is a three-letter code, like EUR.");
    }
    PackFields {
        name: required(errors, "name", "pack name", &input.name, 100),
        credits,
        price_minor,
        currency,
        active: input.active.is_some(),
        sort_order: sort_order(errors, &input.sort_order),
    }
}

fn pack_json(p: &Pack) -> serde_json::Value {
    json!({
        "service_id": p.service_id, "name": p.name, "credits": p.credits.to_string(),
        "price": Price { minor: p.price_minor, currency: p.currency.clone() }.to_string(),
        "active": p.active, "sort_order": p.sort_order,
    })
}

fn duplicate_name(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

fn name_taken(name: &str) -> CatalogError {
    let mut errors = FieldErrors::default();
    errors.add(
        "name",
        format!("This service already has a pack named “{name}”."),
    );
    CatalogError::Invalid(errors)
}

pub fn create_pack(
    conn: &mut PgConnection,
    operator: &Operator,
    service_id: i64,
    input: &PackInput,
) -> Result<Pack, CatalogError> {
    let mut errors = FieldErrors::default();
    let fields = validate_pack(input, &mut errors);
    if !errors.is_empty() {
        return Err(CatalogError::Invalid(errors));
    }
    conn.transaction(|conn| {
        services::table
            .find(service_id)
            .select(services::id)
            .first::<i64>(conn)
            .optional()?
            .ok_or(CatalogError::NotFound)?;
        let pack: Pack = diesel::insert_into(packs::table)
            .values((
                packs::service_id.eq(service_id),
                packs::name.eq(&fields.name),
                packs::credits.eq(fields.credits),
                packs::price_minor.eq(fields.price_minor),
                packs::currency.eq(&fields.currency),
                packs::active.eq(fields.active),
                packs::sort_order.eq(fields.sort_order),
            ))
            .returning(Pack::as_returning())
            .get_result(conn)
            .map_err(|e| {
                if duplicate_name(&e) {
                    name_taken(&fields.name)
                } else {
                    e.into()
                }
            })?;
        audit::record(
            conn,
            operator,
            Action {
                action: "pack.create",
                subject: format!("pack:{}", pack.id),
                database_id: None,
                reason: None,
                before: None,
                after: Some(pack_json(&pack)),
            },
        )?;
        Ok(pack)
    })
}

pub fn update_pack(
    conn: &mut PgConnection,
    operator: &Operator,
    pack_id: i64,
    input: &PackInput,
) -> Result<Pack, CatalogError> {
    let mut errors = FieldErrors::default();
    let fields = validate_pack(input, &mut errors);
    if !errors.is_empty() {
        return Err(CatalogError::Invalid(errors));
    }
    conn.transaction(|conn| {
        let before: Pack = packs::table
            .find(pack_id)
            .select(Pack::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(CatalogError::NotFound)?;
        let after: Pack = diesel::update(packs::table.find(pack_id))
            .set((
                packs::name.eq(&fields.name),
                packs::credits.eq(fields.credits),
                packs::price_minor.eq(fields.price_minor),
                packs::currency.eq(&fields.currency),
                packs::active.eq(fields.active),
                packs::sort_order.eq(fields.sort_order),
                packs::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Pack::as_returning())
            .get_result(conn)
            .map_err(|e| {
                if duplicate_name(&e) {
                    name_taken(&fields.name)
                } else {
                    e.into()
                }
            })?;
        audit::record(
            conn,
            operator,
            Action {
                action: "pack.update",
                subject: format!("pack:{pack_id}"),
                database_id: None,
                reason: None,
                before: Some(pack_json(&before)),
                after: Some(pack_json(&after)),
            },
        )?;
        Ok(after)
    })
}

/// Every pack of a service, active or not, in catalog order.
pub fn packs_of(conn: &mut PgConnection, service_id: i64) -> QueryResult<Vec<Pack>> {
    packs::table
        .filter(packs::service_id.eq(service_id))
        .order((packs::sort_order, packs::id))
        .select(Pack::as_select())
        .load(conn)
}

pub fn pack(conn: &mut PgConnection, pack_id: i64) -> QueryResult<Option<Pack>> {
    packs::table
        .find(pack_id)
        .select(Pack::as_select())
        .first(conn)
        .optional()
}

/// An SMS price form as typed: a country (code and name) and its price per SMS part.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SmsPriceInput {
    #[serde(default)]
    pub country_code: String,
    #[serde(default)]
    pub country_name: String,
    #[serde(default)]
    pub price: String,
}

/// Sets the price of a country (adding it when new); `*` is every other country.
pub fn set_sms_price(
    conn: &mut PgConnection,
    operator: &Operator,
    input: &SmsPriceInput,
) -> Result<CountryPrice, CatalogError> {
    let mut errors = FieldErrors::default();
    let code = input.country_code.trim().to_uppercase();
    let is_code = code == "*" || (code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()));
    if !is_code {
        errors.add(
            "country_code",
            "The country is a two-letter ISO code, like FR (or * for every other country).",
        );
    }
    let name = required(
        &mut errors,
        "country_name",
        "country name",
        &input.country_name,
        100,
    );
    let price = match Credits::parse(input.price.trim()) {
        Ok(p) if p > Credits::ZERO => p,
        Ok(_) => {
            errors.add("price", "An SMS costs more than 0 credits.");
            Credits::ZERO
        }
        Err(e) => {
            errors.add("price", format!("Price: {e}."));
            Credits::ZERO
        }
    };
    if !errors.is_empty() {
        return Err(CatalogError::Invalid(errors));
    }
    conn.transaction(|conn| {
        let before: Option<CountryPrice> = sms_prices::table
            .find(&code)
            .select(CountryPrice::as_select())
            .for_update()
            .first(conn)
            .optional()?;
        let after: CountryPrice = diesel::insert_into(sms_prices::table)
            .values((
                sms_prices::country_code.eq(&code),
                sms_prices::country_name.eq(&name),
                sms_prices::price.eq(price),
            ))
            .on_conflict(sms_prices::country_code)
            .do_update()
            .set((
                sms_prices::country_name.eq(&name),
                sms_prices::price.eq(price),
                sms_prices::updated_at.eq(diesel::dsl::now),
            ))
            .returning(CountryPrice::as_returning())
            .get_result(conn)?;
        let as_json =
            |p: &CountryPrice| json!({"country": p.country_name, "price": p.price.to_string()});
        audit::record(
            conn,
            operator,
            Action {
                action: "sms_price.set",
                subject: format!("sms_price:{code}"),
                database_id: None,
                reason: None,
                before: before.as_ref().map(as_json),
                after: Some(as_json(&after)),
            },
        )?;
        Ok(after)
    })
}

//! Catalog management by the operator: services and their packs. Every change is validated
//! field by field (the form shows each message next to its field) and recorded in the audit log
//! with the values before and after. Nothing is deleted: deactivating hides a service or pack
//! from the catalog and Buy Credits pages, and past orders keep the pack as it was bought
//! (orders snapshot it).

use diesel::prelude::*;
use serde_json::json;

use super::{Pack, PackInsertForm, Service, ServiceInsertForm, Slug};
use crate::domain::audit::{self, Action, Operator};
use crate::kernel::credits::Credits;
use crate::kernel::forms::{FieldErrors, FormError, required};
use crate::kernel::ids::{PackId, ServiceId};
use crate::kernel::money::{Currency, Price};
use crate::platform::schema::{packs, services};

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
            slug: s.slug.to_string(),
            name: s.name.clone(),
            provider: s.provider.clone(),
            description: s.description.clone(),
            trial_credits: s.trial_credits.to_form_text(),
            active: s.active.then(|| "on".into()),
            sort_order: s.sort_order.to_string(),
        }
    }
}

/// A service's fields as the operator may change them (the slug never changes).
#[derive(AsChangeset)]
#[diesel(table_name = services)]
struct ServiceUpdateForm {
    name: String,
    provider: String,
    description: String,
    trial_credits: Credits,
    active: bool,
    sort_order: i32,
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

fn validate_service(input: &ServiceInput, errors: &mut FieldErrors) -> ServiceUpdateForm {
    let trial_credits = if input.trial_credits.trim().is_empty() {
        Credits::ZERO
    } else {
        Credits::parse(input.trial_credits.trim()).unwrap_or_else(|e| {
            errors.add("trial_credits", format!("Trial credits: {e}."));
            Credits::ZERO
        })
    };
    ServiceUpdateForm {
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
        "slug": s.slug.as_str(), "name": s.name, "provider": s.provider, "description": s.description,
        "trial_credits": s.trial_credits.to_string(), "active": s.active, "sort_order": s.sort_order,
    })
}

pub fn create_service(
    conn: &mut PgConnection,
    operator: &Operator,
    input: &ServiceInput,
) -> Result<Service, FormError> {
    let mut errors = FieldErrors::default();
    let slug = Slug::parse(&input.slug);
    if let Err(e) = &slug {
        errors.add("slug", e.to_string());
    }
    let fields = validate_service(input, &mut errors);
    let (Ok(slug), true) = (slug, errors.is_empty()) else {
        return Err(FormError::Invalid(errors));
    };
    conn.transaction(|conn| {
        let created: Option<Service> = diesel::insert_into(services::table)
            .values(ServiceInsertForm {
                slug: &slug,
                name: &fields.name,
                provider: &fields.provider,
                description: &fields.description,
                trial_credits: fields.trial_credits,
                active: fields.active,
                sort_order: fields.sort_order,
            })
            .on_conflict(services::slug)
            .do_nothing()
            .returning(Service::as_returning())
            .get_result(conn)
            .optional()?;
        let Some(service) = created else {
            return Err(FormError::Invalid(FieldErrors::one(
                "slug",
                format!("A service with the slug “{slug}” already exists."),
            )));
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
    service_id: ServiceId,
    input: &ServiceInput,
) -> Result<Service, FormError> {
    let mut errors = FieldErrors::default();
    let fields = validate_service(input, &mut errors);
    errors.into_result().map_err(FormError::Invalid)?;
    conn.transaction(|conn| {
        let before: Service = services::table
            .find(service_id)
            .select(Service::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(FormError::NotFound)?;
        let after: Service = diesel::update(services::table.find(service_id))
            .set((&fields, services::updated_at.eq(diesel::dsl::now)))
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
            credits: p.credits.to_form_text(),
            price: p.price().amount_text(),
            currency: p.currency.to_string(),
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

/// A pack's fields as the operator may change them.
#[derive(AsChangeset)]
#[diesel(table_name = packs)]
struct PackUpdateForm {
    name: String,
    credits: Credits,
    price_minor: i64,
    currency: Currency,
    active: bool,
    sort_order: i32,
}

fn validate_pack(input: &PackInput, errors: &mut FieldErrors) -> PackUpdateForm {
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
    let price_minor = Price::parse_minor(&input.price).unwrap_or_else(|e| {
        errors.add("price", e.to_string());
        0
    });
    let currency = Currency::parse(&input.currency).unwrap_or_else(|e| {
        errors.add("currency", e.to_string());
        Currency::eur()
    });
    PackUpdateForm {
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
        "price": p.price().to_string(),
        "active": p.active, "sort_order": p.sort_order,
    })
}

fn duplicate_name(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

fn name_taken(name: &str) -> FormError {
    FormError::Invalid(FieldErrors::one(
        "name",
        format!("This service already has a pack named “{name}”."),
    ))
}

pub fn create_pack(
    conn: &mut PgConnection,
    operator: &Operator,
    service_id: ServiceId,
    input: &PackInput,
) -> Result<Pack, FormError> {
    let mut errors = FieldErrors::default();
    let fields = validate_pack(input, &mut errors);
    errors.into_result().map_err(FormError::Invalid)?;
    conn.transaction(|conn| {
        services::table
            .find(service_id)
            .select(services::id)
            .first::<i64>(conn)
            .optional()?
            .ok_or(FormError::NotFound)?;
        let pack: Pack = diesel::insert_into(packs::table)
            .values(PackInsertForm {
                service_id,
                name: &fields.name,
                credits: fields.credits,
                price_minor: fields.price_minor,
                currency: &fields.currency,
                active: fields.active,
                sort_order: fields.sort_order,
            })
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
    pack_id: PackId,
    input: &PackInput,
) -> Result<Pack, FormError> {
    let mut errors = FieldErrors::default();
    let fields = validate_pack(input, &mut errors);
    errors.into_result().map_err(FormError::Invalid)?;
    conn.transaction(|conn| {
        let before: Pack = packs::table
            .find(pack_id)
            .select(Pack::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(FormError::NotFound)?;
        let after: Pack = diesel::update(packs::table.find(pack_id))
            .set((&fields, packs::updated_at.eq(diesel::dsl::now)))
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

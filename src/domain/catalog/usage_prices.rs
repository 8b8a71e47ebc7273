//! What one unit of a metered service costs: credits per enrichment (Partner Autocomplete), per
//! company and per contact found (Lead Generation). Seeded with the catalog, edited by the
//! operator on the service's page (audited). A request keeps the prices it was held at, so an
//! edit changes only the requests made after it. Owner of `usage_prices`.

use diesel::prelude::*;
use serde_json::json;

use crate::domain::audit::{self, Action, Operator};
use crate::kernel::credits::Credits;
use crate::kernel::forms::{FieldErrors, FormError};
use crate::kernel::ids::ServiceId;
use crate::platform::schema::{services, usage_prices};

/// Seeded prices: (service slug, unit, label, whole credits).
pub const SEED: &[(&str, &str, &str, i64)] = &[
    (
        "partner-autocomplete",
        ENRICHMENT,
        "Credits per enriched company",
        1,
    ),
    ("lead-generation", COMPANY, "Credits per company found", 1),
    ("lead-generation", CONTACT, "Credits per contact found", 1),
    (
        "itsme",
        IDENTIFICATION,
        "Credits per itsme identification",
        1,
    ),
    (
        "documents-digitization",
        DOCUMENT,
        "Credits per digitized document",
        1,
    ),
];

pub const ENRICHMENT: &str = "enrichment";
pub const COMPANY: &str = "company";
pub const CONTACT: &str = "contact";
pub const DOCUMENT: &str = "document";
pub const IDENTIFICATION: &str = "identification";

/// The most one unit may cost: a typo of a few zeros is refused rather than charged.
const MAX_PRICE: Credits = Credits::whole(10_000);

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = usage_prices, check_for_backend(diesel::pg::Pg))]
pub struct UsagePrice {
    pub service_id: ServiceId,
    pub unit: String,
    pub label: String,
    pub credits: Credits,
}

/// Adds the seeded prices of the services that have none for a unit yet (never undoes an edit).
pub fn seed(conn: &mut PgConnection) -> QueryResult<usize> {
    let mut added = 0;
    for (slug, unit, label, credits) in SEED {
        let Some(service_id) = services::table
            .filter(services::slug.eq(*slug))
            .select(services::id)
            .first::<ServiceId>(conn)
            .optional()?
        else {
            continue;
        };
        added += diesel::insert_into(usage_prices::table)
            .values((
                usage_prices::service_id.eq(service_id),
                usage_prices::unit.eq(*unit),
                usage_prices::label.eq(*label),
                usage_prices::credits.eq(Credits::whole(*credits)),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    Ok(added)
}

/// The prices of one service, in a stable order.
pub fn of_service(conn: &mut PgConnection, service_id: ServiceId) -> QueryResult<Vec<UsagePrice>> {
    usage_prices::table
        .filter(usage_prices::service_id.eq(service_id))
        .order(usage_prices::unit)
        .select(UsagePrice::as_select())
        .load(conn)
}

/// The price of `unit` of the service `slug` now. A missing price is an installation error (the
/// seed adds them at start), never a free service.
pub fn price(conn: &mut PgConnection, slug: &str, unit: &str) -> QueryResult<Credits> {
    usage_prices::table
        .inner_join(services::table)
        .filter(services::slug.eq(slug))
        .filter(usage_prices::unit.eq(unit))
        .select(usage_prices::credits)
        .first(conn)
}

/// The operator sets the price of one unit; recorded in the audit log with before and after.
pub fn update(
    conn: &mut PgConnection,
    operator: &Operator,
    service_id: ServiceId,
    unit: &str,
    typed: &str,
) -> Result<UsagePrice, FormError> {
    let credits = match Credits::parse(typed) {
        Ok(c) if c > MAX_PRICE => Err(format!(
            "A unit costs at most {} credits.",
            MAX_PRICE.to_display()
        )),
        Ok(c) => Ok(c),
        Err(e) => Err(format!("Enter the credits as a number: {e}.")),
    }
    .map_err(|message| FormError::Invalid(FieldErrors::one("credits", message)))?;
    conn.transaction(|conn| {
        let before: UsagePrice = usage_prices::table
            .find((service_id, unit))
            .select(UsagePrice::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(FormError::NotFound)?;
        let after: UsagePrice = diesel::update(usage_prices::table.find((service_id, unit)))
            .set(usage_prices::credits.eq(credits))
            .returning(UsagePrice::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            operator,
            Action {
                action: "usage_price.update",
                subject: format!("service:{service_id}:{unit}"),
                database_id: None,
                reason: None,
                before: Some(json!({ "unit": unit, "credits": before.credits.to_form_text() })),
                after: Some(json!({ "unit": unit, "credits": after.credits.to_form_text() })),
            },
        )?;
        Ok(after)
    })
}

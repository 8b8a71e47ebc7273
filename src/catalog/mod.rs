//! The catalog: the in-app services on sale and the packs of credits each is sold in.

pub mod seed;

use std::fmt;

use diesel::prelude::*;

use crate::credits::Credits;
use crate::schema::{packs, services};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = services, check_for_backend(diesel::pg::Pg))]
pub struct Service {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub provider: String,
    pub description: String,
    pub trial_credits: Credits,
    pub active: bool,
    pub sort_order: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = packs, check_for_backend(diesel::pg::Pg))]
pub struct Pack {
    pub id: i64,
    pub service_id: i64,
    pub name: String,
    pub credits: Credits,
    pub price_minor: i64,
    pub currency: String,
    pub active: bool,
    pub sort_order: i32,
}

impl Pack {
    pub fn price(&self) -> Price {
        Price {
            minor: self.price_minor,
            currency: self.currency.clone(),
        }
    }
}

/// A price in minor units (cents) of an ISO 4217 currency with two decimals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub minor: i64,
    pub currency: String,
}

/// "1,250.00 EUR", the form IAP pack prices are shown in.
impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:02} {}",
            crate::credits::group_thousands(abs / 100),
            abs % 100,
            self.currency
        )
    }
}

/// Active services in catalog order.
pub fn active_services(conn: &mut PgConnection) -> QueryResult<Vec<Service>> {
    services::table
        .filter(services::active.eq(true))
        .order((services::sort_order, services::name))
        .select(Service::as_select())
        .load(conn)
}

/// Every service, active or not, in catalog order (the operator's view).
pub fn all_services(conn: &mut PgConnection) -> QueryResult<Vec<Service>> {
    services::table
        .order((services::sort_order, services::name))
        .select(Service::as_select())
        .load(conn)
}

/// An active service by its slug.
pub fn active_service(conn: &mut PgConnection, slug: &str) -> QueryResult<Option<Service>> {
    services::table
        .filter(services::slug.eq(slug))
        .filter(services::active.eq(true))
        .select(Service::as_select())
        .first(conn)
        .optional()
}

pub fn service_by_id(conn: &mut PgConnection, id: i64) -> QueryResult<Service> {
    services::table
        .find(id)
        .select(Service::as_select())
        .first(conn)
}

/// A service by its slug, on sale or not.
pub fn service_by_slug(conn: &mut PgConnection, slug: &str) -> QueryResult<Option<Service>> {
    services::table
        .filter(services::slug.eq(slug))
        .select(Service::as_select())
        .first(conn)
        .optional()
}

/// A service's packs on sale, in display order.
pub fn active_packs(conn: &mut PgConnection, service_id: i64) -> QueryResult<Vec<Pack>> {
    packs::table
        .filter(packs::service_id.eq(service_id))
        .filter(packs::active.eq(true))
        .order((packs::sort_order, packs::credits, packs::id))
        .select(Pack::as_select())
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_show_two_decimals_and_the_currency() {
        let p = |minor| {
            Price {
                minor,
                currency: "EUR".into(),
            }
            .to_string()
        };
        assert_eq!(p(1000), "10.00 EUR");
        assert_eq!(p(125_005), "1,250.05 EUR");
        assert_eq!(p(5), "0.05 EUR");
    }
}

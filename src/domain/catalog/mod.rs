//! The catalog: the in-app services on sale, the packs of credits each is sold in and what a
//! unit of use costs (`usage_prices`). Owner of `services`, `packs` and `usage_prices`: the seed
//! (`seed`) and the operator's edits (`manage`, `usage_prices`) are its only writers; everyone
//! else reads through the functions here.

pub mod manage;
pub mod seed;
pub mod usage_prices;

use diesel::prelude::*;

use crate::kernel::credits::Credits;
use crate::kernel::ids::{PackId, ServiceId};
use crate::kernel::money::{Currency, Price};
use crate::platform::schema::{packs, services};

crate::sql_text_newtype! {
    /// A service's name in URLs and the API: lowercase letters and digits joined by dashes,
    /// like "sms" or "lead-generation", at most 50 characters.
    pub struct Slug;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "The slug is lowercase letters and digits joined by dashes, like “sms” or “lead-generation”."
)]
pub struct SlugError;

impl Slug {
    pub fn parse(text: &str) -> Result<Slug, SlugError> {
        let slug = text.trim().to_lowercase();
        let valid = !slug.is_empty()
            && slug.len() <= 50
            && slug.split('-').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            });
        if valid {
            Ok(Slug(slug))
        } else {
            Err(SlugError)
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = services, check_for_backend(diesel::pg::Pg))]
pub struct Service {
    pub id: ServiceId,
    pub slug: Slug,
    pub name: String,
    pub provider: String,
    pub description: String,
    pub trial_credits: Credits,
    pub active: bool,
    pub sort_order: i32,
}

/// A new service's row.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = services)]
pub(crate) struct ServiceInsertForm<'a> {
    pub slug: &'a Slug,
    pub name: &'a str,
    pub provider: &'a str,
    pub description: &'a str,
    pub trial_credits: Credits,
    pub active: bool,
    pub sort_order: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = packs, check_for_backend(diesel::pg::Pg))]
pub struct Pack {
    pub id: PackId,
    pub service_id: ServiceId,
    pub name: String,
    pub credits: Credits,
    pub price_minor: i64,
    pub currency: Currency,
    pub active: bool,
    pub sort_order: i32,
}

impl Pack {
    pub fn price(&self) -> Price {
        Price::new(self.price_minor, self.currency.clone())
    }
}

/// A new pack's row.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = packs)]
pub(crate) struct PackInsertForm<'a> {
    pub service_id: ServiceId,
    pub name: &'a str,
    pub credits: Credits,
    pub price_minor: i64,
    pub currency: &'a Currency,
    pub active: bool,
    pub sort_order: i32,
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

pub fn service_by_id(conn: &mut PgConnection, id: ServiceId) -> QueryResult<Service> {
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

/// Odoo's technical names of our services where they are not the slug with `_` for `-`.
const ODOO_NAMES: &[(&str, &str)] = &[
    ("invoice_ocr", "documents-digitization"),
    ("reveal", "lead-generation"),
    ("itsme_proxy", "itsme"),
];

/// The slug of the service Odoo calls `technical_name` (`sms`, `partner_autocomplete`,
/// `reveal`, …).
pub fn slug_for_odoo_name(technical_name: &str) -> String {
    ODOO_NAMES
        .iter()
        .find(|(odoo, _)| *odoo == technical_name)
        .map(|(_, slug)| (*slug).to_string())
        .unwrap_or_else(|| technical_name.replace('_', "-"))
}

/// The name Odoo knows the service `slug` by (the inverse of `slug_for_odoo_name`).
pub fn odoo_name_for_slug(slug: &str) -> String {
    ODOO_NAMES
        .iter()
        .find(|(_, ours)| *ours == slug)
        .map(|(odoo, _)| (*odoo).to_string())
        .unwrap_or_else(|| slug.replace('-', "_"))
}

/// The active service Odoo calls `technical_name`.
pub fn service_by_odoo_name(
    conn: &mut PgConnection,
    technical_name: &str,
) -> QueryResult<Option<Service>> {
    let found = service_by_slug(conn, &slug_for_odoo_name(technical_name))?;
    Ok(found.filter(|s| s.active))
}

/// A service's packs on sale, in display order.
pub fn active_packs(conn: &mut PgConnection, service_id: ServiceId) -> QueryResult<Vec<Pack>> {
    packs::table
        .filter(packs::service_id.eq(service_id))
        .filter(packs::active.eq(true))
        .order((packs::sort_order, packs::credits, packs::id))
        .select(Pack::as_select())
        .load(conn)
}

/// A pack of the service that is on sale, if `pack_id` is one.
pub fn pack_on_sale(
    conn: &mut PgConnection,
    service_id: ServiceId,
    pack_id: PackId,
) -> QueryResult<Option<Pack>> {
    packs::table
        .filter(packs::id.eq(pack_id))
        .filter(packs::service_id.eq(service_id))
        .filter(packs::active.eq(true))
        .select(Pack::as_select())
        .first(conn)
        .optional()
}

/// Every pack of a service, active or not, in catalog order.
pub fn packs_of(conn: &mut PgConnection, service_id: ServiceId) -> QueryResult<Vec<Pack>> {
    packs::table
        .filter(packs::service_id.eq(service_id))
        .order((packs::sort_order, packs::id))
        .select(Pack::as_select())
        .load(conn)
}

pub fn pack(conn: &mut PgConnection, pack_id: PackId) -> QueryResult<Option<Pack>> {
    packs::table
        .find(pack_id)
        .select(Pack::as_select())
        .first(conn)
        .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        assert_eq!(
            Slug::parse(" Lead-Generation ").unwrap(),
            *"lead-generation"
        );
        for bad in [
            "",
            "-sms",
            "sms-",
            "a--b",
            "s m s",
            "émail",
            &"a".repeat(51),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }
}

//! The catalog a new installation starts with: the six services Odoo offers through IAP and
//! two services of third-party providers. Seeding adds a service (with its packs) only when its
//! slug is new, so restarts add no duplicates and never undo an operator's edits.

use diesel::prelude::*;

use super::{PackInsertForm, ServiceInsertForm, Slug};
use crate::kernel::credits::Credits;
use crate::kernel::ids::ServiceId;
use crate::kernel::money::Currency;
use crate::platform::schema::{packs, services};

pub struct ServiceSeed {
    pub slug: &'static str,
    pub name: &'static str,
    pub provider: &'static str,
    pub description: &'static str,
    /// Whole credits given once to eligible databases.
    pub trial_credits: i64,
    /// (name, whole credits, price in euro cents)
    pub packs: &'static [(&'static str, i64, i64)],
}

const ODOO: &str = "Odoo S.A.";

pub const CATALOG: &[ServiceSeed] = &[
    ServiceSeed {
        slug: "sms",
        name: "SMS",
        provider: ODOO,
        description: "Sends SMS text messages to contacts directly from the database. The credits \
            an SMS costs depend on its length and its destination country.",
        trial_credits: 10,
        packs: &[
            ("Starter Pack", 10, 1_000),
            ("Standard Pack", 100, 9_500),
            ("Advanced Pack", 500, 45_000),
            ("Expert Pack", 1_000, 85_000),
        ],
    },
    ServiceSeed {
        slug: "documents-digitization",
        name: "Documents Digitization",
        provider: ODOO,
        description: "Digitizes scanned or PDF vendor bills, expenses, and resumes with optical \
            character recognition (OCR) and artificial intelligence (AI). One credit per document.",
        trial_credits: 20,
        packs: &[
            ("Starter Pack", 100, 1_000),
            ("Standard Pack", 500, 4_500),
            ("Advanced Pack", 1_000, 8_000),
            ("Expert Pack", 5_000, 35_000),
        ],
    },
    ServiceSeed {
        slug: "partner-autocomplete",
        name: "Partner Autocomplete",
        provider: ODOO,
        description: "Automatically populates contact records with corporate data: address, \
            industry, size, logo and social links. One credit per enriched company.",
        trial_credits: 50,
        packs: &[
            ("Starter Pack", 250, 2_000),
            ("Standard Pack", 1_000, 7_000),
            ("Advanced Pack", 5_000, 30_000),
        ],
    },
    ServiceSeed {
        slug: "lead-generation",
        name: "Lead Generation",
        provider: ODOO,
        description: "Generates leads based on a set of criteria (country, industry, company size, \
            roles), and converts web visitors into quality leads and opportunities. One credit per \
            company found and one per contact.",
        trial_credits: 20,
        packs: &[
            ("Starter Pack", 200, 4_000),
            ("Standard Pack", 1_000, 18_000),
            ("Advanced Pack", 5_000, 80_000),
        ],
    },
    ServiceSeed {
        slug: "snailmail",
        name: "Snailmail",
        provider: ODOO,
        description: "Sends customer invoices and follow-up reports by post, worldwide: printed, \
            put in an envelope and stamped for you. One stamp per document, priced by pages, \
            colour and destination.",
        trial_credits: 3,
        packs: &[
            ("Starter Pack", 10, 1_500),
            ("Standard Pack", 50, 7_000),
            ("Advanced Pack", 100, 13_000),
        ],
    },
    ServiceSeed {
        slug: "itsme",
        name: "Signer identification with itsme",
        provider: ODOO,
        description: "Asks document signatories in Odoo Sign to prove their identity with the \
            itsme® identity platform, available in Belgium and the Netherlands. One credit per \
            identification.",
        trial_credits: 2,
        packs: &[
            ("Starter Pack", 10, 1_500),
            ("Standard Pack", 50, 7_000),
            ("Advanced Pack", 200, 26_000),
        ],
    },
    ServiceSeed {
        slug: "vat-validation",
        name: "EU VAT Number Validation",
        provider: "Fiscalis BV",
        description: "Checks customers' EU VAT numbers against the VIES registry before an \
            invoice is posted, and keeps the consultation number as proof. One credit per check.",
        trial_credits: 25,
        packs: &[
            ("Starter Pack", 100, 500),
            ("Standard Pack", 1_000, 4_000),
            ("Advanced Pack", 10_000, 30_000),
        ],
    },
    ServiceSeed {
        slug: "document-translation",
        name: "Document Translation",
        provider: "LinguaBridge GmbH",
        description: "Translates quotations, invoices and product sheets into 30 languages while \
            keeping their layout. One credit per page.",
        trial_credits: 5,
        packs: &[
            ("Starter Pack", 20, 1_200),
            ("Standard Pack", 100, 5_500),
            ("Advanced Pack", 500, 25_000),
        ],
    },
];

/// Adds the services of `CATALOG` whose slug is not in the database yet, with their packs.
/// Returns how many services were added.
pub fn seed_catalog(conn: &mut PgConnection) -> QueryResult<usize> {
    let euro = Currency::eur();
    conn.transaction(|conn| {
        let mut added = 0;
        for (position, seed) in CATALOG.iter().enumerate() {
            let order = i32::try_from(position * 10).unwrap_or(i32::MAX);
            let slug = Slug::parse(seed.slug).map_err(|e| {
                diesel::result::Error::QueryBuilderError(
                    format!("seed {:?}: {e}", seed.slug).into(),
                )
            })?;
            let inserted: Option<ServiceId> = diesel::insert_into(services::table)
                .values(ServiceInsertForm {
                    slug: &slug,
                    name: seed.name,
                    provider: seed.provider,
                    description: seed.description,
                    trial_credits: Credits::whole(seed.trial_credits),
                    active: true,
                    sort_order: order,
                })
                .on_conflict(services::slug)
                .do_nothing()
                .returning(services::id)
                .get_result(conn)
                .optional()?;
            let Some(service_id) = inserted else { continue };
            let rows: Vec<_> = seed
                .packs
                .iter()
                .enumerate()
                .map(|(i, (name, credits, cents))| PackInsertForm {
                    service_id,
                    name,
                    credits: Credits::whole(*credits),
                    price_minor: *cents,
                    currency: &euro,
                    active: true,
                    sort_order: i32::try_from(i * 10).unwrap_or(i32::MAX),
                })
                .collect();
            diesel::insert_into(packs::table)
                .values(&rows)
                .execute(conn)?;
            added += 1;
        }
        super::usage_prices::seed(conn)?;
        Ok(added)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_slug_is_a_valid_slug() {
        for seed in CATALOG {
            assert!(Slug::parse(seed.slug).is_ok(), "{}", seed.slug);
        }
    }
}

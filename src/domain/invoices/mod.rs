//! Invoices: the database issues one for each paid order (`issue_invoice`, migration 000026),
//! numbered without gaps per calendar year, with the seller's and the buyer's details as they
//! were then. Here: reading them, the VAT arithmetic shown, the operator's seller details and
//! VAT rate, the customer's billing details, and the PDF. Owner of `invoices`,
//! `invoice_counters`, `invoice_settings` and `billing_details`.

pub mod pdf;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::audit;
use crate::kernel::credits::Credits;
use crate::kernel::ids::{DatabaseId, OrderId};
use crate::kernel::money::{Currency, Price};
use crate::platform::schema::{billing_details, invoice_settings, invoices};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invoices, check_for_backend(diesel::pg::Pg))]
pub struct Invoice {
    pub id: i64,
    pub order_id: OrderId,
    pub database_id: DatabaseId,
    pub year: i16,
    pub number: i32,
    pub issued_at: DateTime<Utc>,
    pub seller_name: String,
    pub seller_address: String,
    pub seller_vat: String,
    pub buyer_name: String,
    pub buyer_address: String,
    pub buyer_vat: String,
    pub buyer_email: String,
    pub service_name: String,
    pub pack_name: String,
    pub credits: Credits,
    pub total_minor: i64,
    pub currency: Currency,
    pub vat_rate_bp: Option<i32>,
    pub vat_minor: i64,
}

impl Invoice {
    /// "INV/2026/00042", as Odoo numbers invoices.
    pub fn reference(&self) -> String {
        format!("INV/{}/{:05}", self.year, self.number)
    }

    /// The file name of its PDF.
    pub fn file_name(&self) -> String {
        format!("invoice-{}-{:05}.pdf", self.year, self.number)
    }

    pub fn description(&self) -> String {
        format!(
            "{} — {} ({} credits)",
            self.service_name,
            self.pack_name,
            self.credits.to_display()
        )
    }

    pub fn total(&self) -> Price {
        Price::new(self.total_minor, self.currency.clone())
    }

    pub fn vat(&self) -> Price {
        Price::new(self.vat_minor, self.currency.clone())
    }

    /// The price without VAT.
    pub fn net(&self) -> Price {
        Price::new(self.total_minor - self.vat_minor, self.currency.clone())
    }

    /// "VAT 21%" / "VAT 5.5%", when a rate applies.
    pub fn vat_label(&self) -> Option<String> {
        self.vat_rate_bp
            .map(|bp| format!("VAT {}", percent_text(bp)))
    }

    pub fn seller_lines(&self) -> Vec<&str> {
        lines(&self.seller_address)
    }

    pub fn buyer_lines(&self) -> Vec<&str> {
        lines(&self.buyer_address)
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Basis points as a percentage without trailing zeros: 2100 → "21%", 550 → "5.5%".
pub fn percent_text(bp: i32) -> String {
    let text = format!("{}.{:02}", bp / 100, bp % 100);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

/// "21", "5.5", "0", "12.25" → basis points; at most 2 decimals, from 0 to 100.
pub fn parse_percent(text: &str) -> Option<i32> {
    let minor = Price::parse_minor(text.trim().trim_end_matches('%')).ok()?;
    (0..=10_000).contains(&minor).then_some(minor as i32)
}

/// The invoice of the database's order, if it is paid.
pub fn of_order(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    order_id: OrderId,
) -> QueryResult<Option<Invoice>> {
    invoices::table
        .filter(invoices::order_id.eq(order_id))
        .filter(invoices::database_id.eq(database_id))
        .select(Invoice::as_select())
        .first(conn)
        .optional()
}

/// The invoices' references of these orders (for a list of orders, in one query).
pub fn references_of(
    conn: &mut PgConnection,
    order_ids: &[OrderId],
) -> QueryResult<std::collections::HashMap<OrderId, String>> {
    let rows: Vec<(OrderId, i16, i32)> = invoices::table
        .filter(invoices::order_id.eq_any(order_ids))
        .select((invoices::order_id, invoices::year, invoices::number))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(order, year, number)| (order, format!("INV/{year}/{number:05}")))
        .collect())
}

/// A year's invoice numbers, in order (for checking there is no gap).
pub fn numbers_of_year(conn: &mut PgConnection, year: i16) -> QueryResult<Vec<i32>> {
    invoices::table
        .filter(invoices::year.eq(year))
        .order(invoices::number)
        .select(invoices::number)
        .load(conn)
}

/// The seller's details and the VAT rate, as the operator set them.
#[derive(Debug, Clone, Queryable, Selectable, AsChangeset, serde::Serialize)]
#[diesel(table_name = invoice_settings, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub struct SellerSettings {
    pub seller_name: String,
    pub seller_address: String,
    pub seller_vat: String,
    pub vat_rate_bp: Option<i32>,
}

/// Why seller settings were refused, field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SellerErrors {
    pub name: Option<String>,
    pub address: Option<String>,
    pub vat: Option<String>,
    pub rate: Option<String>,
}

impl SellerSettings {
    pub fn parse(name: &str, address: &str, vat: &str, rate: &str) -> Result<Self, SellerErrors> {
        let mut errors = SellerErrors::default();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            errors.name = Some("Enter the seller's name (at most 200 characters).".into());
        }
        let address = address.trim().replace("\r\n", "\n");
        if address.chars().count() > 1000 {
            errors.address = Some("At most 1,000 characters.".into());
        }
        let vat = vat.trim();
        if vat.chars().count() > 40 {
            errors.vat = Some("At most 40 characters.".into());
        }
        let rate = match rate.trim() {
            "" => None,
            text => match parse_percent(text) {
                Some(bp) => Some(bp),
                None => {
                    errors.rate = Some(
                        "Enter a percentage from 0 to 100 with at most 2 decimals, e.g. 21 or 5.5; leave it empty for no VAT line.".into(),
                    );
                    None
                }
            },
        };
        if errors != SellerErrors::default() {
            return Err(errors);
        }
        Ok(SellerSettings {
            seller_name: name.to_string(),
            seller_address: address,
            seller_vat: vat.to_string(),
            vat_rate_bp: rate,
        })
    }
}

pub fn seller_settings(conn: &mut PgConnection) -> QueryResult<SellerSettings> {
    invoice_settings::table
        .find(1i16)
        .select(SellerSettings::as_select())
        .first(conn)
}

/// The operator's change of the seller's details, recorded in the audit log. Invoices already
/// issued keep what they say.
pub fn update_seller_settings(
    conn: &mut PgConnection,
    operator: &audit::Operator,
    settings: &SellerSettings,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        let before = seller_settings(conn)?;
        diesel::update(invoice_settings::table.find(1i16))
            .set((settings, invoice_settings::updated_at.eq(diesel::dsl::now)))
            .execute(conn)?;
        audit::record(
            conn,
            operator,
            audit::Action {
                action: "invoicing.update",
                subject: "invoice_settings".into(),
                database_id: None,
                reason: None,
                before: serde_json::to_value(&before).ok(),
                after: serde_json::to_value(settings).ok(),
            },
        )?;
        Ok(())
    })
}

/// A database's details as buyer.
#[derive(Debug, Clone, Default, Queryable, Selectable)]
#[diesel(table_name = billing_details, check_for_backend(diesel::pg::Pg))]
pub struct BillingDetails {
    pub company_name: String,
    pub address: String,
    pub vat_number: String,
}

/// Why billing details were refused, field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillingErrors {
    pub company_name: Option<String>,
    pub address: Option<String>,
    pub vat_number: Option<String>,
}

impl BillingDetails {
    pub fn parse(company: &str, address: &str, vat: &str) -> Result<Self, BillingErrors> {
        let mut errors = BillingErrors::default();
        let (company, vat) = (company.trim(), vat.trim());
        let address = address.trim().replace("\r\n", "\n");
        if company.chars().count() > 200 {
            errors.company_name = Some("At most 200 characters.".into());
        }
        if address.chars().count() > 1000 {
            errors.address = Some("At most 1,000 characters.".into());
        }
        if vat.chars().count() > 40 {
            errors.vat_number = Some("At most 40 characters.".into());
        }
        if errors != BillingErrors::default() {
            return Err(errors);
        }
        Ok(BillingDetails {
            company_name: company.to_string(),
            address,
            vat_number: vat.to_string(),
        })
    }
}

pub fn billing_details(
    conn: &mut PgConnection,
    database_id: DatabaseId,
) -> QueryResult<BillingDetails> {
    Ok(billing_details::table
        .find(database_id)
        .select(BillingDetails::as_select())
        .first(conn)
        .optional()?
        .unwrap_or_default())
}

/// Saves the database's billing details; the next invoices carry them.
pub fn save_billing_details(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    details: &BillingDetails,
) -> QueryResult<()> {
    let values = (
        billing_details::company_name.eq(&details.company_name),
        billing_details::address.eq(&details.address),
        billing_details::vat_number.eq(&details.vat_number),
        billing_details::updated_at.eq(diesel::dsl::now),
    );
    diesel::insert_into(billing_details::table)
        .values((billing_details::database_id.eq(database_id), values))
        .on_conflict(billing_details::database_id)
        .do_update()
        .set(values)
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_read_and_print_exactly() {
        assert_eq!(parse_percent("21"), Some(2100));
        assert_eq!(parse_percent("5.5"), Some(550));
        assert_eq!(parse_percent("12.25%"), Some(1225));
        assert_eq!(parse_percent("0"), Some(0));
        assert_eq!(parse_percent("100"), Some(10_000));
        assert_eq!(parse_percent("100.01"), None);
        assert_eq!(parse_percent("-1"), None);
        assert_eq!(parse_percent("5.555"), None);
        assert_eq!(percent_text(2100), "21%");
        assert_eq!(percent_text(550), "5.5%");
        assert_eq!(percent_text(1225), "12.25%");
        assert_eq!(percent_text(0), "0%");
    }
}

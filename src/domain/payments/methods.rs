//! Saved cards: a database's cards kept at the payment provider for automatic top-ups. Only the
//! provider's token is stored, with what shows the card to people (brand, last 4 digits, expiry,
//! holder) — never its number or CVC. Owner of `payment_methods`.

use chrono::{DateTime, Datelike, Utc};
use diesel::prelude::*;

use super::{Card, PaymentProvider};
use crate::kernel::ids::{DatabaseId, PaymentMethodId, UserId};
use crate::platform::schema::payment_methods;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payment_methods, check_for_backend(diesel::pg::Pg))]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    pub database_id: DatabaseId,
    pub provider_token: String,
    pub brand: String,
    pub last4: String,
    pub expiry_month: i16,
    pub expiry_year: i16,
    pub holder: String,
    pub created_at: DateTime<Utc>,
}

impl PaymentMethod {
    /// "Visa ending 4242, expires 08/29".
    pub fn label(&self) -> String {
        format!(
            "{} ending {}, expires {:02}/{:02}",
            self.brand,
            self.last4,
            self.expiry_month,
            self.expiry_year % 100
        )
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        (i32::from(self.expiry_year), self.expiry_month as u32) < (now.year(), now.month())
    }
}

#[derive(Insertable)]
#[diesel(table_name = payment_methods)]
struct NewPaymentMethod<'a> {
    database_id: DatabaseId,
    provider_token: &'a str,
    brand: &'a str,
    last4: &'a str,
    expiry_month: i16,
    expiry_year: i16,
    holder: &'a str,
    created_by: Option<UserId>,
}

/// Keeps `card` at the provider (no transaction open: this calls it) and records its token
/// for the database. The same card saved again (same brand, last 4 digits and expiry) is the
/// one already saved. `Err` carries the provider's refusal.
pub fn save(
    conn: &mut PgConnection,
    provider: &dyn PaymentProvider,
    database_id: DatabaseId,
    user_id: Option<UserId>,
    card: &Card,
) -> QueryResult<Result<PaymentMethod, String>> {
    let existing = payment_methods::table
        .filter(payment_methods::database_id.eq(database_id))
        .filter(payment_methods::brand.eq(card.brand()))
        .filter(payment_methods::last4.eq(card.last4()))
        .filter(payment_methods::expiry_month.eq(card.expiry_month as i16))
        .filter(payment_methods::expiry_year.eq(card.expiry_year as i16))
        .select(PaymentMethod::as_select())
        .first(conn)
        .optional()?;
    if let Some(method) = existing {
        return Ok(Ok(method));
    }
    let token = match provider.save_card(card) {
        Ok(token) => token,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let method = diesel::insert_into(payment_methods::table)
        .values(NewPaymentMethod {
            database_id,
            provider_token: &token,
            brand: card.brand(),
            last4: card.last4(),
            expiry_month: card.expiry_month as i16,
            expiry_year: card.expiry_year as i16,
            holder: &card.holder,
            created_by: user_id,
        })
        .returning(PaymentMethod::as_returning())
        .get_result(conn)?;
    tracing::info!(database = %database_id, method = %method.id, "card saved");
    Ok(Ok(method))
}

/// The database's saved cards, oldest first.
pub fn of_database(
    conn: &mut PgConnection,
    database_id: DatabaseId,
) -> QueryResult<Vec<PaymentMethod>> {
    payment_methods::table
        .filter(payment_methods::database_id.eq(database_id))
        .order(payment_methods::id)
        .select(PaymentMethod::as_select())
        .load(conn)
}

/// A saved card of the database (another database's card does not exist).
pub fn find(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    id: PaymentMethodId,
) -> QueryResult<Option<PaymentMethod>> {
    payment_methods::table
        .filter(payment_methods::id.eq(id))
        .filter(payment_methods::database_id.eq(database_id))
        .select(PaymentMethod::as_select())
        .first(conn)
        .optional()
}

/// A saved card by its id alone (the top-up worker's, whose order names it).
pub fn by_id(conn: &mut PgConnection, id: PaymentMethodId) -> QueryResult<Option<PaymentMethod>> {
    payment_methods::table
        .find(id)
        .select(PaymentMethod::as_select())
        .first(conn)
        .optional()
}

/// Deletes the database's saved card; whatever used it must have let go of it first (the
/// automatic top-ups: `topup::remove_card`). Answers the deleted card.
pub fn delete(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    id: PaymentMethodId,
) -> QueryResult<Option<PaymentMethod>> {
    diesel::delete(
        payment_methods::table
            .filter(payment_methods::id.eq(id))
            .filter(payment_methods::database_id.eq(database_id)),
    )
    .returning(PaymentMethod::as_returning())
    .get_result(conn)
    .optional()
}

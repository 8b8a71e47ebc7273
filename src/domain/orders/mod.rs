//! Orders of credit packs: created pending with a snapshot of the pack, paid through a
//! `PaymentProvider`, and fulfilled exactly once — the payment, the purchase ledger row and the
//! order's status change are one transaction on the locked order, and a unique index allows a
//! single purchase row per order whatever happens. Owner of `orders`, `payment_attempts` and
//! `refunds` (`refunds`); `listing` is the operator's view of every database's orders.

pub mod auto;
pub mod history;
pub mod listing;
pub mod payment;
pub mod refunds;

pub use payment::{PaymentResult, PaymentSource, pay, pay_with, reconcile_payments};

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::ledger::{self, LedgerEntry, LedgerError};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, DatabaseId, OrderId, PackId, PaymentMethodId, UserId};
use crate::kernel::money::{Currency, Price};
use crate::platform::schema::{orders, payment_attempts};
use crate::sql_text_enum;

/// Pending orders expire after a day.
pub const ORDER_LIFETIME_HOURS: i64 = 24;

sql_text_enum! {
    pub enum OrderStatus {
        Pending => "pending",
        Paid => "paid",
        Expired => "expired",
        /// An automatic top-up declined three times in a row: nothing was charged.
        Declined => "declined",
        Refunded => "refunded",
        PartlyRefunded => "partly_refunded",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = orders, check_for_backend(diesel::pg::Pg))]
pub struct Order {
    pub id: OrderId,
    pub database_id: DatabaseId,
    pub account_id: AccountId,
    pub pack_id: PackId,
    pub pack_name: String,
    pub credits: Credits,
    pub price_minor: i64,
    pub currency: Currency,
    pub status: OrderStatus,
    pub payment_reference: Option<String>,
    pub card_last4: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    /// Ordered by the automatic top-up (paid by the worker with `payment_method_id`).
    pub auto_topup: bool,
    pub payment_method_id: Option<PaymentMethodId>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl Order {
    /// The order number shown to people.
    pub fn number(&self) -> String {
        format!("IAP-{:06}", self.id)
    }

    pub fn price(&self) -> Price {
        Price::new(self.price_minor, self.currency.clone())
    }

    pub fn is_paid(&self) -> bool {
        !matches!(
            self.status,
            OrderStatus::Pending | OrderStatus::Expired | OrderStatus::Declined
        )
    }
}

/// A new order's row: the pack as it is sold now.
#[derive(Insertable)]
#[diesel(table_name = orders)]
struct OrderInsertForm<'a> {
    database_id: DatabaseId,
    account_id: AccountId,
    pack_id: PackId,
    pack_name: &'a str,
    credits: Credits,
    price_minor: i64,
    currency: &'a Currency,
    created_by: Option<UserId>,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("a payment of this order is under way; look again in a moment")]
    PaymentUnderWay,
    #[error("no such order")]
    NotFound,
    #[error("this pack is not on sale for this account")]
    PackUnavailable,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Creates a pending order of `pack_id` for the account (which must belong to `database_id`,
/// and the pack to the account's service and be on sale).
pub fn create_order(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    account_id: AccountId,
    pack_id: PackId,
    user_id: UserId,
) -> Result<Order, OrderError> {
    create_order_by(conn, database_id, account_id, pack_id, Some(user_id))
}

/// The same, by `user_id` when a signed-in user buys, or by nobody we know (Odoo's "Buy
/// credits" link, whose holder is not a user here; the receipt then goes to no one).
pub fn create_order_by(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    account_id: AccountId,
    pack_id: PackId,
    user_id: Option<UserId>,
) -> Result<Order, OrderError> {
    let account = ledger::accounts::of_database(conn, database_id, account_id)?
        .ok_or(OrderError::NotFound)?;
    let pack = crate::domain::catalog::pack_on_sale(conn, account.service_id, pack_id)?
        .ok_or(OrderError::PackUnavailable)?;
    Ok(diesel::insert_into(orders::table)
        .values(OrderInsertForm {
            database_id,
            account_id,
            pack_id: pack.id,
            pack_name: &pack.name,
            credits: pack.credits,
            price_minor: pack.price_minor,
            currency: &pack.currency,
            created_by: user_id,
            expires_at: Utc::now() + chrono::Duration::hours(ORDER_LIFETIME_HOURS),
        })
        .returning(Order::as_returning())
        .get_result(conn)?)
}

/// An order of the database (another database's order does not exist).
pub fn find(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    order_id: OrderId,
) -> QueryResult<Option<Order>> {
    orders::table
        .filter(orders::id.eq(order_id))
        .filter(orders::database_id.eq(database_id))
        .select(Order::as_select())
        .first(conn)
        .optional()
}

/// The database's orders, newest first, `limit` at a time, older than order `before`.
pub fn history(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    before: Option<OrderId>,
    limit: i64,
) -> QueryResult<Vec<Order>> {
    let mut query = orders::table
        .filter(orders::database_id.eq(database_id))
        .order(orders::id.desc())
        .limit(limit)
        .select(Order::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(orders::id.lt(before));
    }
    query.load(conn)
}

/// The purchase row that fulfilled a paid order.
pub fn purchase_entry(
    conn: &mut PgConnection,
    order_id: OrderId,
) -> QueryResult<Option<LedgerEntry>> {
    ledger::entries::purchase_of_order(conn, order_id)
}

pub(crate) fn mark_expired(conn: &mut PgConnection, order_id: OrderId) -> QueryResult<Order> {
    diesel::update(orders::table.find(order_id))
        .set(orders::status.eq(OrderStatus::Expired))
        .returning(Order::as_returning())
        .get_result(conn)
}

/// Marks pending orders past their lifetime as expired (not one whose payment is under way:
/// its outcome decides); returns how many.
pub fn expire_stale_orders(conn: &mut PgConnection) -> QueryResult<usize> {
    let paying = payment_attempts::table
        .filter(payment_attempts::order_id.eq(orders::id))
        .filter(payment_attempts::status.eq(payment::AttemptStatus::Started));
    diesel::update(
        orders::table
            .filter(orders::status.eq(OrderStatus::Pending))
            .filter(orders::expires_at.le(Utc::now()))
            .filter(diesel::dsl::not(diesel::dsl::exists(paying))),
    )
    .set(orders::status.eq(OrderStatus::Expired))
    .execute(conn)
}

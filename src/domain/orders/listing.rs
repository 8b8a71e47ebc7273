//! Every database's orders, for the operator: filtered by status, service, database and period,
//! newest first with keyset pagination, and one order with its ledger rows and refunds.

use diesel::prelude::*;

use super::{Order, OrderStatus};
use crate::domain::ledger::{self, LedgerEntry};
use crate::kernel::ids::{DatabaseId, OrderId, ServiceId};
use crate::kernel::period::Period;
use crate::platform::schema::{databases, iap_accounts, orders, services, users};

pub const PAGE_SIZE: crate::kernel::pagination::Keyset = crate::kernel::pagination::Keyset(50);

/// The orders list's filters; `None`/empty matches everything.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub service_id: Option<ServiceId>,
    /// Part of the database's name, any case.
    pub database: String,
    /// Orders created on these UTC days.
    pub period: Option<Period>,
    /// Keyset pagination: orders older than this id.
    pub before_id: Option<OrderId>,
}

/// An order with the names the list shows.
#[derive(Debug, Clone)]
pub struct OrderRow {
    pub order: Order,
    pub database: String,
    pub service: String,
}

pub fn list(
    conn: &mut PgConnection,
    filter: &OrderFilter,
    limit: i64,
) -> QueryResult<Vec<OrderRow>> {
    let mut query = orders::table
        .inner_join(databases::table)
        .inner_join(iap_accounts::table.inner_join(services::table))
        .order(orders::id.desc())
        .limit(limit)
        .select((Order::as_select(), databases::name, services::name))
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(orders::status.eq(status));
    }
    if let Some(service_id) = filter.service_id {
        query = query.filter(services::id.eq(service_id));
    }
    let database = filter.database.trim();
    if !database.is_empty() {
        query = query.filter(
            databases::name.ilike(format!("%{}%", crate::platform::db::escape_like(database))),
        );
    }
    if let Some(period) = filter.period {
        let (from, to) = period.bounds();
        query = query
            .filter(orders::created_at.ge(from))
            .filter(orders::created_at.lt(to));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(orders::id.lt(before));
    }
    Ok(query
        .load::<(Order, String, String)>(conn)?
        .into_iter()
        .map(|(order, database, service)| OrderRow {
            order,
            database,
            service,
        })
        .collect())
}

/// One order as the operator sees it.
#[derive(Debug, Clone)]
pub struct OrderDetails {
    pub row: OrderRow,
    pub database_id: DatabaseId,
    pub buyer: Option<String>,
    /// The ledger rows that carry this order: its purchase and any refunds.
    pub entries: Vec<LedgerEntry>,
}

pub fn details(conn: &mut PgConnection, order_id: OrderId) -> QueryResult<Option<OrderDetails>> {
    let found: Option<(Order, String, String, Option<String>)> = orders::table
        .inner_join(databases::table)
        .inner_join(iap_accounts::table.inner_join(services::table))
        .left_join(users::table)
        .filter(orders::id.eq(order_id))
        .select((
            Order::as_select(),
            databases::name,
            services::name,
            users::email.nullable(),
        ))
        .first(conn)
        .optional()?;
    let Some((order, database, service, buyer)) = found else {
        return Ok(None);
    };
    let entries = ledger::entries::of_order(conn, order.id)?;
    Ok(Some(OrderDetails {
        database_id: order.database_id,
        row: OrderRow {
            order,
            database,
            service,
        },
        buyer,
        entries,
    }))
}

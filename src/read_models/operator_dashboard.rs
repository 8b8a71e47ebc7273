//! The operator dashboard's read model: figures for a period, read across the tables of
//! several owners (it writes none): sales and revenue per currency, credits sold, refunded
//! and consumed per service and per day, top consumers, and what needs the operator's eye
//! (accounts below their threshold, orders awaiting payment, emails that failed).
//!
//! Days are UTC days. "Consumed" is what charges and captured holds took; adjustments and
//! refunds are not consumption.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text, Timestamptz};

use crate::domain::mail::outbox::{self, EmailStatus, OutboxEmail};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, DatabaseId, OrderId};
use crate::kernel::money::{Currency, Price};
use crate::kernel::period::Period;

/// Money taken in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyTotal {
    pub currency: Currency,
    pub orders: i64,
    pub gross_minor: i64,
    pub refunded_minor: i64,
}

impl CurrencyTotal {
    pub fn gross(&self) -> Price {
        self.price(self.gross_minor)
    }
    pub fn refunded(&self) -> Price {
        self.price(self.refunded_minor)
    }
    pub fn net(&self) -> Price {
        self.price(self.gross_minor - self.refunded_minor)
    }
    fn price(&self, minor: i64) -> Price {
        Price::new(minor, self.currency.clone())
    }
}

/// A service's figures over the period (or over one day).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceFigures {
    pub service: String,
    pub orders: i64,
    pub credits_sold: Credits,
    pub credits_refunded: Credits,
    pub credits_consumed: Credits,
    /// Gross revenue per currency, minor units.
    pub revenue: BTreeMap<Currency, i64>,
}

impl ServiceFigures {
    pub fn revenue_text(&self) -> String {
        if self.revenue.is_empty() {
            return "—".into();
        }
        self.revenue
            .iter()
            .map(|(currency, minor)| Price::new(*minor, currency.clone()).to_string())
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFigures {
    pub day: NaiveDate,
    pub figures: ServiceFigures,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct TopConsumer {
    #[diesel(sql_type = BigInt)]
    pub database_id: DatabaseId,
    #[diesel(sql_type = Text)]
    pub database: String,
    #[diesel(sql_type = Text)]
    pub service: String,
    #[diesel(sql_type = BigInt)]
    pub consumed: Credits,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct LowAccount {
    #[diesel(sql_type = BigInt)]
    pub account_id: AccountId,
    #[diesel(sql_type = BigInt)]
    pub database_id: DatabaseId,
    #[diesel(sql_type = Text)]
    pub database: String,
    #[diesel(sql_type = Text)]
    pub service: String,
    #[diesel(sql_type = BigInt)]
    pub available: Credits,
    #[diesel(sql_type = BigInt)]
    pub threshold: Credits,
    /// When it went below it.
    #[diesel(sql_type = Timestamptz)]
    pub below_since: DateTime<Utc>,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct PendingOrder {
    #[diesel(sql_type = BigInt)]
    pub order_id: OrderId,
    #[diesel(sql_type = Text)]
    pub database: String,
    #[diesel(sql_type = Text)]
    pub service: String,
    #[diesel(sql_type = Text)]
    pub pack_name: String,
    #[diesel(sql_type = BigInt)]
    pub price_minor: i64,
    #[diesel(sql_type = Text)]
    pub currency: Currency,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub expires_at: DateTime<Utc>,
}

impl PendingOrder {
    pub fn number(&self) -> String {
        format!("IAP-{:06}", self.order_id)
    }
    pub fn price(&self) -> Price {
        Price::new(self.price_minor, self.currency.clone())
    }
}

/// Everything the dashboard shows.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub period: Period,
    pub currencies: Vec<CurrencyTotal>,
    /// Per service, in catalog order, only those with activity in the period.
    pub services: Vec<ServiceFigures>,
    /// Per day and service, only the pairs with activity, oldest first.
    pub days: Vec<DayFigures>,
    /// Day by day (one value per day of the period), for the charts.
    pub daily_revenue_minor: BTreeMap<String, Vec<i64>>,
    pub daily_sold: BTreeMap<String, Vec<Credits>>,
    pub daily_consumed: BTreeMap<String, Vec<Credits>>,
    pub top_consumers: Vec<TopConsumer>,
    pub below_threshold: Vec<LowAccount>,
    pub pending_orders: Vec<PendingOrder>,
    pub failed_emails: Vec<OutboxEmail>,
    /// Read on a standby (`DATABASE_READ_URL`): how far it has replayed the primary's changes.
    pub standby: Option<StandbyReplay>,
}

/// A standby's progress: the commit time of the last change it has replayed (`None` before the
/// first). The figures include everything the primary committed up to then.
#[derive(Debug, Clone, Copy)]
pub struct StandbyReplay {
    pub replayed_up_to: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct Recovery {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    in_recovery: bool,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    replayed_up_to: Option<DateTime<Utc>>,
}

/// `Some` when `conn` is on a standby, with how far it has replayed.
pub fn standby_replay(conn: &mut PgConnection) -> QueryResult<Option<StandbyReplay>> {
    let r: Recovery = diesel::sql_query(
        "SELECT pg_is_in_recovery() AS in_recovery,
                pg_last_xact_replay_timestamp() AS replayed_up_to",
    )
    .get_result(conn)?;
    Ok(r.in_recovery.then_some(StandbyReplay {
        replayed_up_to: r.replayed_up_to,
    }))
}

/// One (day, service, currency) line of money or credits.
#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = Text)]
    service: String,
    #[diesel(sql_type = BigInt)]
    sort_order: i64,
    /// None for consumption, which has no currency.
    #[diesel(sql_type = Nullable<Text>)]
    currency: Option<Currency>,
    #[diesel(sql_type = BigInt)]
    count: i64,
    #[diesel(sql_type = BigInt)]
    credits: i64,
    #[diesel(sql_type = BigInt)]
    minor: i64,
}

// Sales, refunds and consumption come from the daily rollups (`sales_daily`, `ledger_daily`),
// kept by triggers: the dashboard's cost does not grow with the ledger. The period's bounds
// are whole UTC days.
const SALES: &str = "
    SELECT r.day, s.name AS service, s.sort_order::bigint AS sort_order, r.currency,
           sum(r.orders)::bigint AS count, sum(r.credits_sold)::bigint AS credits,
           sum(r.revenue_minor)::bigint AS minor
    FROM sales_daily r
    JOIN iap_accounts a ON a.id = r.account_id
    JOIN services s ON s.id = a.service_id
    WHERE r.day >= ($1 AT TIME ZONE 'UTC')::date AND r.day < ($2 AT TIME ZONE 'UTC')::date
      AND r.orders > 0
    GROUP BY 1, 2, 3, 4";

const REFUNDS: &str = "
    SELECT r.day, s.name AS service, s.sort_order::bigint AS sort_order, r.currency,
           sum(r.refunds)::bigint AS count, sum(r.credits_refunded)::bigint AS credits,
           sum(r.refunded_minor)::bigint AS minor
    FROM sales_daily r
    JOIN iap_accounts a ON a.id = r.account_id
    JOIN services s ON s.id = a.service_id
    WHERE r.day >= ($1 AT TIME ZONE 'UTC')::date AND r.day < ($2 AT TIME ZONE 'UTC')::date
      AND r.refunds > 0
    GROUP BY 1, 2, 3, 4";

const CONSUMPTION: &str = "
    SELECT l.day, s.name AS service, s.sort_order::bigint AS sort_order,
           NULL::text AS currency, sum(l.spent_count)::bigint AS count,
           sum(l.spent)::bigint AS credits, 0::bigint AS minor
    FROM ledger_daily l
    JOIN iap_accounts a ON a.id = l.account_id
    JOIN services s ON s.id = a.service_id
    WHERE l.day >= ($1 AT TIME ZONE 'UTC')::date AND l.day < ($2 AT TIME ZONE 'UTC')::date
      AND l.spent_count > 0
    GROUP BY 1, 2, 3, 4";

// Summed per account first: the few accounts that spent are then joined to their database,
// rather than every rollup row (a lookup each among 100,000 databases).
const TOP_CONSUMERS: &str = "
    WITH spent AS (
        SELECT l.account_id, sum(l.spent) AS spent
        FROM ledger_daily l
        WHERE l.day >= ($1 AT TIME ZONE 'UTC')::date AND l.day < ($2 AT TIME ZONE 'UTC')::date
        GROUP BY l.account_id
    )
    SELECT d.id AS database_id, d.name AS database, s.name AS service,
           sum(sp.spent)::bigint AS consumed
    FROM spent sp
    JOIN iap_accounts a ON a.id = sp.account_id
    JOIN services s ON s.id = a.service_id
    JOIN databases d ON d.id = a.database_id
    GROUP BY d.id, d.name, s.name
    HAVING sum(sp.spent) > 0
    ORDER BY consumed DESC, d.name
    LIMIT 10";

/// How many of the accounts below their threshold the dashboard lists.
pub const BELOW_THRESHOLD_SHOWN: i64 = 50;

// The latest to go below first: from the partial index of accounts below their threshold,
// whatever the number of accounts.
const BELOW_THRESHOLD: &str = "
    SELECT a.id AS account_id, d.id AS database_id, d.name AS database, s.name AS service,
           a.balance - a.reserved AS available, a.threshold,
           a.below_threshold_since AS below_since
    FROM iap_accounts a
    JOIN services s ON s.id = a.service_id
    JOIN databases d ON d.id = a.database_id
    WHERE a.below_threshold_since IS NOT NULL
    ORDER BY a.below_threshold_since DESC, a.id DESC
    LIMIT $1";

const PENDING_ORDERS: &str = "
    SELECT o.id AS order_id, d.name AS database, s.name AS service, o.pack_name,
           o.price_minor, o.currency, o.created_at, o.expires_at
    FROM orders o
    JOIN iap_accounts a ON a.id = o.account_id
    JOIN services s ON s.id = a.service_id
    JOIN databases d ON d.id = o.database_id
    WHERE o.status = 'pending' AND o.expires_at > now()
    ORDER BY o.created_at DESC
    LIMIT 50";

fn rows(conn: &mut PgConnection, sql: &str, period: &Period) -> QueryResult<Vec<Row>> {
    let (from, to) = period.bounds();
    diesel::sql_query(sql)
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(to)
        .load(conn)
}

pub fn dashboard(conn: &mut PgConnection, period: Period) -> QueryResult<Dashboard> {
    // First: the figures read after it include at least what it reports (replay moves on).
    let standby = standby_replay(conn)?;
    let sales = rows(conn, SALES, &period)?;
    let refunds = rows(conn, REFUNDS, &period)?;
    let consumption = rows(conn, CONSUMPTION, &period)?;
    let (from, to) = period.bounds();
    let top_consumers = diesel::sql_query(TOP_CONSUMERS)
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(to)
        .load(conn)?;
    let below_threshold = diesel::sql_query(BELOW_THRESHOLD)
        .bind::<BigInt, _>(BELOW_THRESHOLD_SHOWN)
        .load(conn)?;
    let pending_orders = diesel::sql_query(PENDING_ORDERS).load(conn)?;
    let failed_emails = outbox::list(conn, Some(EmailStatus::Failed), 20)?;
    let mut dashboard = Dashboard {
        period,
        currencies: Vec::new(),
        services: Vec::new(),
        days: Vec::new(),
        daily_revenue_minor: BTreeMap::new(),
        daily_sold: BTreeMap::new(),
        daily_consumed: BTreeMap::new(),
        top_consumers,
        below_threshold,
        pending_orders,
        failed_emails,
        standby,
    };
    dashboard.fold(&sales, &refunds, &consumption);
    Ok(dashboard)
}

impl Dashboard {
    /// Sums the (day, service, currency) rows into the per-currency, per-service, per-day and
    /// day-by-day views.
    fn fold(&mut self, sales: &[Row], refunds: &[Row], consumption: &[Row]) {
        let n = self.period.days().len();
        let mut currencies: BTreeMap<Currency, CurrencyTotal> = BTreeMap::new();
        let mut figures = Figures::default();
        for row in sales {
            let Some(currency) = &row.currency else {
                continue;
            };
            let total = currency_total(&mut currencies, currency);
            total.orders += row.count;
            total.gross_minor += row.minor;
            figures.add(row, |f| {
                f.orders += row.count;
                f.credits_sold += Credits::from_units(row.credits);
                *f.revenue.entry(currency.clone()).or_default() += row.minor;
            });
            if let Some(i) = self.period.index_of(row.day) {
                self.daily_revenue_minor
                    .entry(currency.to_string())
                    .or_insert_with(|| vec![0; n])[i] += row.minor;
                self.daily_sold
                    .entry(row.service.clone())
                    .or_insert_with(|| vec![Credits::ZERO; n])[i] +=
                    Credits::from_units(row.credits);
            }
        }
        for row in refunds {
            if let Some(currency) = &row.currency {
                currency_total(&mut currencies, currency).refunded_minor += row.minor;
            }
            figures.add(row, |f| {
                f.credits_refunded += Credits::from_units(row.credits)
            });
        }
        for row in consumption {
            figures.add(row, |f| {
                f.credits_consumed += Credits::from_units(row.credits)
            });
            if let Some(i) = self.period.index_of(row.day) {
                self.daily_consumed
                    .entry(row.service.clone())
                    .or_insert_with(|| vec![Credits::ZERO; n])[i] +=
                    Credits::from_units(row.credits);
            }
        }
        self.currencies = currencies.into_values().collect();
        self.services = figures.services.into_values().collect();
        self.days = figures
            .days
            .into_iter()
            .map(|((day, _, _), figures)| DayFigures { day, figures })
            .collect();
    }
}

fn currency_total<'a>(
    totals: &'a mut BTreeMap<Currency, CurrencyTotal>,
    currency: &Currency,
) -> &'a mut CurrencyTotal {
    totals
        .entry(currency.clone())
        .or_insert_with(|| CurrencyTotal {
            currency: currency.clone(),
            orders: 0,
            gross_minor: 0,
            refunded_minor: 0,
        })
}

/// Per-service figures over the period and per (day, service), keyed by catalog order then
/// name so that services come out in catalog order.
#[derive(Default)]
struct Figures {
    services: BTreeMap<(i64, String), ServiceFigures>,
    days: BTreeMap<(NaiveDate, i64, String), ServiceFigures>,
}

impl Figures {
    /// Applies `change` to the row's service, over the period and on the row's day.
    fn add(&mut self, row: &Row, change: impl Fn(&mut ServiceFigures)) {
        let blank = || ServiceFigures {
            service: row.service.clone(),
            ..ServiceFigures::default()
        };
        change(
            self.services
                .entry((row.sort_order, row.service.clone()))
                .or_insert_with(blank),
        );
        change(
            self.days
                .entry((row.day, row.sort_order, row.service.clone()))
                .or_insert_with(blank),
        );
    }
}

//! Proves the ledger's invariants for every account: the sum of its ledger equals its balance,
//! the sum of its reserved changes equals its reserved credits, which equal the sum of its
//! active holds, and its last entry shows the balance it has.

use crate::kernel::ids::AccountId;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};

#[derive(Debug, Clone, QueryableByName, PartialEq, Eq)]
pub struct Discrepancy {
    #[diesel(sql_type = BigInt)]
    pub account_id: AccountId,
    #[diesel(sql_type = BigInt)]
    pub balance: i64,
    #[diesel(sql_type = BigInt)]
    pub reserved: i64,
    #[diesel(sql_type = BigInt)]
    pub ledger_sum: i64,
    #[diesel(sql_type = BigInt)]
    pub ledger_reserved_sum: i64,
    #[diesel(sql_type = BigInt)]
    pub active_holds_sum: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub last_balance_after: Option<i64>,
}

/// A day of a daily rollup that differs from what it sums.
#[derive(Debug, Clone, QueryableByName, PartialEq, Eq)]
pub struct RollupMismatch {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub rollup: String,
    #[diesel(sql_type = BigInt)]
    pub account_id: AccountId,
    #[diesel(sql_type = diesel::sql_types::Date)]
    pub day: chrono::NaiveDate,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub accounts_checked: i64,
    pub discrepancies: Vec<Discrepancy>,
    /// Days where `ledger_daily` or `sales_daily` differ from the rows they sum.
    pub rollup_mismatches: Vec<RollupMismatch>,
}

impl Report {
    pub fn is_consistent(&self) -> bool {
        self.discrepancies.is_empty() && self.rollup_mismatches.is_empty()
    }
}

/// The daily rollups recomputed from the ledger, the orders and the refunds, compared.
const ROLLUP_MISMATCHES: &str = "
    WITH ledger AS (
        SELECT account_id, (created_at AT TIME ZONE 'UTC')::date AS day,
               COALESCE(-sum(amount) FILTER (WHERE kind IN ('charge', 'capture')), 0) AS spent,
               count(*) FILTER (WHERE kind IN ('charge', 'capture')) AS spent_count,
               COALESCE(sum(amount) FILTER (WHERE kind = 'purchase'), 0) AS bought
        FROM ledger_entries WHERE kind IN ('charge', 'capture', 'purchase') GROUP BY 1, 2),
    sales AS (
        SELECT account_id, (paid_at AT TIME ZONE 'UTC')::date AS day, currency,
               count(*) AS orders, sum(credits) AS credits_sold, sum(price_minor) AS revenue_minor
        FROM orders WHERE paid_at IS NOT NULL GROUP BY 1, 2, 3),
    refunded AS (
        SELECT o.account_id, (r.created_at AT TIME ZONE 'UTC')::date AS day, r.currency,
               count(*) AS refunds, sum(r.credits) AS credits_refunded,
               sum(r.amount_minor) AS refunded_minor
        FROM refunds r JOIN orders o ON o.id = r.order_id
        WHERE r.status = 'succeeded' GROUP BY 1, 2, 3),
    money AS (
        SELECT coalesce(s.account_id, f.account_id) AS account_id, coalesce(s.day, f.day) AS day,
               coalesce(s.currency, f.currency) AS currency,
               coalesce(s.orders, 0) AS orders, coalesce(s.credits_sold, 0) AS credits_sold,
               coalesce(s.revenue_minor, 0) AS revenue_minor, coalesce(f.refunds, 0) AS refunds,
               coalesce(f.credits_refunded, 0) AS credits_refunded,
               coalesce(f.refunded_minor, 0) AS refunded_minor
        FROM sales s FULL JOIN refunded f
          ON f.account_id = s.account_id AND f.day = s.day AND f.currency = s.currency)
    SELECT 'ledger_daily' AS rollup, coalesce(l.account_id, d.account_id) AS account_id,
           coalesce(l.day, d.day) AS day
    FROM ledger l FULL JOIN ledger_daily d ON d.account_id = l.account_id AND d.day = l.day
    WHERE (coalesce(l.spent, 0), coalesce(l.spent_count, 0), coalesce(l.bought, 0))
          IS DISTINCT FROM (coalesce(d.spent, 0), coalesce(d.spent_count, 0), coalesce(d.bought, 0))
    UNION ALL
    SELECT 'sales_daily', coalesce(m.account_id, d.account_id), coalesce(m.day, d.day)
    FROM money m FULL JOIN sales_daily d
      ON d.account_id = m.account_id AND d.day = m.day AND d.currency = m.currency
    WHERE (coalesce(m.orders, 0), coalesce(m.credits_sold, 0), coalesce(m.revenue_minor, 0),
           coalesce(m.refunds, 0), coalesce(m.credits_refunded, 0), coalesce(m.refunded_minor, 0))
          IS DISTINCT FROM
          (coalesce(d.orders, 0), coalesce(d.credits_sold, 0), coalesce(d.revenue_minor, 0),
           coalesce(d.refunds, 0), coalesce(d.credits_refunded, 0), coalesce(d.refunded_minor, 0))
    ORDER BY 1, 2, 3";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Checks every account in one consistent snapshot.
pub fn verify_ledger(conn: &mut PgConnection) -> QueryResult<Report> {
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(|conn| {
            let accounts_checked = diesel::sql_query("SELECT count(*) AS n FROM iap_accounts")
                .get_result::<Count>(conn)?
                .n;
            let discrepancies = diesel::sql_query(
                "WITH sums AS (
                 SELECT account_id, sum(amount)::bigint AS ledger_sum,
                        sum(reserved_change)::bigint AS ledger_reserved_sum
                 FROM ledger_entries GROUP BY account_id),
             active AS (
                 SELECT account_id, sum(amount)::bigint AS active_holds_sum
                 FROM holds WHERE closed_at IS NULL GROUP BY account_id),
             last AS (
                 SELECT DISTINCT ON (account_id) account_id, balance_after
                 FROM ledger_entries ORDER BY account_id, id DESC)
             SELECT a.id AS account_id, a.balance, a.reserved,
                    coalesce(s.ledger_sum, 0) AS ledger_sum,
                    coalesce(s.ledger_reserved_sum, 0) AS ledger_reserved_sum,
                    coalesce(h.active_holds_sum, 0) AS active_holds_sum,
                    l.balance_after AS last_balance_after
             FROM iap_accounts a
             LEFT JOIN sums s ON s.account_id = a.id
             LEFT JOIN active h ON h.account_id = a.id
             LEFT JOIN last l ON l.account_id = a.id
             WHERE a.balance <> coalesce(s.ledger_sum, 0)
                OR a.reserved <> coalesce(s.ledger_reserved_sum, 0)
                OR a.reserved <> coalesce(h.active_holds_sum, 0)
                OR a.balance <> coalesce(l.balance_after, 0)
             ORDER BY a.id",
            )
            .load::<Discrepancy>(conn)?;
            let rollup_mismatches = diesel::sql_query(ROLLUP_MISMATCHES).load(conn)?;
            Ok(Report {
                accounts_checked,
                discrepancies,
                rollup_mismatches,
            })
        })
}

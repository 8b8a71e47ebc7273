//! Proves the ledger's invariants for every account: the sum of its ledger equals its balance,
//! the sum of its reserved changes equals its reserved credits, which equal the sum of its
//! active holds, and its last entry shows the balance it has.

use crate::ids::AccountId;
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

#[derive(Debug, Clone)]
pub struct Report {
    pub accounts_checked: i64,
    pub discrepancies: Vec<Discrepancy>,
}

impl Report {
    pub fn is_consistent(&self) -> bool {
        self.discrepancies.is_empty()
    }
}

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
                 FROM holds WHERE status = 'active' GROUP BY account_id),
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
            Ok(Report {
                accounts_checked,
                discrepancies,
            })
        })
}

//! An account's daily use, read from its ledger: credits spent (charges and captures) and
//! bought (purchases) on each UTC day, every day of the range present (zero when idle).

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date};

use crate::credits::Credits;
use crate::ids::AccountId;

#[derive(Debug, Clone, PartialEq)]
pub struct UsageDay {
    pub day: NaiveDate,
    pub spent: Credits,
    pub bought: Credits,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = BigInt)]
    spent: i64,
    #[diesel(sql_type = BigInt)]
    bought: i64,
}

/// The account's use on each day from `first` to `last` (both included), in one query.
pub fn daily(
    conn: &mut PgConnection,
    account_id: AccountId,
    first: NaiveDate,
    last: NaiveDate,
) -> QueryResult<Vec<UsageDay>> {
    let rows: Vec<Row> = diesel::sql_query(
        "WITH used AS (
             SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
                    COALESCE(-sum(amount) FILTER (WHERE kind IN ('charge', 'capture')), 0) AS spent,
                    COALESCE(sum(amount) FILTER (WHERE kind = 'purchase'), 0) AS bought
             FROM ledger_entries
             WHERE account_id = $1
               AND kind IN ('charge', 'capture', 'purchase')
               AND created_at >= $2::date AT TIME ZONE 'UTC'
               AND created_at < ($3::date + 1) AT TIME ZONE 'UTC'
             GROUP BY 1
         )
         SELECT d.day::date AS day, COALESCE(u.spent, 0)::bigint AS spent,
                COALESCE(u.bought, 0)::bigint AS bought
         FROM generate_series($2::date, $3::date, interval '1 day') AS d(day)
         LEFT JOIN used u ON u.day = d.day::date
         ORDER BY 1",
    )
    .bind::<BigInt, _>(account_id)
    .bind::<Date, _>(first)
    .bind::<Date, _>(last)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| UsageDay {
            day: r.day,
            spent: Credits::from_units(r.spent),
            bought: Credits::from_units(r.bought),
        })
        .collect())
}

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

#[derive(QueryableByName)]
struct AccountDay {
    #[diesel(sql_type = BigInt)]
    account_id: AccountId,
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = BigInt)]
    spent: i64,
}

/// Credits spent on each day from `first` to `last` by each of `accounts`, in one query: a
/// value a day, oldest first, zero when idle.
pub fn daily_spent(
    conn: &mut PgConnection,
    accounts: &[AccountId],
    first: NaiveDate,
    last: NaiveDate,
) -> QueryResult<std::collections::HashMap<AccountId, Vec<Credits>>> {
    use diesel::sql_types::Array;
    let ids: Vec<i64> = accounts.iter().map(|a| a.0).collect();
    let rows: Vec<AccountDay> = diesel::sql_query(
        "SELECT account_id, (created_at AT TIME ZONE 'UTC')::date AS day,
                (-sum(amount))::bigint AS spent
         FROM ledger_entries
         WHERE account_id = ANY($1) AND kind IN ('charge', 'capture')
           AND created_at >= $2::date AT TIME ZONE 'UTC'
           AND created_at < ($3::date + 1) AT TIME ZONE 'UTC'
         GROUP BY 1, 2",
    )
    .bind::<Array<BigInt>, _>(&ids)
    .bind::<Date, _>(first)
    .bind::<Date, _>(last)
    .load(conn)?;
    let days = (last - first).num_days().max(0) as usize + 1;
    let mut by_account: std::collections::HashMap<AccountId, Vec<Credits>> = accounts
        .iter()
        .map(|a| (*a, vec![Credits::ZERO; days]))
        .collect();
    for row in rows {
        let index = (row.day - first).num_days();
        if let (Some(series), Ok(index)) =
            (by_account.get_mut(&row.account_id), usize::try_from(index))
            && let Some(slot) = series.get_mut(index)
        {
            *slot = Credits::from_units(row.spent);
        }
    }
    Ok(by_account)
}

//! An account's daily use: credits spent (charges and captures) and bought (purchases) on each
//! UTC day, every day of the range present (zero when idle). Read from the daily rollup
//! (`ledger_daily`, kept by a trigger on the ledger), so its cost does not grow with the ledger.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date};

use crate::kernel::credits::Credits;
use crate::kernel::ids::AccountId;

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
        "SELECT d.day::date AS day, COALESCE(u.spent, 0)::bigint AS spent,
                COALESCE(u.bought, 0)::bigint AS bought
         FROM generate_series($2::date, $3::date, interval '1 day') AS d(day)
         LEFT JOIN ledger_daily u ON u.account_id = $1 AND u.day = d.day::date
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
        "SELECT account_id, day, spent
         FROM ledger_daily
         WHERE account_id = ANY($1) AND day BETWEEN $2 AND $3 AND spent_count > 0",
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

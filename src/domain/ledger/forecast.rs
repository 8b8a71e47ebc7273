//! The run-out forecast: at the pace of the last 30 days, how long an account's available
//! credits last, read from the ledger. The pace is an exponentially weighted average of the daily credits spent
//! (charges and captures) over the last 30 UTC days, each day weighing a fifth more than the
//! day before it (α = 1/5), days without use counting as zero. Computed in integers (units of
//! 0.0001 credit, scaled by 1,000), so it is the same on every machine.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Date, Nullable, Timestamptz};

use crate::kernel::credits::Credits;
use crate::kernel::ids::AccountId;

/// The window of days the pace is read from.
pub const WINDOW_DAYS: i64 = 30;
/// Fewer days since the first use: too little to say.
pub const MIN_HISTORY_DAYS: i64 = 7;
const SCALE: i128 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forecast {
    /// First used less than `MIN_HISTORY_DAYS` ago (or never).
    NotEnoughHistory,
    /// Nothing spent in the window.
    NoRecentUse,
    /// About `days` more days, until `until`.
    Lasts { days: i64, until: NaiveDate },
}

impl Forecast {
    /// The sentence the pages show.
    pub fn sentence(&self) -> String {
        match self {
            Forecast::NotEnoughHistory => {
                "Not enough history yet to say how long these credits last.".into()
            }
            Forecast::NoRecentUse => "No recent use: nothing was spent in the last 30 days.".into(),
            Forecast::Lasts { days: 0, .. } => {
                "At the pace of the last 30 days, these credits run out today.".into()
            }
            Forecast::Lasts { days, until } => format!(
                "At the pace of the last 30 days, these credits last about {days} {} (until {}).",
                if *days == 1 { "day" } else { "days" },
                until.format("%-d %B %Y")
            ),
        }
    }
}

/// The forecast from the daily credits spent (units, by UTC day), the day of first use, the
/// credits available now and today's date.
pub fn forecast(
    spent_by_day: &BTreeMap<NaiveDate, i64>,
    first_use: Option<NaiveDate>,
    available: Credits,
    today: NaiveDate,
) -> Forecast {
    let Some(first_use) = first_use else {
        return Forecast::NotEnoughHistory;
    };
    if (today - first_use).num_days() < MIN_HISTORY_DAYS {
        return Forecast::NotEnoughHistory;
    }
    // Oldest to newest: yesterday and the 29 days before it (today is not over).
    let mut pace: i128 = 0;
    let mut any = false;
    for back in (1..=WINDOW_DAYS).rev() {
        let day = today - chrono::Duration::days(back);
        let spent = i128::from(spent_by_day.get(&day).copied().unwrap_or(0).max(0));
        any |= spent > 0;
        pace = (spent * SCALE + 4 * pace) / 5;
    }
    if !any || pace == 0 {
        return Forecast::NoRecentUse;
    }
    let days = (i128::from(available.units().max(0)) * SCALE / pace) as i64;
    Forecast::Lasts {
        days,
        until: today + chrono::Duration::days(days),
    }
}

#[derive(QueryableByName)]
struct DaySpent {
    #[diesel(sql_type = BigInt)]
    account_id: AccountId,
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = BigInt)]
    spent: i64,
}

#[derive(QueryableByName)]
struct FirstUse {
    #[diesel(sql_type = BigInt)]
    account_id: AccountId,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    first: Option<DateTime<Utc>>,
}

/// The forecasts of several accounts (two queries, whatever their number), by account.
pub fn forecasts(
    conn: &mut PgConnection,
    accounts: &[(AccountId, Credits)],
    now: DateTime<Utc>,
) -> QueryResult<HashMap<AccountId, Forecast>> {
    let ids: Vec<i64> = accounts.iter().map(|(id, _)| id.0).collect();
    let since = now - chrono::Duration::days(WINDOW_DAYS + 1);
    let days: Vec<DaySpent> = diesel::sql_query(
        "SELECT account_id, day, spent
         FROM ledger_daily
         WHERE account_id = ANY($1) AND day >= $2 AND spent_count > 0",
    )
    .bind::<Array<BigInt>, _>(&ids)
    .bind::<diesel::sql_types::Date, _>(since.date_naive())
    .load(conn)?;
    let firsts: Vec<FirstUse> = diesel::sql_query(
        "SELECT a.id AS account_id,
                (SELECT d.first_spent_at FROM ledger_daily d
                 WHERE d.account_id = a.id AND d.spent_count > 0
                 ORDER BY d.day LIMIT 1) AS first
         FROM unnest($1::bigint[]) AS a(id)",
    )
    .bind::<Array<BigInt>, _>(&ids)
    .load(conn)?;
    let today = now.date_naive();
    Ok(accounts
        .iter()
        .map(|(id, available)| {
            let spent: BTreeMap<NaiveDate, i64> = days
                .iter()
                .filter(|d| d.account_id == *id)
                .map(|d| (d.day, d.spent))
                .collect();
            let first = firsts
                .iter()
                .find(|f| f.account_id == *id)
                .and_then(|f| f.first)
                .map(|f| f.date_naive());
            (*id, forecast(&spent, first, *available, today))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[test]
    fn a_steady_pace_gives_the_days_the_credits_cover() {
        let today = day(31);
        // 10 credits a day for the whole window: the average settles near 10 a day.
        let steady: BTreeMap<NaiveDate, i64> = (1..=30).map(|d| (day(d), 10 * 10_000)).collect();
        let f = forecast(&steady, Some(day(1)), Credits::whole(100), today);
        // The first days weigh almost nothing: (1 − 0.8^30) of 10 a day ≈ 9.988 → 10 days.
        assert_eq!(
            f,
            Forecast::Lasts {
                days: 10,
                until: NaiveDate::from_ymd_opt(2026, 4, 10).unwrap()
            }
        );
        assert!(f.sentence().contains("about 10 days (until 10 April 2026)"));
    }

    #[test]
    fn recent_days_weigh_more() {
        let today = day(31);
        let mut recent = BTreeMap::new();
        recent.insert(day(30), 20 * 10_000); // yesterday: 20
        let mut old = BTreeMap::new();
        old.insert(day(2), 20 * 10_000); // four weeks ago: 20
        let available = Credits::whole(100);
        let Forecast::Lasts { days: soon, .. } = forecast(&recent, Some(day(1)), available, today)
        else {
            panic!()
        };
        let Forecast::Lasts { days: late, .. } = forecast(&old, Some(day(1)), available, today)
        else {
            panic!()
        };
        // Yesterday's 20 alone: a pace of 4 a day → 25 days; four weeks ago, far longer.
        assert_eq!(soon, 25);
        assert!(late > 10_000, "{late}");
    }

    #[test]
    fn short_or_empty_history_says_so() {
        let today = day(31);
        let empty = BTreeMap::new();
        assert_eq!(
            forecast(&empty, None, Credits::whole(5), today),
            Forecast::NotEnoughHistory
        );
        let mut young = BTreeMap::new();
        young.insert(day(28), 10_000);
        assert_eq!(
            forecast(&young, Some(day(27)), Credits::whole(5), today),
            Forecast::NotEnoughHistory
        );
        assert_eq!(
            forecast(&empty, Some(day(1)), Credits::whole(5), today),
            Forecast::NoRecentUse
        );
        assert_eq!(
            forecast(&BTreeMap::new(), Some(day(1)), Credits::ZERO, today).sentence(),
            "No recent use: nothing was spent in the last 30 days."
        );
    }
}

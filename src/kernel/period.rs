//! A run of whole UTC days, as the operator's filters and dashboard choose them, and the dates
//! typed in their forms.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// The longest period the dashboard sums over.
pub const MAX_DAYS: i64 = 366;

/// A run of whole UTC days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeriodError {
    #[error("The first day comes after the last day.")]
    Reversed,
    #[error("A period is at most {MAX_DAYS} days.")]
    TooLong,
}

impl Period {
    /// The `days` days ending today.
    pub fn last_days(days: i64, today: NaiveDate) -> Period {
        Period {
            first: today - Duration::days(days.clamp(1, MAX_DAYS) - 1),
            last: today,
        }
    }

    pub fn new(first: NaiveDate, last: NaiveDate) -> Result<Period, PeriodError> {
        if first > last {
            return Err(PeriodError::Reversed);
        }
        if (last - first).num_days() + 1 > MAX_DAYS {
            return Err(PeriodError::TooLong);
        }
        Ok(Period { first, last })
    }

    pub fn days(&self) -> Vec<NaiveDate> {
        self.first
            .iter_days()
            .take_while(|d| *d <= self.last)
            .collect()
    }

    /// [first day 00:00 UTC, the day after the last 00:00 UTC).
    pub fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap().and_utc();
        (start(self.first), start(self.last + Duration::days(1)))
    }

    pub fn index_of(&self, day: NaiveDate) -> Option<usize> {
        let i = (day - self.first).num_days();
        (0..=(self.last - self.first).num_days())
            .contains(&i)
            .then_some(i as usize)
    }
}

/// A date typed in a filter ("2026-11-27"); empty is none.
pub fn parse_day(text: &str) -> Result<Option<NaiveDate>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    // Years far outside any order's life are refused too, so period arithmetic cannot overflow.
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|d| (1970..=9999).contains(&chrono::Datelike::year(d)))
        .map(Some)
        .ok_or_else(|| format!("“{text}” is not a date like 2026-11-27."))
}

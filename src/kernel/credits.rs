//! `Credits`: an exact amount of credits, counted in integers of 0.0001 credit. The only way
//! in from text is `Credits::parse`, which is strict; floats never touch an amount.

use std::fmt;
use std::str::FromStr;

/// Number of 0.0001-credit units in one credit.
pub const UNITS_PER_CREDIT: i64 = 10_000;
/// Largest amount accepted from users: one billion credits.
pub const MAX_CREDITS: i64 = 1_000_000_000;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::BigInt)]
pub struct Credits(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditsError {
    #[error("enter an amount of credits, such as 12 or 0.5")]
    Empty,
    #[error("enter a number of credits using digits and at most one decimal point, such as 12.5")]
    NotANumber,
    #[error("an amount of credits has at most 4 decimals")]
    TooManyDecimals,
    #[error("an amount of credits cannot exceed 1,000,000,000")]
    TooLarge,
}

impl Credits {
    pub const ZERO: Credits = Credits(0);

    /// From a count of 0.0001-credit units, as stored in the database.
    pub const fn from_units(units: i64) -> Self {
        Credits(units)
    }

    /// From a whole number of credits.
    pub const fn whole(credits: i64) -> Self {
        Credits(credits * UNITS_PER_CREDIT)
    }

    /// The count of 0.0001-credit units, as stored in the database.
    pub const fn units(self) -> i64 {
        self.0
    }

    /// Parses a non-negative amount written by a person: digits, optionally a point and up to
    /// four decimals ("12", "12.5", "0.0425"). Signs, exponents, separators and anything beyond
    /// one billion credits are refused.
    pub fn parse(text: &str) -> Result<Self, CreditsError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CreditsError::Empty);
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && fraction.is_empty()
            || !digits_only(whole)
            || !digits_only(fraction)
            || text.ends_with('.')
        {
            return Err(CreditsError::NotANumber);
        }
        if fraction.len() > 4 {
            return Err(CreditsError::TooManyDecimals);
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 10 {
            return Err(CreditsError::TooLarge);
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| CreditsError::TooLarge)?
        };
        let fraction: i64 = format!("{fraction:0<4}")
            .parse()
            .map_err(|_| CreditsError::NotANumber)?;
        let units = whole * UNITS_PER_CREDIT + fraction;
        if units > MAX_CREDITS * UNITS_PER_CREDIT {
            return Err(CreditsError::TooLarge);
        }
        Ok(Credits(units))
    }

    /// For pages: trailing zero decimals dropped and thousands grouped ("1,000", "0.0425").
    pub fn to_display(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = group_thousands(abs / UNITS_PER_CREDIT as u64);
        let fraction = abs % UNITS_PER_CREDIT as u64;
        if fraction == 0 {
            format!("{sign}{whole}")
        } else {
            let decimals = format!("{fraction:04}");
            format!("{sign}{whole}.{}", decimals.trim_end_matches('0'))
        }
    }

    /// With its unit, as a sentence says it: "1 credit", "0.5 credits", "1,000 credits".
    pub fn with_unit(self) -> String {
        format!("{} {}", self.to_display(), self.unit())
    }

    /// The unit that goes after this amount: "credit" after exactly 1, else "credits".
    pub fn unit(self) -> &'static str {
        if self == Credits::whole(1) {
            "credit"
        } else {
            "credits"
        }
    }

    /// As a person would type it in a form: like `to_display`, without thousands separators.
    pub fn to_form_text(self) -> String {
        self.to_display().replace(',', "")
    }
}

/// Totals (dashboard sums); amounts are far below i64's range, so plain addition is exact.
impl std::ops::AddAssign for Credits {
    fn add_assign(&mut self, other: Credits) {
        self.0 += other.0;
    }
}

/// What a job used, summed over its records.
impl std::iter::Sum for Credits {
    fn sum<I: Iterator<Item = Credits>>(iter: I) -> Credits {
        Credits(iter.map(|c| c.0).sum())
    }
}

/// The canonical form, with exactly four decimals ("12.3400"): used in JSON and ledgers.
impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:04}",
            abs / UNITS_PER_CREDIT as u64,
            abs % UNITS_PER_CREDIT as u64
        )
    }
}

impl FromStr for Credits {
    type Err = CreditsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Credits::parse(s)
    }
}

/// "1234567" → "1,234,567".
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_decimals() {
        assert_eq!(Credits::parse("12").unwrap().units(), 120_000);
        assert_eq!(Credits::parse("12.5").unwrap().units(), 125_000);
        assert_eq!(Credits::parse("0.0425").unwrap().units(), 425);
        assert_eq!(Credits::parse(".5").unwrap().units(), 5_000);
        assert_eq!(Credits::parse(" 007 ").unwrap(), Credits::whole(7));
        assert_eq!(
            Credits::parse("1000000000").unwrap(),
            Credits::whole(MAX_CREDITS)
        );
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "-1", "+1", "1e3", "abc", "1.", ".", "1.2.3", "1,000", "0x10", "١٢", "NaN", "inf",
        ] {
            assert_eq!(Credits::parse(bad), Err(CreditsError::NotANumber), "{bad}");
        }
        assert_eq!(Credits::parse(""), Err(CreditsError::Empty));
        assert_eq!(
            Credits::parse("1.00001"),
            Err(CreditsError::TooManyDecimals)
        );
        assert_eq!(
            Credits::parse("1000000000.0001"),
            Err(CreditsError::TooLarge)
        );
        assert_eq!(
            Credits::parse("99999999999999999999999"),
            Err(CreditsError::TooLarge)
        );
    }

    #[test]
    fn formats_canonically_and_for_people() {
        assert_eq!(Credits::from_units(123_400).to_string(), "12.3400");
        assert_eq!(Credits::from_units(-5).to_string(), "-0.0005");
        assert_eq!(Credits::whole(1000).to_display(), "1,000");
        assert_eq!(Credits::from_units(425).to_display(), "0.0425");
        assert_eq!(
            Credits::from_units(123_456_789_000).to_display(),
            "12,345,678.9"
        );
    }

    #[test]
    fn display_round_trips_through_parse() {
        for units in [
            0,
            1,
            425,
            10_000,
            123_456_789,
            MAX_CREDITS * UNITS_PER_CREDIT,
        ] {
            let c = Credits::from_units(units);
            assert_eq!(Credits::parse(&c.to_string()).unwrap(), c);
        }
    }
}

mod sql {
    use super::Credits;
    use diesel::deserialize::{self, FromSql};
    use diesel::pg::{Pg, PgValue};
    use diesel::serialize::{self, Output, ToSql};
    use diesel::sql_types::BigInt;

    impl ToSql<BigInt, Pg> for Credits {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
            <i64 as ToSql<BigInt, Pg>>::to_sql(&self.0, out)
        }
    }

    impl FromSql<BigInt, Pg> for Credits {
        fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
            <i64 as FromSql<BigInt, Pg>>::from_sql(bytes).map(Credits)
        }
    }
}

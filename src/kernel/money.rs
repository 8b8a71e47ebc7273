//! Money: an ISO 4217 `Currency` code and a `Price` in minor units (cents) of a currency with two
//! decimals. The only ways in from text are `Currency::parse` and `Price::parse`.

use std::fmt;

crate::sql_text_newtype! {
    /// Three upper-case letters, such as EUR.
    pub struct Currency;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("The currency is a three-letter code, like EUR.")]
    Currency,
    #[error("Enter a price like 95.00 (at most two decimals).")]
    Price,
    #[error("A price is at most 10,000,000.")]
    TooLarge,
}

impl Currency {
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let code = text.trim().to_uppercase();
        if code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Currency(code))
        } else {
            Err(MoneyError::Currency)
        }
    }

    /// The euro, which the seeded catalog is priced in.
    pub fn eur() -> Self {
        Currency("EUR".into())
    }
}

/// Largest price accepted from the operator: 10,000,000.00.
const MAX_PRICE_MINOR: i64 = 1_000_000_000;

/// A price in minor units (cents) of a currency with two decimals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub minor: i64,
    pub currency: Currency,
}

impl Price {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Price { minor, currency }
    }

    /// "95", "95.5" or "95.00" → 9500 minor units: at most 2 decimals, at most 10,000,000.
    pub fn parse_minor(text: &str) -> Result<i64, MoneyError> {
        let text = text.trim();
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        if !digits(whole) || (text.contains('.') && !digits(fraction)) || fraction.len() > 2 {
            return Err(MoneyError::Price);
        }
        if whole.len() > 8 {
            return Err(MoneyError::TooLarge);
        }
        let whole: i64 = whole.parse().map_err(|_| MoneyError::Price)?;
        let cents: i64 = format!("{fraction:0<2}").parse().unwrap_or(0);
        let minor = whole * 100 + cents;
        if minor > MAX_PRICE_MINOR {
            return Err(MoneyError::TooLarge);
        }
        Ok(minor)
    }

    /// An amount as typed ("95.00") in a currency ("eur").
    pub fn parse(amount: &str, currency: &str) -> Result<Self, MoneyError> {
        Ok(Price {
            minor: Price::parse_minor(amount)?,
            currency: Currency::parse(currency)?,
        })
    }

    /// The amount as a person types it: "95.00".
    pub fn amount_text(&self) -> String {
        format!("{}.{:02}", self.minor / 100, self.minor % 100)
    }
}

/// "1,250.00 EUR", the form IAP pack prices are shown in.
impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:02} {}",
            crate::kernel::credits::group_thousands(abs / 100),
            abs % 100,
            self.currency
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_show_two_decimals_and_the_currency() {
        let p = |minor| Price::new(minor, Currency::eur()).to_string();
        assert_eq!(p(1000), "10.00 EUR");
        assert_eq!(p(125_005), "1,250.05 EUR");
        assert_eq!(p(5), "0.05 EUR");
    }

    #[test]
    fn prices_and_currencies_parse_strictly() {
        assert_eq!(
            Price::parse(" 95.5 ", "eur").unwrap(),
            Price::new(9550, Currency::eur())
        );
        assert_eq!(Price::parse_minor("95").unwrap(), 9500);
        for bad in ["", "9.999", "-1", "1e3", "1,5", ".5", "5."] {
            assert_eq!(Price::parse_minor(bad), Err(MoneyError::Price), "{bad}");
        }
        assert_eq!(Price::parse_minor("10000000.01"), Err(MoneyError::TooLarge));
        assert_eq!(Price::parse_minor("123456789"), Err(MoneyError::TooLarge));
        for bad in ["EU", "EURO", "E1R", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }
}

//! Card details as typed in a checkout form, parsed strictly: the number passes the Luhn
//! check (and is not all zeros), the expiry is MM/YY or MM/YYYY, neither past nor more than
//! 20 years ahead, the CVC has 3 or 4 digits.

use chrono::{Datelike, Utc};

#[derive(Debug, Clone)]
pub struct Card {
    pub holder: String,
    /// Digits only.
    pub number: String,
    pub expiry_month: u32,
    pub expiry_year: i32,
    pub cvc: String,
}

impl Card {
    pub fn last4(&self) -> &str {
        &self.number[self.number.len() - 4..]
    }

    /// The card's network, from its first digits (shown with a saved card).
    pub fn brand(&self) -> &'static str {
        let n = &self.number;
        if n.starts_with('4') {
            "Visa"
        } else if n.starts_with("34") || n.starts_with("37") {
            "American Express"
        } else if (51..=55).contains(&n[..2].parse::<u32>().unwrap_or(0))
            || (2221..=2720).contains(&n[..4].parse::<u32>().unwrap_or(0))
        {
            "Mastercard"
        } else {
            "Card"
        }
    }
}

/// A message per field that did not parse.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CardErrors {
    pub holder: Option<String>,
    pub number: Option<String>,
    pub expiry: Option<String>,
    pub cvc: Option<String>,
}

impl CardErrors {
    pub fn is_empty(&self) -> bool {
        self.holder.is_none()
            && self.number.is_none()
            && self.expiry.is_none()
            && self.cvc.is_none()
    }
}

pub fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl Card {
    pub fn parse(holder: &str, number: &str, expiry: &str, cvc: &str) -> Result<Card, CardErrors> {
        let mut errors = CardErrors::default();
        let holder = holder.trim();
        if holder.is_empty() || holder.chars().count() > 100 {
            errors.holder = Some("Enter the name on the card.".into());
        }
        let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.is_empty() {
            errors.number = Some("Enter the card number.".into());
        } else if !digits.bytes().all(|b| b.is_ascii_digit()) || !(12..=19).contains(&digits.len())
        {
            errors.number = Some("A card number has 12 to 19 digits.".into());
        } else if !luhn_valid(&digits) || digits.bytes().all(|b| b == b'0') {
            errors.number =
                Some("This card number is not valid; check it for typing errors.".into());
        }
        let (month, year) = parse_expiry(expiry).unwrap_or((0, 0));
        let today = Utc::now().date_naive();
        if month == 0 {
            errors.expiry = Some("Enter the expiry date as MM/YY, e.g. 08/29.".into());
        } else if (year, month) < (today.year(), today.month()) {
            errors.expiry = Some("This card has expired.".into());
        } else if year > today.year() + MAX_YEARS_AHEAD {
            errors.expiry = Some(format!(
                "A card expires within {MAX_YEARS_AHEAD} years; check the year."
            ));
        }
        let cvc = cvc.trim();
        if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
            errors.cvc = Some("The CVC is the 3 or 4 digits on the back of the card.".into());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Card {
            holder: holder.to_string(),
            number: digits,
            expiry_month: month,
            expiry_year: year,
            cvc: cvc.to_string(),
        })
    }
}

/// Cards are issued for at most this many years.
const MAX_YEARS_AHEAD: i32 = 20;

/// "MM/YY" or "MM/YYYY", digits only → (month, full year).
fn parse_expiry(text: &str) -> Option<(u32, i32)> {
    let (month, year) = text.trim().split_once('/')?;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if month.len() != 2 || !digits(month) || !matches!(year.len(), 2 | 4) || !digits(year) {
        return None;
    }
    let month: u32 = month.parse().ok().filter(|m| (1..=12).contains(m))?;
    let year: i32 = year.parse().ok()?;
    Some((month, if year < 100 { 2000 + year } else { year }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        assert!(luhn_valid("4242424242424242"));
        assert!(luhn_valid("4000000000000002"));
        assert!(luhn_valid("4000000000009995"));
        assert!(!luhn_valid("4242424242424241"));
    }

    #[test]
    fn parses_a_good_card_and_explains_bad_fields() {
        let card = Card::parse(" Ada Lovelace ", "4242 4242 4242 4242", "12/39", "123").unwrap();
        assert_eq!(
            (card.last4(), card.expiry_month, card.expiry_year),
            ("4242", 12, 2039)
        );
        let long = Card::parse("A", "4242424242424242", "08/2031", "123").unwrap();
        assert_eq!(long.expiry_year, 2031);
        for bad in [
            "8/31", "08 / 31", "08/031", "08-31", "0831", "08/3a", "+8/31",
        ] {
            let errors = Card::parse("A", "4242424242424242", bad, "123").unwrap_err();
            assert!(errors.expiry.is_some(), "{bad}");
        }
        let far = Card::parse("A", "4242424242424242", "12/2099", "123").unwrap_err();
        assert!(far.expiry.unwrap().contains("within 20 years"));
        for zeros in ["0000 0000 0000 0000", "000000000000"] {
            assert!(
                Card::parse("A", zeros, "12/39", "123")
                    .unwrap_err()
                    .number
                    .is_some()
            );
        }
        let errors = Card::parse("", "4242 4242 4242 4241", "13/30", "12").unwrap_err();
        assert!(
            errors.holder.is_some()
                && errors.number.is_some()
                && errors.expiry.is_some()
                && errors.cvc.is_some()
        );
        let past = Card::parse("A", "4242424242424242", "01/20", "123").unwrap_err();
        assert_eq!(past.expiry.as_deref(), Some("This card has expired."));
        assert!(
            Card::parse("A", "4242abcd42424242", "01/40", "1234")
                .unwrap_err()
                .number
                .is_some()
        );
    }
}

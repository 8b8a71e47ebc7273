//! Phone numbers, parsed with libphonenumber's rules (the `phonenumber` crate): a number
//! without a leading + is read in the contact's country. Stored in E.164 (+32470123456).

use std::str::FromStr;

use phonenumber::Mode;
use phonenumber::country::Id;

/// A valid phone number in E.164 form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(text: &str, country: Option<&str>) -> Result<PhoneNumber, String> {
        let text = text.trim();
        let region = country.and_then(|c| Id::from_str(&c.to_ascii_uppercase()).ok());
        if !text.starts_with('+') && region.is_none() {
            return Err(
                "Start the number with + and its country code, or choose the contact's country."
                    .into(),
            );
        }
        let number = phonenumber::parse(region, text)
            .map_err(|_| format!("“{text}” is not a phone number."))?;
        if !phonenumber::is_valid(&number) {
            return Err(format!(
                "“{text}” is not a valid phone number for its country."
            ));
        }
        Ok(PhoneNumber(number.format().mode(Mode::E164).to_string()))
    }

    pub fn e164(&self) -> &str {
        &self.0
    }
}

/// A stored number as people read it ("+32 470 12 34 56"); as stored when it does not parse.
pub fn display(stored: &str) -> String {
    phonenumber::parse(None, stored)
        .map(|n| n.format().mode(Mode::International).to_string())
        .unwrap_or_else(|_| stored.to_string())
}

/// The ISO country of a number, if known.
pub fn country_of(stored: &str) -> Option<String> {
    let number = phonenumber::parse(None, stored).ok()?;
    number.country().id().map(|id| format!("{id:?}"))
}

/// Whether `code` is a region libphonenumber knows (ISO 3166 alpha-2).
pub fn is_known_country(code: &str) -> bool {
    code.len() == 2 && Id::from_str(&code.to_ascii_uppercase()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_in_the_contacts_country_and_stored_in_e164() {
        assert_eq!(
            PhoneNumber::parse("0470 12 34 56", Some("BE"))
                .unwrap()
                .e164(),
            "+32470123456"
        );
        assert_eq!(
            PhoneNumber::parse("+32 470 12 34 56", None).unwrap().e164(),
            "+32470123456"
        );
        assert_eq!(
            PhoneNumber::parse("06 12 34 56 78", Some("fr"))
                .unwrap()
                .e164(),
            "+33612345678"
        );
        assert!(
            PhoneNumber::parse("0470 12 34 56", None).is_err(),
            "no + and no country"
        );
        assert!(PhoneNumber::parse("12", Some("BE")).is_err());
        assert!(PhoneNumber::parse("call me", Some("BE")).is_err());
        assert_eq!(display("+32470123456"), "+32 470 12 34 56");
        assert_eq!(country_of("+33612345678").as_deref(), Some("FR"));
        assert!(is_known_country("be") && !is_known_country("XX"));
    }
}

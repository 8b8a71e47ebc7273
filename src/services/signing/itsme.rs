//! itsme, behind a trait: an identification is a session the signer completes on the provider's
//! own page (approve or deny in the itsme app), after which the server asks the provider for its
//! result. The default provider is simulated, faithfully: its page is served by this app under
//! `/itsme-sim/{session}`, a session is started once per key, its result does not change once
//! given, and an approved identity carries a name, a birth date and a national number (Belgian
//! with its check digits, or a Dutch BSN passing the eleven test). Its sessions are kept in
//! `simulation::Records` (in the database for the server), so that a signer sent to one
//! instance and back to another finds their session.

use chrono::NaiveDate;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::platform::simulation::Records;

/// Who itsme says the signer is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: String,
    pub birth_date: NaiveDate,
    /// In full: masked before it is stored or shown.
    pub national_number: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentificationResult {
    /// Not finished by the signer yet.
    Pending,
    Approved(Identity),
    Denied,
}

pub trait ItsmeProvider: Send + Sync {
    /// Starts an identification (the same `key` again is the same session); answers the
    /// session id. The provider sends the signer back to `return_to` when they are done.
    fn start(
        &self,
        key: &str,
        name: &str,
        country: &str,
        return_to: &str,
    ) -> Result<String, String>;
    /// The session's result.
    fn result(&self, session: &str) -> Result<IdentificationResult, String>;
}

/// A national number as it may be shown: only its last two digits.
pub fn mask(national_number: &str) -> String {
    let digits: Vec<char> = national_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let shown: String = digits.iter().skip(digits.len().saturating_sub(2)).collect();
    format!("{}{shown}", "•".repeat(digits.len().saturating_sub(2)))
}

/// The simulated itsme: sessions (`itsme`, by id; `itsme-start`, the id of each key), decided
/// on its page.
#[derive(Debug, Default)]
pub struct SimulatedItsme {
    records: Records,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    return_to: String,
    name: String,
    country: String,
    result: IdentificationResult,
}

/// A session's page as the provider shows it.
#[derive(Debug, Clone)]
pub struct SimulatedSession {
    pub name: String,
    pub country: String,
    pub decided: bool,
    pub return_to: String,
}

impl SimulatedItsme {
    pub fn with_records(records: Records) -> Self {
        SimulatedItsme { records }
    }

    fn find(&self, session: &str) -> Result<Option<Session>, String> {
        self.records.get_as("itsme", session)
    }

    /// The session as its page shows it.
    pub fn session(&self, session: &str) -> Option<SimulatedSession> {
        let s = self.find(session).ok()??;
        Some(SimulatedSession {
            decided: s.result != IdentificationResult::Pending,
            name: s.name,
            country: s.country,
            return_to: s.return_to,
        })
    }

    /// The signer's answer in the itsme app. A session is decided once.
    pub fn decide(&self, session: &str, approve: bool) -> bool {
        let decided = self.records.update("itsme", session, |record| {
            let mut s: Session = serde_json::from_value(record.clone()).ok()?;
            if s.result != IdentificationResult::Pending {
                return None;
            }
            s.result = if approve {
                IdentificationResult::Approved(identity_for(&s.name, &s.country, session))
            } else {
                IdentificationResult::Denied
            };
            serde_json::to_value(s).ok()
        });
        matches!(decided, Ok(Some(_)))
    }
}

/// A believable identity for the name, the same for the same session.
fn identity_for(name: &str, country: &str, session: &str) -> Identity {
    let seed: u64 = session
        .bytes()
        .fold(7, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let year = 1950 + (seed % 50) as i32;
    let month = 1 + (seed / 50 % 12) as u32;
    let day = 1 + (seed / 600 % 28) as u32;
    let birth_date = NaiveDate::from_ymd_opt(year, month, day).unwrap_or_default();
    let national_number = if country == "NL" {
        bsn(seed)
    } else {
        // Belgian: YYMMDD, a serial, and 97 minus the number mod 97 (+2000000000 after 1999).
        let serial = 1 + seed % 997;
        let base = format!("{:02}{month:02}{day:02}{serial:03}", year % 100);
        let n: u64 = base.parse().unwrap_or(0);
        format!("{base}{:02}", 97 - n % 97)
    };
    Identity {
        name: name.to_string(),
        birth_date,
        national_number,
    }
}

/// A Dutch BSN: nine digits passing the eleven test.
fn bsn(seed: u64) -> String {
    let mut digits: Vec<u64> = (0..8).map(|i| (seed >> (i * 4)) % 10).collect();
    digits[0] = digits[0].max(1);
    loop {
        let sum: u64 = digits.iter().zip((2..=9).rev()).map(|(d, w)| d * w).sum();
        let last = sum % 11;
        if last < 10 {
            return digits.iter().map(u64::to_string).collect::<String>() + &last.to_string();
        }
        digits[7] = (digits[7] + 1) % 10;
    }
}

impl ItsmeProvider for SimulatedItsme {
    fn start(
        &self,
        key: &str,
        name: &str,
        country: &str,
        return_to: &str,
    ) -> Result<String, String> {
        let fresh = || {
            let bytes: [u8; 16] = rand::rng().random();
            serde_json::Value::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
        };
        let id = self.records.first("itsme-start", key, fresh)?;
        let id = id.as_str().unwrap_or_default().to_string();
        let session = Session {
            return_to: return_to.to_string(),
            name: name.to_string(),
            country: country.to_string(),
            result: IdentificationResult::Pending,
        };
        self.records.first_as("itsme", &id, || session)?;
        Ok(id)
    }

    fn result(&self, session: &str) -> Result<IdentificationResult, String> {
        self.find(session)?
            .map(|s| s.result)
            .ok_or_else(|| "no such itsme session".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_pass_their_countrys_check_and_are_masked() {
        let be = identity_for("Ada", "BE", "s1");
        let n: u64 = be.national_number[..9].parse().unwrap();
        let check: u64 = be.national_number[9..].parse().unwrap();
        assert_eq!(97 - n % 97, check);
        let nl = identity_for("Ada", "NL", "s2").national_number;
        let sum: u64 = nl
            .chars()
            .map(|c| u64::from(c.to_digit(10).unwrap()))
            .zip([9, 8, 7, 6, 5, 4, 3, 2, 1])
            .map(|(d, w)| if w == 1 { 0 } else { d * w })
            .sum();
        assert_eq!(
            sum % 11,
            u64::from(nl.chars().last().unwrap().to_digit(10).unwrap())
        );
        assert_eq!(mask("85073003328"), "•••••••••28");
    }
}

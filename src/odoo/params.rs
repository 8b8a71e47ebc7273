//! Reading a call's params into our types, each failure naming its parameter. Amounts are JSON
//! numbers: read from their shortest decimal form, exactly, never through a float's rounding;
//! more than 4 decimals is refused rather than rounded.

use serde_json::{Map, Value};

use super::rpc::RpcError;
use crate::kernel::credits::Credits;

pub use crate::domain::tokens::{Dbuuid, NEUTRALIZED, is_neutralized, is_token};

pub struct Params<'a>(pub &'a Map<String, Value>);

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn string(&self, name: &str) -> Result<&str, RpcError> {
        self.optional_string(name)?
            .ok_or_else(|| RpcError::missing(name))
    }

    pub fn optional_string(&self, name: &str) -> Result<Option<&str>, RpcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.contains('\0') => {
                Err(RpcError::invalid(name, "text without NUL characters"))
            }
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(RpcError::invalid(name, "a string")),
        }
    }

    /// An account token: malformed is refused as access (it cannot name an account).
    pub fn token(&self, name: &str) -> Result<&str, RpcError> {
        let token = self.string(name)?;
        if is_neutralized(token) {
            return Err(RpcError::Access(NEUTRALIZED.into()));
        }
        if is_token(token) {
            Ok(token)
        } else {
            Err(RpcError::Access(format!(
                "the `{name}` is not a valid account token"
            )))
        }
    }

    pub fn dbuuid(&self, name: &str) -> Result<Option<Dbuuid>, RpcError> {
        match self.optional_string(name)? {
            None => Ok(None),
            Some(text) => Dbuuid::parse(text)
                .map(Some)
                .ok_or_else(|| RpcError::invalid(name, "a database UUID")),
        }
    }

    /// Credits from a JSON number (or a decimal string), ≥ 0, at most 4 decimals.
    pub fn credits(&self, name: &str) -> Result<Credits, RpcError> {
        let value = self.get(name).ok_or_else(|| RpcError::missing(name))?;
        let text = match value {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_string(),
            _ => return Err(RpcError::invalid(name, "a number")),
        };
        let text = plain_decimal(&text).ok_or_else(|| {
            RpcError::invalid(name, "a number of credits with at most 4 decimals")
        })?;
        Credits::parse(&text).map_err(|e| RpcError::User(format!("the parameter `{name}`: {e}")))
    }

    /// A whole number between `min` and `max`.
    pub fn whole(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, RpcError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let number = match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
            _ => None,
        };
        match number {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(RpcError::invalid(
                name,
                &format!("a whole number from {min} to {max}"),
            )),
        }
    }

    /// An object parameter (`data`, `options`, …).
    pub fn object(&self, name: &str) -> Result<&Map<String, Value>, RpcError> {
        match self.get(name) {
            Some(Value::Object(object)) => Ok(object),
            None => Err(RpcError::missing(name)),
            Some(_) => Err(RpcError::invalid(name, "an object")),
        }
    }

    pub fn optional_bool(&self, name: &str) -> Result<Option<bool>, RpcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(RpcError::invalid(name, "true or false")),
        }
    }
}

/// A number's text in plain decimal notation (`1e2` → `100`, `4.0` → `4`), or `None` when it
/// is negative, not finite or has more than 4 decimals.
fn plain_decimal(text: &str) -> Option<String> {
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (text, 0),
    };
    if mantissa.starts_with('-') || mantissa.is_empty() {
        return None;
    }
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !(whole.bytes().all(|b| b.is_ascii_digit()) && fraction.bytes().all(|b| b.is_ascii_digit()))
        || whole.is_empty()
    {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    // The decimal point sits `point` digits from the left of `digits`.
    let point = whole.len() as i64 + i64::from(exponent);
    if !(-20..=40).contains(&point) {
        return None;
    }
    let (int_part, frac_part) = if point <= 0 {
        (
            "0".to_string(),
            format!("{}{digits}", "0".repeat((-point) as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    let frac_part = frac_part.trim_end_matches('0');
    if frac_part.len() > 4 {
        return None;
    }
    let int_part = int_part.trim_start_matches('0');
    let int_part = if int_part.is_empty() { "0" } else { int_part };
    Some(if frac_part.is_empty() {
        int_part.to_string()
    } else {
        format!("{int_part}.{frac_part}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_exact_decimals() {
        for (text, plain) in [
            ("4", Some("4")),
            ("4.0", Some("4")),
            ("0.1", Some("0.1")),
            ("12.3456", Some("12.3456")),
            ("12.34567", None),
            ("1e2", Some("100")),
            ("1.5E-3", Some("0.0015")),
            ("1e-5", None),
            ("-1", None),
            ("1e400", None),
            ("00012.500", Some("12.5")),
        ] {
            assert_eq!(plain_decimal(text).as_deref(), plain, "{text}");
        }
    }

    #[test]
    fn dbuuids_and_tokens() {
        assert!(Dbuuid::parse("8E2B6C4A-1D2F-11EF-9A3B-0242AC120002").is_some());
        assert!(Dbuuid::parse("8e2b6c4a1d2f11ef9a3b0242ac120002").is_none());
        assert!(Dbuuid::parse("x").is_none());
        assert!(is_token("0123456789abcdef0123456789abcdef"));
        assert!(!is_token("0123456789abcdef0123456789abcdef+disabled"));
        assert!(!is_token("short"));
    }
}

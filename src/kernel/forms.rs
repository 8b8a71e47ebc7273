//! What forms share: a message per field, shown next to the field when a form comes back.

use std::collections::BTreeMap;

/// Messages per field name, for forms.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    pub fn get(&self, field: &str) -> Option<&String> {
        self.0.get(field)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records the first message of `field` (later ones for the same field are dropped).
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    /// Errors of a single field.
    pub fn one(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        errors
    }

    /// `Err(self)` when any field has a message.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

/// A required text field, trimmed; an empty or too long one gets its message.
pub fn required(
    errors: &mut FieldErrors,
    field: &'static str,
    label: &str,
    text: &str,
    max: usize,
) -> String {
    let text = text.trim();
    if text.is_empty() {
        errors.add(field, format!("Enter the {label}."));
    } else if text.chars().count() > max {
        errors.add(field, format!("The {label} is at most {max} characters."));
    }
    text.to_string()
}

/// Why a form's change was not made: its fields (shown next to them), what it names is gone,
/// or the database failed.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("the form has errors")]
    Invalid(FieldErrors),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// A new one-time key for a form whose effect must happen once: the same form posted twice
/// (a double click, a reload) carries the same key, and the second post finds the first's work.
pub fn new_form_key() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a posted form key is one `new_form_key` could have made (16 to 64 letters and
/// digits).
pub fn is_form_key(key: &str) -> bool {
    (16..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

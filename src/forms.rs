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

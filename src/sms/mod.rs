//! SMS: counting the parts of a message, and pricing it by destination country.

pub mod encoding;
pub mod pricing;

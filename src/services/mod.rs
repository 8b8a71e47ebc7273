//! The paid services: each spends its own credits through `domain::metering`. A service may
//! build on another (Partner Autocomplete and Lead Generation on the company directory,
//! Snailmail and signing on documents).

pub mod contacts;
pub mod digitization;
pub mod directory;
pub mod documents;
pub mod leads;
pub mod partner_autocomplete;
pub mod signing;
pub mod sms;
pub mod snailmail;

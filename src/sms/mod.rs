//! SMS: counting the parts of a message, pricing it by destination country, the carrier
//! gateway, and sending from a contact through a hold on the SMS account.

pub mod encoding;
pub mod gateway;
pub mod pricing;
pub mod sending;

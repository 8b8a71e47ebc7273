//! SMS: counting the parts of a message, pricing it by destination country, the carrier
//! gateway, the message records, and sending from contacts through the common paid-service
//! steps (`metering`).

pub mod api_send;
pub mod encoding;
pub mod gateway;
pub mod history;
pub mod messages;
pub mod pricing;
pub mod sending;
pub mod webhooks;

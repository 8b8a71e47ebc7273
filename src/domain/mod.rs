//! The core of an IAP server: the ledger and its accounts, orders, payments and refunds, the
//! catalog, databases and users, metering (the one way to spend), mail, audit, invoices and
//! automatic top-up. Knows no service and no front door.

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod credit_link;
pub mod invoices;
pub mod ledger;
pub mod mail;
pub mod metering;
pub mod orders;
pub mod payments;
pub mod provider_keys;
pub mod tenancy;
pub mod tokens;
pub mod topup;

//! Integration tests against real PostgreSQL (see `harness`).

mod fixtures;
mod fuzz_inputs;
mod harness;

mod admin;
mod admin_catalog;
mod admin_pages;
mod api;
mod api_holds;
mod bad_input;
mod browser;
mod buying;
mod catalog_pages;
mod cli;
mod contacts;
mod directory;
mod launcher;
mod leads;
mod ledger;
mod ledger_races;
mod mail;
mod mail_delivery;
mod metering;
mod migrations_and_seeding;
mod odoo;
mod pages;
mod partner_autocomplete;
mod payments;
mod privileges;
mod refunds;
mod sessions;
mod sign_in;
mod sms;
mod sms_pages;
mod smtp_sink;
mod table_owners;

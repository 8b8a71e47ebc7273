//! Integration tests against real PostgreSQL (see `harness`).

mod harness;

mod admin;
mod api;
mod browser;
mod buying;
mod catalog_pages;
mod cli;
mod contacts;
mod launcher;
mod ledger;
mod mail;
mod migrations_and_seeding;
mod pages;
mod sms;
mod smtp_sink;
mod table_owners;

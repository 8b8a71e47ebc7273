//! IAP Credits: sells and meters prepaid credits for in-app services.
//!
//! The crate's layout is its architecture, from the ground up; a module imports only from the
//! floors below its own (and from its own floor where the floor says so), which
//! `tests/it/layers.rs` checks:
//!
//! - `kernel`: values every layer shares (credits, money, ids, periods, forms);
//! - `platform`: what the app runs on (PostgreSQL, configuration, metrics, backups);
//! - `domain`: the core of an IAP server (ledger, orders, payments, catalog, tenancy, metering,
//!   mail, …);
//! - `services`: the paid services, spending through `domain::metering`;
//! - `read_models`: what the pages show across services;
//! - `http`: the floor the three front doors share (state, pages, sessions, errors);
//! - `web`, `api`, `odoo`: the three front doors, none of which imports another;
//! - `startup`, `cli`, `demo`: the app, assembled.

pub mod kernel;
pub mod platform;

pub mod domain;
pub mod services;

pub mod read_models;

pub mod http;

pub mod api;
pub mod odoo;
pub mod web;

pub mod cli;
pub mod demo;
pub mod startup;

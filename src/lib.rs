//! IAP Credits: sells and meters prepaid credits for in-app services.

pub mod api;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod contacts;
pub mod credits;
pub mod db;
pub mod demo;
pub mod embedded_pg;
pub mod error;
pub mod forms;
pub mod ledger;
pub mod mail;
pub mod metering;
pub mod money;
pub mod orders;
pub mod payments;
pub mod period;
pub mod read_models;
pub mod schema;
pub mod sms;
mod sql_enum;
pub mod startup;
pub mod tenancy;
pub mod web;

//! IAP Credits: sells and meters prepaid credits for in-app services.

pub mod admin;
pub mod api;
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
pub mod ledger;
pub mod mail;
pub mod orders;
pub mod payments;
pub mod schema;
pub mod sms;
mod sql_enum;
pub mod startup;
pub mod tenancy;
pub mod web;

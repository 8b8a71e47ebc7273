//! Companies an Odoo database buys one by one from the directory: **Lead Enrichment** (the
//! company of a lead's e-mail domain) and **Visitor Reveal** (the company of a website
//! visitor's address), at Lead Generation's prices — the catalog's price per company and per
//! contact — on the common paid-service steps:
//!
//! - the directory was asked first (free: what is not found costs nothing);
//! - **begin**: what the account can pay for is held, and a row written per company handed
//!   over (with its people), in one transaction — the data is in hand, so **settle** captures
//!   their prices at once;
//! - the same company asked again by the database under the same domain or address is handed
//!   over again for nothing (an answer Odoo lost and asks for again is charged once).
//!
//! Owner of `company_lookups`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;

use super::generation::{LeadGenerationWorker, LeadPrices};
use crate::domain::ledger::{self, Actor, IapAccount};
use crate::domain::metering::{self, Job, MeteringError, Request};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{CompanyId, DatabaseId};
use crate::platform::schema::company_lookups;
use crate::services::directory::provider::CompanyDirectory;
use crate::sql_text_enum;

sql_text_enum! {
    /// How a company was asked for.
    pub enum LookupKind {
        /// By a lead's e-mail domain (Odoo's `crm_iap_enrich`).
        Enrichment => "enrichment",
        /// By a website visitor's address (Odoo's `website_crm_iap_reveal`).
        Reveal => "reveal",
    }
}

/// A company found for what was asked, with the people handed over with it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The e-mail domain or the visitor's address.
    pub asked: String,
    pub company_id: CompanyId,
    pub person_ids: Vec<i64>,
}

/// What one found company came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bought {
    /// Paid now, this much.
    Charged(Credits),
    /// Bought before by the database under the same domain or address: free.
    Again,
    /// The account could not pay for it (nor for anything after it): not handed over.
    Unpaid,
}

/// How a batch is paid for when the credits do not cover all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenShort {
    /// Nothing is bought (Lead Enrichment: Odoo's `InsufficientCreditError`).
    BuyNothing,
    /// What the credits cover is bought, in order, up to the first company they do not
    /// (Visitor Reveal: the batch stops with `credit_error`).
    BuyInOrder,
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// `WhenShort::BuyNothing` and too few credits: nothing held or written.
    #[error("not enough credits: {available} available, {needed} needed")]
    InsufficientCredits { available: Credits, needed: Credits },
    #[error(transparent)]
    Metering(MeteringError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

crate::from_metering_error!(LookupError);

/// What one company with `people` people costs.
pub fn price_of(prices: &LeadPrices, people: usize) -> Credits {
    prices.cost(1, i32::try_from(people).unwrap_or(i32::MAX))
}

/// The (asked, company) pairs the database bought before, among `asked`.
fn bought_before(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    kind: LookupKind,
    asked: &[&str],
) -> QueryResult<HashSet<(String, CompanyId)>> {
    Ok(company_lookups::table
        .filter(company_lookups::database_id.eq(database_id))
        .filter(company_lookups::kind.eq(kind))
        .filter(company_lookups::asked.eq_any(asked))
        .select((company_lookups::asked, company_lookups::company_id))
        .load::<(String, CompanyId)>(conn)?
        .into_iter()
        .collect())
}

/// The first key of the advisory locks that serialize a database's lookups (so that two
/// calls asking the same company at once pay once).
const LOOKUP_LOCK: i32 = 0x0100_c0b5;

/// Buys the companies `found` (in order) from the account an Odoo database named: each
/// company's answer, in the same order. Tries again (up to 3 times) when a concurrent spend
/// or purchase changed the figures between the look and the hold.
pub fn buy(
    conn: &mut PgConnection,
    directory: &Arc<dyn CompanyDirectory>,
    account: &IapAccount,
    kind: LookupKind,
    found: &[Found],
    when_short: WhenShort,
) -> Result<Vec<Bought>, LookupError> {
    let prices = LeadPrices::current(conn)?;
    let worker = LeadGenerationWorker(directory.clone());
    let asked: Vec<&str> = found.iter().map(|f| f.asked.as_str()).collect();
    let mut last_short = None;
    for _ in 0..3 {
        let before = bought_before(conn, account.database_id, kind, &asked)?;
        let available = ledger::refresh(conn, account.id)
            .map_err(MeteringError::from)?
            .available();
        let mut answer = Vec::with_capacity(found.len());
        let (mut total, mut needed, mut short) = (0i64, 0i64, false);
        for f in found {
            if before.contains(&(f.asked.clone(), f.company_id)) {
                answer.push(Bought::Again);
                continue;
            }
            let price = price_of(&prices, f.person_ids.len());
            needed += price.units();
            if !short && total + price.units() <= available.units() {
                total += price.units();
                answer.push(Bought::Charged(price));
            } else {
                short = true;
                answer.push(Bought::Unpaid);
            }
        }
        if short && when_short == WhenShort::BuyNothing {
            return Err(LookupError::InsufficientCredits {
                available,
                needed: Credits::from_units(needed),
            });
        }
        if total == 0 {
            return Ok(answer);
        }
        match begin(
            conn,
            (&worker, account),
            kind,
            found,
            &answer,
            &before,
            total,
        ) {
            Ok(job) => {
                metering::run(conn, &worker, job.id)?;
                return Ok(answer);
            }
            Err(MeteringError::InsufficientCredits {
                available, needed, ..
            }) => {
                last_short = Some((available, needed));
            }
            // Another call bought one of them meanwhile: look again.
            Err(MeteringError::Database(diesel::result::Error::RollbackTransaction)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (available, needed) = last_short.unwrap_or((Credits::ZERO, Credits::ZERO));
    Err(LookupError::InsufficientCredits { available, needed })
}

/// Holds `total` and writes a row per company charged, in one transaction.
fn begin(
    conn: &mut PgConnection,
    (worker, account): (&LeadGenerationWorker, &IapAccount),
    kind: LookupKind,
    found: &[Found],
    answer: &[Bought],
    before: &HashSet<(String, CompanyId)>,
    total: i64,
) -> Result<Job, MeteringError> {
    let charged: Vec<(&Found, Credits)> = found
        .iter()
        .zip(answer)
        .filter_map(|(f, b)| match b {
            Bought::Charged(price) => Some((f, *price)),
            _ => None,
        })
        .collect();
    let description = match kind {
        LookupKind::Enrichment => format!("Lead Enrichment (Odoo): {} companies", charged.len()),
        LookupKind::Reveal => format!("Visitor Reveal (Odoo): {} companies", charged.len()),
    };
    let actor = Actor::system("odoo");
    let request = Request {
        database_id: account.database_id,
        account: Some(account.id),
        service: worker,
        credits: Credits::from_units(total),
        hold_ttl: Duration::from_secs(3600),
        description: &description,
        actor: &actor,
    };
    let asked: Vec<&str> = found.iter().map(|f| f.asked.as_str()).collect();
    let (job, _) = metering::begin(conn, &request, |conn, job| {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, ($2 % 2147483647)::int)")
            .bind::<diesel::sql_types::Integer, _>(LOOKUP_LOCK)
            .bind::<diesel::sql_types::BigInt, _>(account.database_id.0)
            .execute(conn)?;
        if bought_before(conn, account.database_id, kind, &asked)? != *before {
            return Err(diesel::result::Error::RollbackTransaction);
        }
        let rows: Vec<_> = charged
            .iter()
            .map(|(f, price)| {
                (
                    company_lookups::job_id.eq(job.id),
                    company_lookups::database_id.eq(account.database_id),
                    company_lookups::account_id.eq(account.id),
                    company_lookups::kind.eq(kind),
                    company_lookups::asked.eq(&f.asked),
                    company_lookups::company_id.eq(f.company_id),
                    company_lookups::person_ids.eq(&f.person_ids),
                    company_lookups::price.eq(*price),
                )
            })
            .collect();
        diesel::insert_into(company_lookups::table)
            .values(&rows)
            .execute(conn)
    })?;
    Ok(job)
}

//! Odoo's "Buy credits" link: `GET /iap/1/credit?dbuuid=…&service_name=…&account_token=…&credit=N`
//! (or, newest, `account_token=<SHA-1 of the token>&hashed=1`), opened in the user's browser
//! without signing in — the link is the credential. This finds (or registers) the account it
//! names and the pack to offer first; the pages are in `web::iap_link`.

use diesel::PgConnection;

use super::tokens::{self, Dbuuid, TokenError, is_token};
use crate::domain::catalog::{self, Pack, Service};
use crate::domain::ledger::{self, IapAccount};
use crate::domain::tenancy;
use crate::kernel::credits::Credits;
use crate::kernel::ids::PackId;

/// The link's query, as sent (every field optional: checked here, not by the extractor).
#[derive(Debug, Default, serde::Deserialize)]
pub struct LinkQuery {
    pub dbuuid: Option<String>,
    pub service_name: Option<String>,
    pub account_token: Option<String>,
    pub credit: Option<String>,
    pub hashed: Option<String>,
    pub trial: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LinkError {
    /// The link is malformed: a page that says which part.
    #[error("{0}")]
    Malformed(String),
    /// The link names no account it may open (unknown, revoked or another database's).
    #[error("This link does not name an account of this IAP server.")]
    UnknownAccount,
    #[error("database error")]
    Database(#[from] diesel::result::Error),
}

/// What the link opens.
#[derive(Debug)]
pub struct Linked {
    pub account: IapAccount,
    pub service: Service,
    pub packs: Vec<Pack>,
    /// The smallest pack that covers the credits the action lacked (else the largest).
    pub preselected: Option<PackId>,
}

fn malformed(what: &str) -> LinkError {
    LinkError::Malformed(format!(
        "This “Buy credits” link is incomplete or damaged: {what}."
    ))
}

/// Finds the account of the link, registering a new plain token as a balance call would.
pub fn resolve(
    conn: &mut PgConnection,
    from: &str,
    query: &LinkQuery,
) -> Result<Linked, LinkError> {
    let service_name = query
        .service_name
        .as_deref()
        .ok_or_else(|| malformed("it names no service"))?;
    let service = catalog::service_by_odoo_name(conn, service_name)?
        .ok_or_else(|| malformed("it names a service this server does not sell"))?;
    let dbuuid = match query.dbuuid.as_deref() {
        None => None,
        Some(text) => Some(Dbuuid::parse(text).ok_or_else(|| malformed("its database id"))?),
    };
    let token = query
        .account_token
        .as_deref()
        .ok_or_else(|| malformed("it names no account"))?;
    let hashed = matches!(query.hashed.as_deref(), Some("1" | "true" | "True"));
    let account = if hashed {
        let is_sha1 = token.len() == 40 && token.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_sha1 {
            return Err(malformed("its hashed account token"));
        }
        let account =
            ledger::accounts::by_token_sha1(conn, token)?.ok_or(LinkError::UnknownAccount)?;
        let same_database = match (&dbuuid, tenancy::dbuuid_of(conn, account.database_id)?) {
            (Some(given), Some(known)) => given.as_str() == known,
            _ => true,
        };
        if account.service_id != service.id || !same_database {
            return Err(LinkError::UnknownAccount);
        }
        account
    } else {
        if !is_token(token) {
            return Err(LinkError::UnknownAccount);
        }
        match tokens::account_for(conn, from, dbuuid.as_ref(), token, Some(&service)) {
            Ok(Some(account)) => account,
            Ok(None)
            | Err(TokenError::Refused(_))
            | Err(TokenError::Ledger(
                ledger::LedgerError::AccountNotFound
                | ledger::LedgerError::UnknownToken
                | ledger::LedgerError::TokenRefused,
            )) => return Err(LinkError::UnknownAccount),
            Err(TokenError::Database(e) | TokenError::Ledger(ledger::LedgerError::Database(e))) => {
                return Err(LinkError::Database(e));
            }
            Err(e @ (TokenError::Throttled(_) | TokenError::Ledger(_))) => {
                return Err(LinkError::Malformed(e.to_string()));
            }
        }
    };
    let account = ledger::refresh(conn, account.id).map_err(|e| match e {
        ledger::LedgerError::Database(e) => LinkError::Database(e),
        _ => LinkError::UnknownAccount,
    })?;
    let packs = catalog::active_packs(conn, service.id)?;
    let lacking = query
        .credit
        .as_deref()
        .and_then(|c| Credits::parse(c.trim()).ok())
        .unwrap_or(Credits::ZERO);
    let preselected = smallest_covering(&packs, lacking);
    Ok(Linked {
        account,
        service,
        packs,
        preselected,
    })
}

/// The smallest pack of at least `lacking` credits, else the largest one.
pub fn smallest_covering(packs: &[Pack], lacking: Credits) -> Option<PackId> {
    packs
        .iter()
        .filter(|p| p.credits >= lacking)
        .min_by_key(|p| p.credits)
        .or_else(|| packs.iter().max_by_key(|p| p.credits))
        .map(|p| p.id)
}

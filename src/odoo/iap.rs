//! The IAP server's calls, as plain functions over a connection and a call's params (the
//! handlers only read the envelope): balance, authorize, capture, cancel. They run on the
//! ledger's own operations — a hold per authorization — so the protocol adds no second way to
//! move credits.

use std::time::Duration;

use diesel::PgConnection;
use serde_json::{Map, Value, json};

use super::Context;
use super::params::{Dbuuid, Params};
use super::rpc::{RpcError, credits_number};
use super::transactions;
use crate::domain::catalog::{self, Service};
use crate::domain::ledger::{self, Actor, HoldStatus, IapAccount, LedgerError};
use crate::domain::provider_keys::{self, ProviderKey};
use crate::domain::tokens::{self, TokenError};
use crate::kernel::credits::Credits;

/// Odoo's default hold, and the longest: 180 days.
pub const MAX_TTL_HOURS: i64 = 4320;
const MAX_DESCRIPTION: usize = 500;

/// Where the "Buy credits" link of an insufficient-credit error points.
pub fn credit_url(base_url: &str) -> String {
    format!("{base_url}/iap/1/credit")
}

/// The account `token` names (registered when new: `tokens::account_for`), as Odoo's errors.
pub fn account_for(
    conn: &mut PgConnection,
    from: &str,
    dbuuid: Option<&Dbuuid>,
    token: &str,
    service: Option<&Service>,
) -> Result<Option<IapAccount>, RpcError> {
    tokens::account_for(conn, from, dbuuid, token, service).map_err(|e| match e {
        TokenError::Refused(why) => RpcError::Access(why.into()),
        TokenError::Throttled(_) => RpcError::User(e.to_string()),
        TokenError::Ledger(e) => ledger_error(e),
        TokenError::Database(e) => e.into(),
    })
}

/// The service Odoo names `service_name`.
fn service_named(conn: &mut PgConnection, params: &Params) -> Result<Service, RpcError> {
    let name = params.string("service_name")?;
    catalog::service_by_odoo_name(conn, name)?
        .ok_or_else(|| RpcError::invalid("service_name", "the name of a service sold here"))
}

/// The provider key of the call.
fn provider_key(conn: &mut PgConnection, params: &Params) -> Result<ProviderKey, RpcError> {
    let key = params.string("key")?;
    provider_keys::authenticate(conn, key)?
        .ok_or_else(|| RpcError::Access("unknown or revoked provider key".into()))
}

fn ledger_error(e: LedgerError) -> RpcError {
    match e {
        LedgerError::Database(e) => e.into(),
        LedgerError::AccountNotFound | LedgerError::UnknownToken | LedgerError::TokenRefused => {
            RpcError::Access(e.to_string())
        }
        other => RpcError::User(other.to_string()),
    }
}

/// `/iap/1/balance`: the credits the account can spend now, as a number.
pub fn balance(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let token = params.token("account_token")?;
    let dbuuid = params.dbuuid("dbuuid")?;
    // The usual call, answered from one statement: a known token, asked as what it is.
    let slug = catalog::slug_for_odoo_name(params.string("service_name")?);
    if let Some(available) = tokens::glance(conn, token)?
        .and_then(|glance| glance.settled_available(&slug, dbuuid.as_ref()))
    {
        return Ok(credits_number(available));
    }
    let service = service_named(conn, &params)?;
    let account = account_for(
        conn,
        &ctx.client_address,
        dbuuid.as_ref(),
        token,
        Some(&service),
    )?
    .ok_or_else(|| RpcError::missing("dbuuid"))?;
    let account = ledger::refresh(conn, account.id).map_err(ledger_error)?;
    Ok(credits_number(account.available()))
}

/// `/iap/1/authorize`: holds `credit` on the account for the key's service; answers the
/// transaction token that capture and cancel name.
pub fn authorize(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let key = provider_key(conn, &params)?;
    let token = params.token("account_token")?;
    let credit = params.credits("credit")?;
    if credit <= Credits::ZERO {
        return Err(RpcError::invalid("credit", "more than 0"));
    }
    let description = params.optional_string("description")?.unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(RpcError::invalid(
            "description",
            &format!("at most {MAX_DESCRIPTION} characters"),
        ));
    }
    let hours = params
        .whole("ttl", 1, MAX_TTL_HOURS)?
        .unwrap_or(MAX_TTL_HOURS);
    let dbuuid = params.dbuuid("dbuuid")?;
    let service = catalog::service_by_id(conn, key.service_id)?;
    let insufficient = |lacking: Credits| RpcError::InsufficientCredit {
        credit: lacking,
        service_name: catalog::odoo_name_for_slug(service.slug.as_str()),
        base_url: credit_url(&ctx.base_url),
    };
    let Some(account) = account_for(
        conn,
        &ctx.client_address,
        dbuuid.as_ref(),
        token,
        Some(&service),
    )?
    else {
        // Never seen: it has no credits yet; the "Buy credits" link registers it.
        return Err(insufficient(credit));
    };
    let ttl = Duration::from_secs(hours as u64 * 3600);
    let actor = Actor::provider_key(key.id);
    let mut attempted = None;
    let held = diesel::Connection::transaction(conn, |conn| {
        let hold = ledger::authorize(conn, account.id, credit, Some(ttl), description, &actor)?;
        let token = transactions::record(conn, hold.id, account.id, key.id)?;
        attempted = Some(token.clone());
        Ok::<_, LedgerError>(token)
    });
    match held {
        Ok(token) => Ok(json!(token)),
        // Cut short, maybe after the COMMIT: the caller will not get this token, so if the
        // hold exists it is released once the database answers again.
        Err(LedgerError::Database(e))
            if crate::platform::outage::outage(&e)
                == Some(crate::platform::outage::Outage::ConnectionLost) =>
        {
            if let Some(token) = attempted {
                transactions::unanswered(token);
            }
            Err(e.into())
        }
        Err(LedgerError::InsufficientCredits { available, .. }) => Err(insufficient(
            Credits::from_units(credit.units() - available.units()),
        )),
        Err(e) => Err(ledger_error(e)),
    }
}

/// The transaction the call names, if the call's key may act on it: only the key that
/// authorized it (another key of the same service does not even learn that it exists).
fn transaction(
    conn: &mut PgConnection,
    params: &Params,
) -> Result<(transactions::Transaction, ProviderKey), RpcError> {
    let key = provider_key(conn, params)?;
    let token = params.string("token")?;
    let unknown = || RpcError::Access("unknown transaction token".into());
    let transaction = transactions::find(conn, token)?
        .filter(|t| t.provider_key_id == key.id)
        .ok_or_else(unknown)?;
    Ok((transaction, key))
}

/// `/iap/1/capture`: posts `credit_to_capture` of the hold (at most what it holds) and releases
/// the rest. A capture already made answers the same and changes nothing.
pub fn capture(
    conn: &mut PgConnection,
    _ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let (transaction, key) = transaction(conn, &params)?;
    let credit = params.credits("credit_to_capture")?;
    let actor = Actor::provider_key(key.id);
    match ledger::capture(
        conn,
        transaction.account_id,
        transaction.hold_id,
        Some(credit),
        &actor,
    ) {
        Ok(_) | Err(LedgerError::HoldClosed(HoldStatus::Captured)) => Ok(json!(true)),
        Err(LedgerError::HoldClosed(_)) => Err(RpcError::User(
            "this transaction was cancelled: nothing can be captured".into(),
        )),
        Err(LedgerError::HoldExpired) => Err(RpcError::User(
            "this transaction expired: its credits were released".into(),
        )),
        Err(LedgerError::CaptureExceedsHold { held }) => Err(RpcError::User(format!(
            "the parameter `credit_to_capture` is more than the {} credits held",
            held.to_display()
        ))),
        Err(e) => Err(ledger_error(e)),
    }
}

/// `/iap/1/cancel`: releases the hold. Cancelling again (or after expiry) answers the same.
pub fn cancel(
    conn: &mut PgConnection,
    _ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let (transaction, key) = transaction(conn, &params)?;
    let actor = Actor::provider_key(key.id);
    match ledger::cancel(conn, transaction.account_id, transaction.hold_id, &actor) {
        Ok(_) => Ok(json!(true)),
        Err(LedgerError::HoldClosed(HoldStatus::Captured)) => Err(RpcError::User(
            "this transaction was captured: it can no longer be cancelled".into(),
        )),
        Err(e) => Err(ledger_error(e)),
    }
}

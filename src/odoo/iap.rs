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
use crate::domain::ledger::batch::holds::{Authorization, Capture, HoldBatcher, Settled};
use crate::domain::ledger::{self, Actor, HoldStatus, IapAccount, LedgerError};
use crate::domain::provider_keys::{self, ProviderKey};
use crate::domain::tokens::{self, TokenError};
use crate::kernel::credits::Credits;
use crate::platform::db::DbPool;

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

/// What an authorization asks for, read from its params (its key apart).
struct HoldAsked {
    account_token: String,
    credit: Credits,
    description: String,
    ttl: Duration,
    dbuuid: Option<Dbuuid>,
}

fn read_hold(params: &Params) -> Result<HoldAsked, RpcError> {
    let account_token = params.token("account_token")?.to_string();
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
    Ok(HoldAsked {
        account_token,
        credit,
        description: description.to_string(),
        ttl: Duration::from_secs(hours as u64 * 3600),
        dbuuid: params.dbuuid("dbuuid")?,
    })
}

/// The answer to an authorization whose transaction token is `transaction`, whichever path
/// ran it.
fn authorized(
    transaction: String,
    credit: Credits,
    base_url: &str,
    held: Result<(), LedgerError>,
) -> Result<Value, RpcError> {
    match held {
        Ok(()) => Ok(json!(transaction)),
        // Cut short, maybe after the COMMIT: the caller will not get this token, so if the
        // hold exists it is released once the database answers again.
        Err(LedgerError::Database(e))
            if crate::platform::outage::outage(&e)
                == Some(crate::platform::outage::Outage::ConnectionLost) =>
        {
            transactions::unanswered(transaction);
            Err(e.into())
        }
        Err(LedgerError::InsufficientCredits {
            available,
            service_slug,
            ..
        }) => Err(insufficient(
            &service_slug,
            base_url,
            Credits::from_units(credit.units() - available.units()),
        )),
        Err(e) => Err(ledger_error(e)),
    }
}

fn insufficient(service_slug: &str, base_url: &str, lacking: Credits) -> RpcError {
    RpcError::InsufficientCredit {
        credit: lacking,
        service_name: catalog::odoo_name_for_slug(service_slug),
        base_url: credit_url(base_url),
    }
}

/// `/iap/1/authorize`, one call at a time: holds `credit` on the account for the key's
/// service; answers the transaction token that capture and cancel name. Registers a new token
/// (when the call says enough) and words each refusal. (The server batches these calls, and
/// sends here what the batch declines: `authorize_batched`.)
pub fn authorize(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let key = provider_key(conn, &params)?;
    let asked = read_hold(&params)?;
    let service = catalog::service_by_id(conn, key.service_id)?;
    let Some(account) = account_for(
        conn,
        &ctx.client_address,
        asked.dbuuid.as_ref(),
        &asked.account_token,
        Some(&service),
    )?
    else {
        // Never seen: it has no credits yet; the "Buy credits" link registers it.
        return Err(insufficient(
            service.slug.as_str(),
            &ctx.base_url,
            asked.credit,
        ));
    };
    let actor = Actor::provider_key(key.id);
    let transaction = transactions::new_token();
    let held = diesel::Connection::transaction(conn, |conn| {
        let hold = ledger::authorize(
            conn,
            account.id,
            asked.credit,
            Some(asked.ttl),
            &asked.description,
            &actor,
        )?;
        transactions::record(conn, &transaction, hold.id, account.id, key.id)?;
        Ok::<_, LedgerError>(())
    });
    authorized(transaction, asked.credit, &ctx.base_url, held)
}

/// `/iap/1/authorize` as the server runs it: through the hold batcher, which group-commits the
/// calls that arrive together and finds their keys itself. A call it declines (a new token,
/// another service's or database's, an unknown key), or one whose params are amiss, goes one
/// at a time, which words each error as it always has.
pub async fn authorize_batched(
    pool: DbPool,
    batcher: HoldBatcher,
    ctx: Context,
    params: Map<String, Value>,
) -> Result<Value, RpcError> {
    let batched = {
        let read = Params(&params);
        key_fingerprint(&read)
            .zip(read_hold(&read).ok())
            .map(|(key, asked)| Authorization {
                dbuuid: asked.dbuuid.map(|d| d.as_str().to_string()),
                amount: asked.credit,
                ttl: asked.ttl,
                description: asked.description,
                transaction: batcher.transaction_token(&asked.account_token),
                account_token: asked.account_token,
                key,
            })
    };
    if let Some(call) = batched {
        let (transaction, credit) = (call.transaction.clone(), call.amount);
        if let Settled::Done(held) = batcher.authorize(call).await {
            return authorized(transaction, credit, &ctx.base_url, held.map(|_| ()));
        }
    }
    blocking(&pool, move |conn| authorize(conn, &ctx, &params)).await
}

/// The fingerprint the batcher finds the call's provider key by, when `key` can be one.
fn key_fingerprint(params: &Params) -> Option<String> {
    params
        .string("key")
        .ok()
        .and_then(provider_keys::fingerprint)
}

/// Runs `f` on a pooled connection, on the blocking pool.
async fn blocking<T: Send + 'static>(
    pool: &DbPool,
    f: impl FnOnce(&mut PgConnection) -> Result<T, RpcError> + Send + 'static,
) -> Result<T, RpcError> {
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await
    .unwrap_or(Err(RpcError::Internal))
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

/// The answer to a capture, whichever path ran it.
fn captured(result: Result<(), LedgerError>) -> Result<Value, RpcError> {
    match result {
        Ok(()) | Err(LedgerError::HoldClosed(HoldStatus::Captured)) => Ok(json!(true)),
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

/// `/iap/1/capture`, one call at a time: posts `credit_to_capture` of the hold (at most what
/// it holds) and releases the rest. A capture already made answers the same and changes
/// nothing. (The server batches these calls: `capture_batched`.)
pub fn capture(
    conn: &mut PgConnection,
    _ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let (transaction, key) = transaction(conn, &params)?;
    let credit = params.credits("credit_to_capture")?;
    let actor = Actor::provider_key(key.id);
    captured(
        ledger::capture(
            conn,
            transaction.account_id,
            transaction.hold_id,
            Some(credit),
            &actor,
        )
        .map(|_| ()),
    )
}

/// `/iap/1/capture` as the server runs it, through the hold batcher; what it declines, or a
/// call whose params are amiss, goes one at a time.
pub async fn capture_batched(
    pool: DbPool,
    batcher: HoldBatcher,
    ctx: Context,
    params: Map<String, Value>,
) -> Result<Value, RpcError> {
    let batched = {
        let read = Params(&params);
        let key = key_fingerprint(&read);
        let transaction = read.string("token").ok().map(str::to_string);
        let amount = read
            .credits("credit_to_capture")
            .ok()
            .filter(|c| *c >= Credits::ZERO);
        key.zip(transaction)
            .zip(amount)
            .map(|((key, transaction), amount)| Capture {
                transaction,
                key,
                amount,
            })
    };
    if let Some(call) = batched
        && let Settled::Done(result) = batcher.capture(call).await
    {
        return captured(result);
    }
    blocking(&pool, move |conn| capture(conn, &ctx, &params)).await
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

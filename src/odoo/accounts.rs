//! What an Odoo database reads and sets of its accounts: the IAP account form's balance,
//! threshold and state (`/iap/1/get-accounts-information`, Odoo 17.2+/18; `/iap/services-token`,
//! 16/17), and its email alerts (`/iap/1/update-warning-email-alerts`, 18;
//! `/iap/update-warning-odoo`, 16/17) — validated exactly as the Account Information form.

use diesel::PgConnection;
use serde_json::{Map, Value, json};

use super::Context;
use super::iap::account_for;
use super::params::{Params, is_token};
use super::rpc::{RpcError, credits_number};
use crate::domain::catalog;
use crate::domain::ledger::accounts::{self, AlertSettings};
use crate::domain::ledger::{self, IapAccount};

/// At most this many accounts in one call (a database has one per service).
const MAX_ACCOUNTS: usize = 100;

fn list<'a>(params: &'a Params, name: &str) -> Result<&'a Vec<Value>, RpcError> {
    match params.0.get(name) {
        Some(Value::Array(items)) if items.len() <= MAX_ACCOUNTS => Ok(items),
        Some(Value::Array(_)) => Err(RpcError::invalid(
            name,
            &format!("a list of at most {MAX_ACCOUNTS} accounts"),
        )),
        None | Some(Value::Null) => Err(RpcError::missing(name)),
        Some(_) => Err(RpcError::invalid(name, "a list")),
    }
}

/// `/iap/1/get-accounts-information`: `{token: {balance, warning_threshold, registered}}` for
/// each `{token, service}` of the call, registering new tokens as a balance call does. Tokens
/// that are not this database's are left out.
pub fn get_accounts_information(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let dbuuid = params.dbuuid("dbuuid")?;
    let mut answer = Map::new();
    for (i, item) in list(&params, "iap_accounts")?.iter().enumerate() {
        let name = format!("iap_accounts[{i}]");
        let Value::Object(fields) = item else {
            return Err(RpcError::invalid(
                &name,
                "an object with `token` and `service`",
            ));
        };
        let item = Params(fields);
        let token = item
            .string("token")
            .map_err(|_| RpcError::invalid(&format!("{name}.token"), "an account token"))?;
        let service_name = item
            .string("service")
            .map_err(|_| RpcError::invalid(&format!("{name}.service"), "a service name"))?;
        let service = catalog::service_by_odoo_name(conn, service_name)?.ok_or_else(|| {
            RpcError::invalid(
                &format!("{name}.service"),
                "the name of a service sold here",
            )
        })?;
        if !is_token(token) {
            continue;
        }
        let account = match account_for(
            conn,
            &ctx.client_address,
            dbuuid.as_ref(),
            token,
            Some(&service),
        ) {
            Ok(account) => account,
            Err(RpcError::Access(_)) => continue,
            Err(e) => return Err(e),
        };
        let information = match account {
            Some(account) => {
                let account =
                    ledger::refresh(conn, account.id).map_err(|e| RpcError::User(e.to_string()))?;
                let mut information = super::auto_refill::information(conn, &account)?;
                information.insert("balance".into(), credits_number(account.available()));
                information.insert(
                    "warning_threshold".into(),
                    credits_number(account.threshold),
                );
                information.insert("registered".into(), json!("registered"));
                Value::Object(information)
            }
            None => json!({"balance": 0.0, "warning_threshold": 0.0, "registered": "unregistered"}),
        };
        answer.insert(token.to_string(), information);
    }
    Ok(Value::Object(answer))
}

/// `/iap/services-token` (16/17): the known accounts among the call's tokens, with their
/// alert settings.
pub fn services_token(
    conn: &mut PgConnection,
    _ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let dbuuid = params.dbuuid("dbuuid")?;
    let mut answer = Vec::new();
    for (i, item) in list(&params, "iap_accounts")?.iter().enumerate() {
        let Value::String(token) = item else {
            return Err(RpcError::invalid(
                &format!("iap_accounts[{i}]"),
                "an account token",
            ));
        };
        if !is_token(token) {
            continue;
        }
        let account = match account_for(conn, "", dbuuid.as_ref(), token, None) {
            Ok(Some(account)) => account,
            Ok(None) | Err(RpcError::Access(_)) => continue,
            Err(e) => return Err(e),
        };
        let account =
            ledger::refresh(conn, account.id).map_err(|e| RpcError::User(e.to_string()))?;
        let service = catalog::service_by_id(conn, account.service_id)?;
        answer.push(json!({
            "account_token": token,
            "balance": credits_number(account.available()),
            "account_uuid_hashed": accounts::token_sha1(token),
            "service_name": catalog::odoo_name_for_slug(service.slug.as_str()),
            "description": service.description,
            "warn_me": account.warn_me,
            "warning_threshold": credits_number(account.threshold),
            "warning_email": account.warning_email,
            "unit_name": "Credits",
        }));
    }
    Ok(Value::Array(answer))
}

/// The known account of the call's `account_token` (and `dbuuid`, when given).
fn known_account(conn: &mut PgConnection, params: &Params) -> Result<IapAccount, RpcError> {
    let token = params.token("account_token")?;
    let dbuuid = params.dbuuid("dbuuid")?;
    account_for(conn, "", dbuuid.as_ref(), token, None)?
        .ok_or_else(|| RpcError::Access("unknown account token".into()))
}

/// The threshold parameter as the form's text, exactly (a number of at most 4 decimals).
fn threshold_text(params: &Params, name: &str) -> Result<String, RpcError> {
    Ok(params.credits(name)?.to_string())
}

/// Saves the alert settings a call asked for. The account token alone may not send the
/// account's warnings to a new address (the token is handed to services and providers):
/// settings that add one answer with a link where an administrator sees them and confirms.
fn save(
    conn: &mut PgConnection,
    ctx: &Context,
    account: &IapAccount,
    warn_me: bool,
    threshold: &str,
    emails: &str,
) -> Result<Value, RpcError> {
    let settings = AlertSettings::parse(warn_me, threshold, emails).map_err(|errors| {
        RpcError::User(
            [errors.threshold, errors.email]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
        )
    })?;
    if adds_an_address(&account.warning_email, &settings.warning_email) {
        let link = format!(
            "{}/iap/accounts/{}?{}#alerts",
            ctx.base_url,
            account.id,
            serde_urlencoded::to_string([
                ("propose", "alerts"),
                ("threshold", &settings.threshold.to_form_text()),
                ("warning_email", &settings.warning_email),
            ])
            .unwrap_or_default()
        );
        return Err(RpcError::User(format!(
            "Warnings to a new address are confirmed by an administrator of this database on the IAP server: {link}"
        )));
    }
    accounts::save_alert_settings(conn, account.id, &settings)?;
    Ok(json!(true))
}

/// Whether `new` (addresses joined by ", ") names an address `old` does not.
fn adds_an_address(old: &str, new: &str) -> bool {
    let set = |list: &str| -> std::collections::BTreeSet<String> {
        list.split(',')
            .map(|a| a.trim().to_lowercase())
            .filter(|a| !a.is_empty())
            .collect()
    };
    !set(new).is_subset(&set(old))
}

/// `/iap/1/update-warning-email-alerts` (18): a threshold and the users to warn; warning is on
/// while anyone is to be warned.
pub fn update_warning_email_alerts(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let account = known_account(conn, &params)?;
    let threshold = threshold_text(&params, "warning_threshold")?;
    let mut emails = Vec::new();
    for (i, item) in list(&params, "warning_emails")?.iter().enumerate() {
        let email = item.get("email").and_then(Value::as_str).ok_or_else(|| {
            RpcError::invalid(&format!("warning_emails[{i}].email"), "an email address")
        })?;
        emails.push(email.to_string());
    }
    save(
        conn,
        ctx,
        &account,
        !emails.is_empty(),
        &threshold,
        &emails.join(", "),
    )
}

/// `/iap/update-warning-odoo` (16/17): Warn Me, Threshold and Warning Email as the form has them.
pub fn update_warning_odoo(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let account = known_account(conn, &params)?;
    let warn_me = params.optional_bool("warn_me")?.unwrap_or(false);
    let threshold = threshold_text(&params, "warning_threshold")?;
    let email = params.optional_string("warning_email")?.unwrap_or_default();
    save(conn, ctx, &account, warn_me, &threshold, email)
}

//! Odoo's SMS API: `/api/sms/3/send` (18), `/iap/sms/3/send` (17) and `/iap/sms/2/send`
//! (13–15). Each number gets its own state; the affordable ones are sent through one hold for
//! the call, captured for what the carrier accepted (`sms::api_send`).

use diesel::PgConnection;
use serde_json::{Map, Value, json};

use super::Context;
use super::iap::account_for;
use super::params::Params;
use super::rpc::{RpcError, credits_number};
use crate::domain::catalog;
use crate::services::sms::api_send::{self, NumberOutcome, NumberRequest};
use crate::services::sms::sending::SendError;

/// The most numbers one call may carry (Odoo sends at most 500).
pub const MAX_NUMBERS: usize = 500;
const MAX_UUID: usize = 64;

fn uuid_ok(uuid: &str) -> bool {
    (1..=MAX_UUID).contains(&uuid.len())
        && uuid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn text<'a>(value: Option<&'a Value>, name: &str, what: &str) -> Result<&'a str, RpcError> {
    match value {
        Some(Value::String(s)) if !s.contains('\0') => Ok(s),
        None | Some(Value::Null) => Err(RpcError::missing(name)),
        Some(_) => Err(RpcError::invalid(name, what)),
    }
}

/// The webhook, if any: an absolute http(s) URL of a public address (checked again on the
/// address it resolves to when the report is sent).
fn webhook(
    params: &Params,
    outbound: &crate::platform::outbound::OutboundPolicy,
) -> Result<Option<String>, RpcError> {
    let Some(text) = params.optional_string("webhook_url")? else {
        return Ok(None);
    };
    let url = url::Url::parse(text.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .filter(|_| text.len() <= 2000)
        .ok_or_else(|| RpcError::invalid("webhook_url", "an http:// or https:// URL"))?;
    outbound
        .check_url(&url)
        .map_err(|_| RpcError::invalid("webhook_url", "a URL of a public address"))?;
    Ok(Some(url.to_string()))
}

/// The database's SMS account of the call (registered on first use).
fn sms_account(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Params,
) -> Result<crate::domain::ledger::IapAccount, RpcError> {
    let token = params.token("account_token")?;
    let dbuuid = params.dbuuid("dbuuid")?;
    let service = catalog::service_by_odoo_name(conn, "sms")?
        .ok_or_else(|| RpcError::User("SMS are not sold on this server".into()))?;
    account_for(
        conn,
        &ctx.client_address,
        dbuuid.as_ref(),
        token,
        Some(&service),
    )?
    .ok_or_else(|| RpcError::Access("unknown account token: send the dbuuid".into()))
}

fn send(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Params,
    requests: &[NumberRequest],
    path_of: impl Fn(usize) -> String,
) -> Result<Vec<NumberOutcome>, RpcError> {
    if requests.len() > MAX_NUMBERS {
        return Err(RpcError::invalid(
            "messages",
            &format!("at most {MAX_NUMBERS} numbers in one call"),
        ));
    }
    let webhook = webhook(params, &ctx.outbound)?;
    let account = sms_account(conn, ctx, params)?;
    if let Err((i, e)) = api_send::check_texts(requests) {
        return Err(RpcError::User(format!(
            "the parameter `{}`: {e}",
            path_of(i)
        )));
    }
    api_send::send(
        conn,
        ctx.sms.as_ref(),
        account.database_id,
        account.id,
        requests,
        webhook.as_deref(),
    )
    .map_err(|e| match e {
        SendError::Database(e) => e.into(),
        other => RpcError::fault(&format!("SMS API send failed: {other}")),
    })
}

/// The call's `messages`, a list.
fn messages_param<'a>(params: &'a Params) -> Result<&'a Vec<Value>, RpcError> {
    match params.0.get("messages") {
        Some(Value::Array(messages)) => Ok(messages),
        None | Some(Value::Null) => Err(RpcError::missing("messages")),
        Some(_) => Err(RpcError::invalid("messages", "a list")),
    }
}

fn outcome_json(outcome: &NumberOutcome, id_name: &str, id: Value) -> Value {
    let mut answer = Map::new();
    answer.insert(id_name.into(), id);
    answer.insert("state".into(), json!(outcome.state.as_str()));
    if let Some(credit) = outcome.credit {
        answer.insert("credit".into(), credits_number(credit));
    }
    Value::Object(answer)
}

/// `/api/sms/3/send` and `/iap/sms/3/send`: `messages: [{content, numbers: [{uuid, number}]}]`
/// → `[{uuid, state, credit}]`, one per number.
pub fn send_v3(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let messages = messages_param(&params)?;
    let mut requests = Vec::new();
    let mut paths = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let content = text(
            message.get("content"),
            &format!("messages[{i}].content"),
            "a text",
        )?;
        let numbers = match message.get("numbers") {
            Some(Value::Array(numbers)) => numbers,
            _ => {
                return Err(RpcError::invalid(
                    &format!("messages[{i}].numbers"),
                    "a list",
                ));
            }
        };
        for (j, number) in numbers.iter().enumerate() {
            let at = format!("messages[{i}].numbers[{j}]");
            let uuid = text(number.get("uuid"), &format!("{at}.uuid"), "a text id")?;
            if !uuid_ok(uuid) {
                return Err(RpcError::invalid(
                    &format!("{at}.uuid"),
                    "1 to 64 letters, digits, - or _",
                ));
            }
            let phone = text(number.get("number"), &format!("{at}.number"), "a text")?;
            requests.push(NumberRequest {
                uuid: uuid.to_string(),
                number: phone.chars().take(64).collect(),
                content: content.to_string(),
            });
            paths.push(format!("messages[{i}].content"));
            if requests.len() > MAX_NUMBERS {
                break;
            }
        }
    }
    let outcomes = send(conn, ctx, &params, &requests, |i| paths[i].clone())?;
    Ok(Value::Array(
        outcomes
            .iter()
            .map(|o| outcome_json(o, "uuid", json!(o.uuid)))
            .collect(),
    ))
}

/// `/iap/sms/2/send` (13–15): `messages: [{res_id, number, content}]` → `[{res_id, state,
/// credit}]`. The `res_id` (the database's record id) stands for the uuid.
pub fn send_v2(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let messages = messages_param(&params)?;
    let mut requests = Vec::new();
    let mut ids = Vec::new();
    for (i, message) in messages.iter().take(MAX_NUMBERS + 1).enumerate() {
        let at = format!("messages[{i}]");
        let res_id = match message.get("res_id") {
            Some(Value::Number(n)) if n.as_u64().is_some() => n.to_string(),
            Some(Value::String(s)) if uuid_ok(s) => s.clone(),
            _ => return Err(RpcError::invalid(&format!("{at}.res_id"), "a record id")),
        };
        let content = text(message.get("content"), &format!("{at}.content"), "a text")?;
        let phone = text(message.get("number"), &format!("{at}.number"), "a text")?;
        ids.push(message.get("res_id").cloned().unwrap_or(Value::Null));
        requests.push(NumberRequest {
            uuid: format!("v2-{res_id}"),
            number: phone.chars().take(64).collect(),
            content: content.to_string(),
        });
    }
    let outcomes = send(conn, ctx, &params, &requests, |i| {
        format!("messages[{i}].content")
    })?;
    Ok(Value::Array(
        outcomes
            .iter()
            .zip(ids)
            .map(|(o, id)| outcome_json(o, "res_id", id))
            .collect(),
    ))
}

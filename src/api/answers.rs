//! The JSON answers the API sends for accounts, holds and charges. A leaf of `api/`: the charge
//! batcher's renderer lives here, so that building the app state needs no handler.

use std::sync::Arc;

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::ledger::batch::{ChargeResult, Render};
use crate::ledger::idempotency::StoredResponse;
use crate::ledger::{Hold, IapAccount};

pub fn balances(account: &IapAccount) -> Value {
    json!({
        "balance": account.balance.to_string(),
        "reserved": account.reserved.to_string(),
        "available": account.available().to_string(),
    })
}

pub fn hold_json(hold: &Hold) -> Value {
    json!({
        "id": hold.id,
        "credits": hold.amount.to_string(),
        "captured": hold.captured.to_string(),
        "status": hold.status.as_str(),
        "description": hold.description,
        "expires_at": hold.expires_at,
        "created_at": hold.created_at,
    })
}

pub fn with_balances(mut body: Value, account: &IapAccount) -> Value {
    if let (Some(body), Some(b)) = (body.as_object_mut(), balances(account).as_object()) {
        body.extend(b.clone());
    }
    body
}

/// How the charge batcher turns a charge's result into the stored (and sent) answer.
pub fn charge_renderer(base_url: String) -> Render {
    Arc::new(move |result: &ChargeResult| match result {
        Ok(charged) => Some(StoredResponse {
            status: StatusCode::CREATED.as_u16(),
            body: with_balances(json!({ "entry": charged.entry }), &charged.account).to_string(),
        }),
        Err(e) => ApiError::from_ledger(e, &base_url).map(|api_error| api_error.to_stored()),
    })
}

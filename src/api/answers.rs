//! What the API reads and answers, as types: the handlers build their JSON from them and the
//! OpenAPI document (`doc.rs`) describes them. A leaf of `api/`: the charge batcher's renderer
//! lives here, so that building the app state needs no handler.
//!
//! Credits are written as decimal strings with four places ("12.5000"): exact, unlike a JSON
//! number read as a float.

use std::sync::Arc;

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::ApiError;
use crate::domain::ledger::batch::{ChargeResult, Render};
use crate::domain::ledger::idempotency::StoredResponse;
use crate::domain::ledger::{Hold, HoldStatus, IapAccount, LedgerEntry};

/// An account's credits now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Balances {
    /// Credits on the account, the reserved ones included.
    #[schema(example = "120.0000")]
    pub balance: String,
    /// Credits held by open holds.
    #[schema(example = "4.0000")]
    pub reserved: String,
    /// What a charge or a new hold may take: balance minus reserved.
    #[schema(example = "116.0000")]
    pub available: String,
}

impl Balances {
    pub fn of(account: &IapAccount) -> Self {
        Balances {
            balance: account.balance.to_string(),
            reserved: account.reserved.to_string(),
            available: account.available().to_string(),
        }
    }
}

/// `GET /api/v1/balance`: the account's service and credits.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceAnswer {
    /// The service the account pays for (its catalog slug).
    #[schema(example = "sms")]
    pub service: String,
    #[serde(flatten)]
    pub balances: Balances,
}

/// A ledger row: one change of the account's balance or reserved credits.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entry {
    pub id: i64,
    pub account_id: i64,
    /// purchase, trial, charge, hold, capture, release, expiry, adjustment or refund.
    #[schema(example = "charge")]
    pub kind: String,
    /// Change of the balance (negative for a debit).
    #[schema(example = "-1.0000")]
    pub amount: String,
    /// Change of the reserved credits.
    #[schema(example = "0.0000")]
    pub reserved_change: String,
    #[schema(example = "119.0000")]
    pub balance_after: String,
    #[schema(example = "0.0000")]
    pub reserved_after: String,
    pub hold_id: Option<i64>,
    pub order_id: Option<i64>,
    /// Who made it (`api:<account>` for this API).
    pub actor: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

impl From<&LedgerEntry> for Entry {
    fn from(e: &LedgerEntry) -> Self {
        Entry {
            id: e.id,
            account_id: e.account_id.0,
            kind: e.kind.as_str().to_string(),
            amount: e.amount.to_string(),
            reserved_change: e.reserved_change.to_string(),
            balance_after: e.balance_after.to_string(),
            reserved_after: e.reserved_after.to_string(),
            hold_id: e.hold_id.map(|h| h.0),
            order_id: e.order_id.map(|o| o.0),
            actor: e.actor.clone(),
            description: e.description.clone(),
            created_at: e.created_at,
        }
    }
}

/// Where a hold stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HoldState {
    Active,
    Captured,
    Cancelled,
    Expired,
}

impl From<HoldStatus> for HoldState {
    fn from(status: HoldStatus) -> Self {
        match status {
            HoldStatus::Active => HoldState::Active,
            HoldStatus::Captured => HoldState::Captured,
            HoldStatus::Cancelled => HoldState::Cancelled,
            HoldStatus::Expired => HoldState::Expired,
        }
    }
}

/// Credits reserved for a use to come, until captured, cancelled or expired.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldAnswer {
    pub id: i64,
    /// Credits the hold reserves.
    #[schema(example = "4.0000")]
    pub credits: String,
    /// Credits posted by its capture (0 until then).
    #[schema(example = "0.0000")]
    pub captured: String,
    pub status: HoldState,
    pub description: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl From<&Hold> for HoldAnswer {
    fn from(hold: &Hold) -> Self {
        HoldAnswer {
            id: hold.id.0,
            credits: hold.amount.to_string(),
            captured: hold.captured.to_string(),
            status: hold.status.into(),
            description: hold.description.clone(),
            expires_at: hold.expires_at,
            created_at: hold.created_at,
        }
    }
}

/// `POST /api/v1/holds`: the new hold and the account after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldCreated {
    #[serde(flatten)]
    pub hold: HoldAnswer,
    #[serde(flatten)]
    pub balances: Balances,
}

/// `POST /api/v1/charges`: the charge's ledger row and the account after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChargeCreated {
    pub entry: Entry,
    #[serde(flatten)]
    pub balances: Balances,
}

/// `POST /api/v1/holds/{id}/capture`: the hold, the rows its capture wrote (the posted part and
/// the released rest) and the account after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldCaptured {
    pub hold: HoldAnswer,
    pub entries: Vec<Entry>,
    #[serde(flatten)]
    pub balances: Balances,
}

/// `POST /api/v1/holds/{id}/cancel`: the hold and the account after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldCancelled {
    pub hold: HoldAnswer,
    #[serde(flatten)]
    pub balances: Balances,
}

/// `GET /api/v1/transactions`: a page of the ledger, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionsPage {
    pub transactions: Vec<Entry>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<i64>,
}

/// Credits in a request: a decimal string ("12.5", at most four decimals) or a JSON number,
/// read from its decimal form (never through a float).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CreditsAmount {
    Text(String),
    Number(f64),
}

/// `POST /api/v1/charges`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequestBody {
    #[schema(value_type = CreditsAmount)]
    pub credits: Value,
    /// At most 500 characters.
    pub description: Option<String>,
}

/// `POST /api/v1/holds`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequestBody {
    #[schema(value_type = CreditsAmount)]
    pub credits: Value,
    /// From 1 second to 180 days; 10 minutes when left out.
    #[schema(value_type = Option<u64>)]
    pub expires_in_seconds: Option<Value>,
    /// At most 500 characters.
    pub description: Option<String>,
}

/// `POST /api/v1/holds/{id}/capture` (the body may be left out: all of the hold is posted).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequestBody {
    /// What to post, at most the hold; the rest is released. All of it when left out.
    #[schema(value_type = Option<CreditsAmount>)]
    pub credits: Option<Value>,
}

/// JSON of an answer type (these cannot fail to serialise: no maps with non-string keys).
pub fn to_json<T: Serialize>(answer: &T) -> String {
    serde_json::to_string(answer).unwrap_or_else(|e| {
        tracing::error!("an API answer could not be written: {e}");
        String::from("{}")
    })
}

/// How the charge batcher turns a charge's result into the stored (and sent) answer.
pub fn charge_renderer(base_url: String) -> Render {
    Arc::new(move |result: &ChargeResult| match result {
        Ok(charged) => Some(StoredResponse {
            status: StatusCode::CREATED.as_u16(),
            body: to_json(&ChargeCreated {
                entry: Entry::from(&charged.entry),
                balances: Balances::of(&charged.account),
            }),
        }),
        Err(e) => ApiError::from_ledger(e, &base_url).map(|api_error| api_error.to_stored()),
    })
}

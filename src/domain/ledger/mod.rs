//! The credits ledger: IAP accounts with exact balances, an append-only ledger written in the
//! same transaction as every balance change, two-phase holds with expiry, idempotent retries,
//! and a verifier of the invariants. No HTTP here: pages, the API and the CLI call these
//! functions, and nothing outside this module writes ledger rows.

pub mod accounts;
pub mod adjustments;
pub mod batch;
pub mod entries;
pub mod forecast;
pub mod history;
pub mod holds;
pub mod idempotency;
pub mod operations;
pub mod transactions;
pub mod transfers;
pub mod usage;
pub mod verify;

pub use accounts::IapAccount;
pub use entries::{EntryKind, LedgerEntry};
pub use holds::{Hold, HoldStatus};
pub use operations::{
    GrantKind, adjust, authorize, cancel, capture, charge, expire_due_holds, grant, move_credits,
    refresh, refund, refund_refused, unused_credits_of_order,
};

use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, OrderId, UserId};

/// Who or what caused a change, as recorded on its ledger rows ("user:12", "cli", …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    pub fn user(user_id: UserId) -> Self {
        Actor(format!("user:{user_id}"))
    }
    /// An operator's action appears on ledger rows as the operator's user.
    pub fn operator(operator: &crate::domain::audit::Operator) -> Self {
        Actor::user(operator.user_id)
    }
    pub fn api(account_id: AccountId) -> Self {
        Actor(format!("api:account:{account_id}"))
    }
    pub fn order(order_id: OrderId) -> Self {
        Actor(format!("order:{order_id}"))
    }
    /// A service provider, through one of its keys (Odoo's protocol).
    pub fn provider_key(key_id: i64) -> Self {
        Actor(format!("provider:key:{key_id}"))
    }
    pub fn cli() -> Self {
        Actor("cli".into())
    }
    pub fn system(what: &str) -> Self {
        Actor(format!("system:{what}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("not enough credits: {available} available, {requested} needed")]
    InsufficientCredits {
        account_id: AccountId,
        service_slug: String,
        available: Credits,
        requested: Credits,
    },
    #[error("an amount of credits must be greater than zero")]
    ZeroAmount,
    #[error("an adjustment needs a reason")]
    MissingReason,
    #[error("a hold lasts between 1 second and {} days", holds::MAX_HOLD_TTL.as_secs() / 86_400)]
    InvalidExpiry,
    #[error("no such hold")]
    HoldNotFound,
    #[error("the hold expired and its credits were released")]
    HoldExpired,
    #[error("the hold is already {0}")]
    HoldClosed(HoldStatus),
    #[error("a capture cannot exceed the {held} credits held")]
    CaptureExceedsHold { held: Credits },
    #[error("only {refundable} credits of this order are unused and can be refunded")]
    RefundExceedsUnused { refundable: Credits },
    #[error("no such account")]
    AccountNotFound,
    #[error("no account has this token")]
    UnknownToken,
    #[error(
        "this token belongs to another account, or the database already has this service's account under another token"
    )]
    TokenRefused,
    #[error("credits can only move between two different accounts")]
    SameAccount,
    #[error("the result would exceed the largest balance an account can hold")]
    Overflow,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

//! API errors: always a JSON body `{"error": {"code", "message", …}}` with a 4xx status for
//! anything the caller can fix, and a bare 500 (details logged, never sent) otherwise.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ledger::LedgerError;
use crate::domain::ledger::idempotency::StoredResponse;
use crate::platform::outage::{Outage, outage};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Every error: a JSON object whose `error.code` a program can rely on.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorAnswer {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// malformed_request, invalid_amount, invalid_description, invalid_expiry, unauthorized,
    /// not_found, insufficient_credits, hold_expired, hold_closed, idempotency_conflict,
    /// unavailable (503: nothing was done), outcome_unknown (503: retry with the same
    /// Idempotency-Key) or internal_error.
    #[schema(example = "insufficient_credits")]
    pub code: String,
    /// For people: what went wrong and what to do.
    pub message: String,
    /// With insufficient_credits: the credits available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<String>,
    /// With insufficient_credits: the credits asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested: Option<String>,
    /// With insufficient_credits: where the account's users buy credits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buy_url: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// With `insufficient_credits`: (available, requested, buy_url).
    pub shortfall: Option<(String, String, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            shortfall: None,
        }
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_request", message)
    }

    pub fn invalid_amount(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount", message)
    }

    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the account token as `Authorization: Bearer <token>`",
        )
    }

    pub fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an unexpected error occurred",
        )
    }

    /// The database server went away: 503 with `Retry-After`. `outcome_unknown` when the
    /// request may have been committed (its retry with the same Idempotency-Key tells),
    /// `unavailable` when nothing was done.
    pub fn outage(outage: Outage) -> Self {
        match outage {
            Outage::NoPrimary => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                crate::platform::outage::SWITCHING_OVER,
            ),
            Outage::ConnectionLost => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "outcome_unknown",
                crate::platform::outage::OUTCOME_UNKNOWN,
            ),
        }
    }

    /// A ledger error that is not the caller's: an outage (503) or our fault (500, logged).
    pub fn fault(error: &LedgerError) -> Self {
        match error {
            LedgerError::Database(e) => {
                if let Some(outage) = outage(e) {
                    tracing::warn!("database outage: {e}");
                    return ApiError::outage(outage);
                }
                tracing::error!("database error: {e}");
                ApiError::internal()
            }
            other => {
                tracing::error!("unexpected ledger error: {other}");
                ApiError::internal()
            }
        }
    }

    pub fn body(&self) -> ErrorAnswer {
        let (available, requested, buy_url) = match self.shortfall.clone() {
            Some((available, requested, buy_url)) => {
                (Some(available), Some(requested), Some(buy_url))
            }
            None => (None, None, None),
        };
        ErrorAnswer {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
                available,
                requested,
                buy_url,
            },
        }
    }

    pub fn to_stored(&self) -> StoredResponse {
        StoredResponse {
            status: self.status.as_u16(),
            body: serde_json::to_string(&self.body()).unwrap_or_default(),
        }
    }

    /// The caller-facing form of a ledger error; `None` for faults (database errors).
    pub fn from_ledger(error: &LedgerError, base_url: &str) -> Option<Self> {
        use StatusCode as S;
        Some(match error {
            LedgerError::InsufficientCredits {
                account_id,
                available,
                requested,
                ..
            } => ApiError {
                shortfall: Some((
                    available.to_string(),
                    requested.to_string(),
                    format!("{base_url}/iap/accounts/{account_id}/buy"),
                )),
                ..ApiError::new(
                    S::PAYMENT_REQUIRED,
                    "insufficient_credits",
                    error.to_string(),
                )
            },
            LedgerError::ZeroAmount
            | LedgerError::CaptureExceedsHold { .. }
            | LedgerError::RefundExceedsUnused { .. }
            | LedgerError::Overflow
            | LedgerError::SameAccount => ApiError::invalid_amount(error.to_string()),
            LedgerError::InvalidExpiry => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "invalid_expiry", error.to_string())
            }
            LedgerError::MissingReason => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "missing_reason", error.to_string())
            }
            LedgerError::HoldNotFound | LedgerError::AccountNotFound => ApiError::not_found(),
            LedgerError::UnknownToken | LedgerError::TokenRefused => ApiError::unauthorized(),
            LedgerError::HoldExpired => {
                ApiError::new(S::CONFLICT, "hold_expired", error.to_string())
            }
            LedgerError::HoldClosed(_) => {
                ApiError::new(S::CONFLICT, "hold_closed", error.to_string())
            }
            LedgerError::Database(_) => return None,
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((
                "Retry-After",
                crate::platform::outage::RETRY_AFTER_SECONDS.to_string(),
            ));
        }
        response.json(self.body())
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        tracing::warn!("database unavailable: {e}");
        ApiError::outage(Outage::NoPrimary)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        ApiError::fault(&LedgerError::Database(e))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        tracing::error!("blocking task failed: {e}");
        ApiError::internal()
    }
}

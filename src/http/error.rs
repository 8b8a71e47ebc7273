//! The web layer's one error type, and the one place where domain errors become it. Its
//! `ResponseError` impl (in `web::error_page`) decides the status and renders the page.

use crate::kernel::ids::AccountId;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("page not found")]
    NotFound,
    #[error("sign-in required")]
    SignInRequired { next: String },
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A request that cannot be read as sent (a form that does not parse, a NUL byte).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("the request is too large")]
    TooLarge,
    /// The thing is busy with an earlier request (a payment under way).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Too few credits for what the user asked: the page offers to buy more.
    #[error("not enough credits: {available} available")]
    InsufficientCredits {
        account_id: AccountId,
        service_name: String,
        available: crate::kernel::credits::Credits,
    },
    /// An Odoo "Buy credits" link that is damaged (400) or names no account here (404).
    #[error("bad buy link: {0}")]
    BadLink(String),
    #[error("unknown account in a buy link")]
    UnknownLink,
    /// Too many wrong credentials from one address: try again after a while.
    #[error("too many attempts")]
    TooManyAttempts,
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A bounded resource (the document reader) is full: try again in a few seconds.
    #[error("busy: {0}")]
    Busy(&'static str),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("template error: {0}")]
    Render(#[from] askama::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::domain::credit_link::LinkError> for AppError {
    fn from(e: crate::domain::credit_link::LinkError) -> Self {
        use crate::domain::credit_link::LinkError as L;
        match e {
            L::Malformed(why) => AppError::BadLink(why),
            L::UnknownAccount => AppError::UnknownLink,
            L::Database(e) => AppError::Database(e),
        }
    }
}

impl From<crate::services::documents::gate::Busy> for AppError {
    fn from(e: crate::services::documents::gate::Busy) -> Self {
        AppError::Busy(e.message())
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        AppError::Unavailable(e.to_string())
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::Internal(e.to_string())
    }
}

// The one place where domain errors become the web layer's: what a visitor can cause is a
// 404 (something that is not theirs or not there) or the "buy credits" page; the rest is a
// fault of ours.

impl From<crate::domain::ledger::LedgerError> for AppError {
    fn from(e: crate::domain::ledger::LedgerError) -> Self {
        use crate::domain::ledger::LedgerError as L;
        match e {
            L::AccountNotFound | L::HoldNotFound => AppError::NotFound,
            L::InsufficientCredits {
                account_id,
                service_slug,
                available,
                ..
            } => AppError::InsufficientCredits {
                account_id,
                service_name: service_slug,
                available,
            },
            L::Database(e) => AppError::Database(e),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<crate::domain::orders::OrderError> for AppError {
    fn from(e: crate::domain::orders::OrderError) -> Self {
        use crate::domain::orders::OrderError as O;
        match e {
            O::NotFound | O::PackUnavailable => AppError::NotFound,
            O::PaymentUnderWay => AppError::Conflict(
                "A payment of this order is under way. Look at your orders again in a moment.",
            ),
            O::Ledger(e) => e.into(),
            O::Database(e) => AppError::Database(e),
        }
    }
}

impl From<crate::domain::orders::refunds::RefundError> for AppError {
    fn from(e: crate::domain::orders::refunds::RefundError) -> Self {
        use crate::domain::orders::refunds::RefundError as R;
        match e {
            R::NotFound => AppError::NotFound,
            R::Ledger(e) => e.into(),
            R::Database(e) => AppError::Database(e),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<crate::kernel::forms::FormError> for AppError {
    fn from(e: crate::kernel::forms::FormError) -> Self {
        use crate::kernel::forms::FormError as F;
        match e {
            F::NotFound => AppError::NotFound,
            F::Database(e) => AppError::Database(e),
            // Handlers show field errors on their form; one reaching here is our mistake.
            F::Invalid(errors) => AppError::Internal(format!("unexpected form errors: {errors:?}")),
        }
    }
}

impl From<crate::services::sms::sending::SendError> for AppError {
    fn from(e: crate::services::sms::sending::SendError) -> Self {
        use crate::services::sms::sending::SendError as S;
        match e {
            S::ContactNotFound => AppError::NotFound,
            S::Database(e) => AppError::Database(e),
            S::InsufficientCredits {
                account_id,
                available,
                ..
            } => AppError::InsufficientCredits {
                account_id,
                service_name: "SMS".into(),
                available,
            },
            other => AppError::Internal(other.to_string()),
        }
    }
}

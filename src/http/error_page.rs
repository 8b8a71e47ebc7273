//! How an `AppError` answers: the status code, and our own HTML error page (with a Buy Credits
//! link when credits ran short). Details of server faults go to the log, never to the visitor.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::page::Nav;
use crate::http::error::AppError;
use crate::platform::outage::{Outage, in_message, outage};

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Nav,
    status: u16,
    title: &'a str,
    message: &'a str,
    /// The Buy Credits page of the account that ran short.
    buy_link: Option<String>,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::SignInRequired { .. } => StatusCode::SEE_OTHER,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::BadLink(_) => StatusCode::BAD_REQUEST,
            AppError::UnknownLink => StatusCode::NOT_FOUND,
            AppError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            AppError::InsufficientCredits { .. } => StatusCode::PAYMENT_REQUIRED,
            AppError::Unavailable(_) | AppError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Database(e) if outage(e).is_some() => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(text) if in_message(text).is_some() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Database(_) | AppError::Render(_) | AppError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let AppError::SignInRequired { next } = self {
            let next: String = url_encode(next);
            return HttpResponse::SeeOther()
                .insert_header(("Location", format!("/login?next={next}")))
                .finish();
        }
        let shortfall;
        let (title, message) = match self {
            AppError::InsufficientCredits {
                service_name,
                available,
                ..
            } => {
                shortfall = format!(
                    "Your {service_name} account has {} available, which is not enough for this. Buy credits to continue; they are available at once.",
                    available.with_unit()
                );
                ("Not enough credits", shortfall.as_str())
            }
            AppError::NotFound => (
                "Page not found",
                "There is nothing at this address. It may have moved, or the link may be mistyped.",
            ),
            AppError::Forbidden(why) => ("Not allowed", *why),
            AppError::BadRequest(why) => ("This request cannot be read", *why),
            AppError::Conflict(why) => ("Please wait", *why),
            AppError::BadLink(why) => ("This link cannot be used", why.as_str()),
            AppError::UnknownLink => (
                "Account not found",
                "This “Buy credits” link does not name an account of this IAP server. Open Buy credits again from your Odoo database.",
            ),
            AppError::TooManyAttempts => (
                "Too many attempts",
                "Too many links that name no account came from your address. Try again in a few minutes.",
            ),
            AppError::TooLarge => (
                "Too large",
                "What was sent is larger than this page accepts. Shorten it and try again.",
            ),
            AppError::Busy(why) => ("Busy", *why),
            AppError::Unavailable(_) => (
                "Switching over",
                "The service is switching over to another database server. Nothing was done; try again in a few seconds.",
            ),
            AppError::Internal(text) if in_message(text).is_some() => (
                "Switching over",
                "The service is switching over to another database server and this request was cut short: what you sent may or may not have been saved. Look again in a few seconds before sending it again; a form sent twice still takes effect once.",
            ),
            AppError::Database(e) => match outage(e) {
                Some(Outage::NoPrimary) => (
                    "Switching over",
                    "The service is switching over to another database server. Nothing was done; try again in a few seconds.",
                ),
                Some(Outage::ConnectionLost) => (
                    "Switching over",
                    "The service is switching over to another database server and this request was cut short: what you sent may or may not have been saved. Look again in a few seconds before sending it again; a form sent twice still takes effect once.",
                ),
                None => (
                    "Something went wrong",
                    "An unexpected error occurred on our side. Nothing was charged; please try again.",
                ),
            },
            _ => (
                "Something went wrong",
                "An unexpected error occurred on our side. Nothing was charged; please try again.",
            ),
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %self, "request answered 503");
        } else if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let page = ErrorPage {
            nav: Nav::anonymous(),
            status: status.as_u16(),
            title,
            message,
            buy_link: match self {
                AppError::InsufficientCredits { account_id, .. } => {
                    Some(format!("/iap/accounts/{account_id}/buy"))
                }
                _ => None,
            },
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{} {title}", status.as_u16()));
        let mut response = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((
                "Retry-After",
                crate::platform::outage::RETRY_AFTER_SECONDS.to_string(),
            ));
        }
        response.content_type(ContentType::html()).body(body)
    }
}

fn url_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_few_credits_offer_a_way_to_buy_more() {
        let error = AppError::InsufficientCredits {
            account_id: crate::kernel::ids::AccountId(7),
            service_name: "SMS".into(),
            available: crate::kernel::credits::Credits::parse("0.5").unwrap(),
        };
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
        let body = actix_web::body::to_bytes(response.into_body());
        let body = body_text(body);
        assert!(
            body.contains("Your SMS account has 0.5 credits available"),
            "{body}"
        );
        assert!(
            body.contains(
                r#"href="/iap/accounts/7/buy" target="_blank" rel="noopener">Buy Credits</a>"#
            ),
            "{body}"
        );
    }

    fn body_text<
        F: std::future::Future<Output = Result<actix_web::web::Bytes, E>>,
        E: std::fmt::Debug,
    >(
        f: F,
    ) -> String {
        let bytes = actix_web::rt::System::new().block_on(f).unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}

//! Sign in (`/login`) and sign out (`/logout`).

use crate::http::page;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::auth::sign_in::{self, SignInError};
use crate::domain::auth::{session, sessions};
use crate::http::error::AppError;
use crate::http::session::CsrfForm;
use crate::http::state::{AppState, with_conn};
use page::Nav;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Nav,
    csrf: String,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Where a browser goes after signing in when `next` is not a path of this site.
const DEFAULT_NEXT: &str = "/iap/accounts";

/// Only paths of this site are followed after signing in (no open redirect). `next` is read
/// as a URL relative to our own origin, the way a browser resolves a `Location`, and kept only
/// when it stays on that origin; anything a browser might strip or reinterpret (control
/// characters, white space, backslashes), typed or percent-encoded, sends to the default page.
fn safe_next(next: Option<&str>) -> String {
    local_path(next).unwrap_or_else(|| DEFAULT_NEXT.into())
}

/// `path` if it is a path of this site that a browser follows as such (see `safe_next`).
pub fn local_path(path: Option<&str>) -> Option<String> {
    let next = path.filter(|n| n.starts_with('/'))?;
    let decoded = percent_encoding::percent_decode_str(next).decode_utf8_lossy();
    let unsafe_char = |c: char| c.is_control() || c.is_whitespace() || c == '\\';
    if next.chars().any(unsafe_char) || decoded.chars().any(unsafe_char) {
        return None;
    }
    let ours = url::Url::parse("http://this-site.invalid/").ok()?;
    match ours.join(next) {
        Ok(target) if target.origin() == ours.origin() => {
            Some(target[url::Position::BeforePath..].to_string())
        }
        _ => None,
    }
}

pub async fn form(
    session: Session,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    page::render(&LoginPage {
        nav: Nav::anonymous(),
        csrf: session::csrf_token(&session),
        email: String::new(),
        next: safe_next(query.next.as_deref()),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    req: actix_web::HttpRequest,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(form.next.as_deref());
    let (email, password) = (form.email.clone(), form.password);
    // The TCP peer, or what a trusted proxy says it saw (never what the client wrote).
    let address = crate::http::client::address(&req);
    let outcome = with_conn(&state, move |conn| {
        Ok(match sign_in::sign_in(conn, &address, &email, &password) {
            Ok(user) => Ok(sessions::start(conn, user.id, chrono::Utc::now())?),
            Err(refused) => Err(refused),
        })
    })
    .await?;
    match outcome {
        Ok(session_id) => {
            session::begin(&session, &session_id);
            Ok(page::see_other(next))
        }
        Err(SignInError::Database(e)) => Err(e.into()),
        Err(refused) => {
            let status = match refused {
                SignInError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            let page = LoginPage {
                nav: Nav::anonymous(),
                csrf: session::csrf_token(&session),
                email: form.email,
                next,
                error: Some(refused.to_string()),
            };
            page::render_with_status(&page, status)
        }
    }
}

/// Signing out ends the server-side session too: a copy of the cookie stops working.
pub async fn logout(
    state: web::Data<AppState>,
    session: Session,
    _form: CsrfForm<page::EmptyForm>,
) -> Result<HttpResponse, AppError> {
    if let Some(session_id) = session::session_id(&session) {
        with_conn(&state, move |conn| {
            Ok(sessions::end(conn, &session_id, chrono::Utc::now())?)
        })
        .await?;
    }
    session::end(&session);
    Ok(page::see_other("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_followed() {
        for (next, expected) in [
            ("/settings", "/settings"),
            (
                "/iap/accounts/3?before=10#history",
                "/iap/accounts/3?before=10#history",
            ),
            ("/%2F/still/ours", "/%2F/still/ours"),
            ("https://evil.example/", DEFAULT_NEXT),
            ("//evil.example", DEFAULT_NEXT),
            ("/%09/evil.example", DEFAULT_NEXT),
            ("/\t/evil.example", DEFAULT_NEXT),
            ("/\\evil.example", DEFAULT_NEXT),
            ("/%5Cevil.example", DEFAULT_NEXT),
            ("/settings\r\nSet-Cookie: x=1", DEFAULT_NEXT),
            ("/%0d%0aSet-Cookie:x", DEFAULT_NEXT),
            ("/ /evil.example", DEFAULT_NEXT),
            ("javascript:alert(1)", DEFAULT_NEXT),
            ("", DEFAULT_NEXT),
        ] {
            assert_eq!(safe_next(Some(next)), expected, "{next:?}");
        }
        assert_eq!(safe_next(None), DEFAULT_NEXT);
    }
}

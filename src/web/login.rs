//! Sign in (`/login`) and sign out (`/logout`).

use crate::web::page;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::session::CsrfForm;
use crate::auth::session;
use crate::auth::sign_in::{self, SignInError};
use crate::error::AppError;
use crate::web::state::{AppState, with_conn};
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

/// Only paths of this site are followed after signing in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_string()
        }
        _ => "/iap/accounts".to_string(),
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
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(form.next.as_deref());
    let (email, password) = (form.email.clone(), form.password);
    let outcome = with_conn(&state, move |conn| {
        Ok(sign_in::sign_in(conn, &email, &password))
    })
    .await?;
    match outcome {
        Ok(user) => {
            session::begin(&session, user.id);
            Ok(page::see_other(next))
        }
        Err(SignInError::Database(e)) => Err(e.into()),
        Err(refused) => {
            let status = match refused {
                SignInError::Throttled => StatusCode::TOO_MANY_REQUESTS,
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

pub async fn logout(session: Session, _form: CsrfForm<page::EmptyForm>) -> HttpResponse {
    session::end(&session);
    page::see_other("/")
}

//! What every page shares: the layout's navigation (`Nav`), rendering through askama, and the
//! answers after a form. A leaf of `web/`: handlers import it, it imports no handler.

use actix_web::HttpResponse;
use actix_web::http::header::ContentType;
use askama::Template;

use super::session::CurrentUser;
use crate::http::error::AppError;

/// What the layout's navigation needs: who is signed in, and the CSRF token of its logout form.
pub struct Nav {
    pub user: Option<NavUser>,
    pub csrf: String,
}

pub struct NavUser {
    pub email: String,
    pub database: String,
    pub is_admin: bool,
    pub is_operator: bool,
}

impl Nav {
    pub fn for_user(current: &CurrentUser) -> Nav {
        Nav {
            user: Some(NavUser {
                email: current.user.email.clone(),
                database: current.user.database_name.clone(),
                is_admin: current.user.is_admin(),
                is_operator: current.user.is_operator(),
            }),
            csrf: current.csrf.clone(),
        }
    }

    pub fn maybe(current: Option<&CurrentUser>) -> Nav {
        current.map_or_else(Nav::anonymous, Nav::for_user)
    }

    pub fn anonymous() -> Nav {
        Nav {
            user: None,
            csrf: String::new(),
        }
    }
}

/// Renders a page through askama; a render failure becomes our own error page.
pub fn render<T: Template>(page: &T) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(page.render()?))
}

/// Renders a page with another status than 200 (a form with errors, a refused payment…).
pub fn render_with_status<T: Template>(
    page: &T,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, AppError> {
    let mut response = render(page)?;
    *response.status_mut() = status;
    Ok(response)
}

/// 303 See Other: where a browser goes after a form that worked.
pub fn see_other(location: impl Into<String>) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location.into()))
        .finish()
}

/// A form with nothing but its CSRF token (sign out, delete, regenerate).
#[derive(serde::Deserialize)]
pub struct EmptyForm {}

pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}

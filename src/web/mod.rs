//! HTML pages, one module per page or group of pages. Handlers stay thin: they parse the
//! request, call domain functions inside `web::block`, and render an askama template.

pub mod admin;
pub mod assets;
pub mod buy;
pub mod catalog;
pub mod contacts;
pub mod health;
pub mod iap_accounts;
pub mod login;
pub mod session;
pub mod settings;
pub mod sms;

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::db::DbConn;
use crate::error::AppError;
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    admin::routes(cfg);
    cfg.route("/", web::get().to(catalog::index))
        .route("/login", web::get().to(login::form))
        .route("/login", web::post().to(login::submit))
        .route("/logout", web::post().to(login::logout))
        .route("/settings", web::get().to(settings::page))
        .route("/iap/accounts", web::get().to(iap_accounts::list))
        .route(
            "/iap/accounts/{id}",
            web::get().to(iap_accounts::account_information),
        )
        .route(
            "/iap/accounts/{id}/alerts",
            web::post().to(iap_accounts::save_alerts),
        )
        .route(
            "/iap/accounts/{id}/token",
            web::post().to(iap_accounts::regenerate_token),
        )
        .route("/iap/accounts/{id}/buy", web::get().to(buy::packs))
        .route("/iap/accounts/{id}/buy", web::post().to(buy::create_order))
        .route("/checkout/{order}", web::get().to(buy::checkout))
        .route("/checkout/{order}", web::post().to(buy::pay))
        .route("/orders", web::get().to(buy::order_history))
        .route("/orders/{order}", web::get().to(buy::receipt))
        .route("/contacts", web::get().to(contacts::list))
        .route("/contacts/new", web::get().to(contacts::new_form))
        .route("/contacts/new", web::post().to(contacts::create))
        .route("/contacts/{id}", web::get().to(contacts::show))
        .route("/contacts/{id}/edit", web::get().to(contacts::edit_form))
        .route("/contacts/{id}/edit", web::post().to(contacts::update))
        .route("/contacts/{id}/delete", web::post().to(contacts::delete))
        .route("/contacts/{id}/sms", web::get().to(sms::dialog))
        .route("/contacts/{id}/sms", web::post().to(sms::send))
        .route("/sms", web::get().to(sms::history))
        .route("/sms/mass", web::get().to(sms::mass_dialog))
        .route("/sms/mass", web::post().to(sms::mass_send))
        .route("/services/{slug}", web::get().to(catalog::service_page))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/static/{file}", web::get().to(assets::static_file));
}

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
    pub fn for_user(current: &session::CurrentUser) -> Nav {
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

    pub fn maybe(current: Option<&session::CurrentUser>) -> Nav {
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

/// 303 See Other: where a browser goes after a form that worked.
pub fn see_other(location: impl Into<String>) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location.into()))
        .finish()
}

/// A form with nothing but its CSRF token (sign out, delete, regenerate).
#[derive(serde::Deserialize)]
pub struct EmptyForm {}

/// Renders a page with another status than 200 (a form with errors, a refused payment…).
pub fn render_with_status<T: Template>(
    page: &T,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, AppError> {
    let mut response = render(page)?;
    *response.status_mut() = status;
    Ok(response)
}

/// Runs blocking diesel work on the thread pool with a pooled connection, never on an async
/// worker.
pub async fn with_conn<T, F>(state: &AppState, work: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let pool = state.pool.clone();
    web::block(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await?
}

pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}

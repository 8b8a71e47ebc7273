//! HTML pages, one module per page or group of pages. Handlers stay thin: they parse the
//! request, call domain functions inside `web::block`, and render an askama template.

pub mod assets;
pub mod catalog;
pub mod health;

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::db::DbConn;
use crate::error::AppError;
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(catalog::index))
        .route("/services/{slug}", web::get().to(catalog::service_page))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/static/{file}", web::get().to(assets::static_file));
}

/// Renders a page through askama; a render failure becomes our own error page.
pub fn render<T: Template>(page: &T) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(page.render()?))
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

//! The JSON API (`/api/v1`) through which services and third-party providers check balances
//! and hold, capture, cancel and charge credits. A bearer token names one IAP account; an
//! optional `Idempotency-Key` makes any mutating call safe to retry.

pub mod answers;
mod auth;
pub mod doc;
mod error;
mod handlers;

pub use auth::ApiAccount;
pub use error::ApiError;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .route("/balance", web::get().to(handlers::balance))
            .route("/charges", web::post().to(handlers::create_charge))
            .route("/holds", web::post().to(handlers::create_hold))
            .route(
                "/holds/{id}/capture",
                web::post().to(handlers::capture_hold),
            )
            .route("/holds/{id}/cancel", web::post().to(handlers::cancel_hold))
            .route("/transactions", web::get().to(handlers::transactions))
            .route("/openapi.json", web::get().to(doc::document))
            .route("/docs", web::get().to(doc::page))
            .default_service(web::to(handlers::not_found)),
    );
}

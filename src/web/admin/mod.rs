//! The IAP operator's pages under `/admin` (role `platform` only; everyone else gets a 404):
//! the dashboard, orders and refunds, databases and accounts (adjustments, CSV ledgers), the catalog
//! and SMS prices, and the audit log. A role's pages: they call the owners of the tables and own
//! none themselves.

pub mod audit;
pub mod dashboard;
pub mod databases;
pub mod orders;
pub mod postage;
pub mod services;
pub mod sms_prices;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(dashboard::page))
        .route("/admin/orders", web::get().to(orders::list))
        .route("/admin/orders/{id}", web::get().to(orders::show))
        .route("/admin/orders/{id}/refund", web::post().to(orders::refund))
        .route("/admin/databases", web::get().to(databases::list))
        .route("/admin/databases/{id}", web::get().to(databases::show))
        .route("/admin/accounts/{id}", web::get().to(databases::account))
        .route(
            "/admin/accounts/{id}/adjust",
            web::post().to(databases::adjust),
        )
        .route(
            "/admin/accounts/{id}/ledger.csv",
            web::get().to(databases::ledger_csv),
        )
        .route("/admin/catalog", web::get().to(services::index))
        .route(
            "/admin/catalog/services/new",
            web::get().to(services::new_service),
        )
        .route(
            "/admin/catalog/services/new",
            web::post().to(services::create_service),
        )
        .route(
            "/admin/catalog/services/{id}",
            web::get().to(services::edit_service),
        )
        .route(
            "/admin/catalog/services/{id}",
            web::post().to(services::update_service),
        )
        .route(
            "/admin/catalog/services/{id}/keys/{key}/revoke",
            web::post().to(services::revoke_key),
        )
        .route(
            "/admin/catalog/services/{id}/usage-prices/{unit}",
            web::post().to(services::set_usage_price),
        )
        .route(
            "/admin/catalog/services/{id}/packs",
            web::post().to(services::create_pack),
        )
        .route(
            "/admin/catalog/packs/{id}",
            web::get().to(services::edit_pack),
        )
        .route(
            "/admin/catalog/packs/{id}",
            web::post().to(services::update_pack),
        )
        .route("/admin/postage", web::get().to(postage::list))
        .route("/admin/postage/{zone}", web::post().to(postage::update))
        .route("/admin/sms-prices", web::get().to(sms_prices::list))
        .route("/admin/sms-prices", web::post().to(sms_prices::set_price))
        .route(
            "/admin/emails/{id}/retry",
            web::post().to(dashboard::retry_email),
        )
        .route("/admin/audit", web::get().to(audit::list));
}

//! The IAP operator's pages under `/admin` (role `platform` only; everyone else gets a 404):
//! the dashboard, orders and refunds, databases and accounts (adjustments, CSV ledgers), the catalog
//! and SMS prices, and the audit log.

pub mod audit;
pub mod catalog;
pub mod dashboard;
pub mod databases;
pub mod orders;

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
        .route("/admin/catalog", web::get().to(catalog::index))
        .route(
            "/admin/catalog/services/new",
            web::get().to(catalog::new_service),
        )
        .route(
            "/admin/catalog/services/new",
            web::post().to(catalog::create_service),
        )
        .route(
            "/admin/catalog/services/{id}",
            web::get().to(catalog::edit_service),
        )
        .route(
            "/admin/catalog/services/{id}",
            web::post().to(catalog::update_service),
        )
        .route(
            "/admin/catalog/services/{id}/packs",
            web::post().to(catalog::create_pack),
        )
        .route(
            "/admin/catalog/packs/{id}",
            web::get().to(catalog::edit_pack),
        )
        .route(
            "/admin/catalog/packs/{id}",
            web::post().to(catalog::update_pack),
        )
        .route("/admin/sms-prices", web::get().to(catalog::sms_prices))
        .route("/admin/sms-prices", web::post().to(catalog::set_sms_price))
        .route(
            "/admin/emails/{id}/retry",
            web::post().to(dashboard::retry_email),
        )
        .route("/admin/audit", web::get().to(audit::list));
}

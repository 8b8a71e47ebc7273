//! The IAP operator's pages under `/admin` (role `platform` only; everyone else gets a 404):
//! the dashboard, orders and refunds, databases and accounts (adjustments, CSV ledgers), and the
//! audit log.

pub mod audit;
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
        .route("/admin/audit", web::get().to(audit::list));
}

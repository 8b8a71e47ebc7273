//! The IAP operator's pages under `/admin` (role `platform` only; everyone else gets a 404):
//! the dashboard, orders and refunds, and the audit log.

pub mod audit;
pub mod dashboard;
pub mod orders;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(dashboard::page))
        .route("/admin/orders", web::get().to(orders::list))
        .route("/admin/orders/{id}", web::get().to(orders::show))
        .route("/admin/orders/{id}/refund", web::post().to(orders::refund))
        .route("/admin/audit", web::get().to(audit::list));
}

//! HTML pages, one module per page or group of pages. Handlers stay thin: they parse the
//! request, call domain functions inside `web::block`, and render an askama template. This
//! file only lists the routes; what handlers share lives in the leaves `state` and `page`.

pub mod admin;
pub mod assets;
pub mod auto_topup;
pub mod bills;
pub mod buy;
pub mod catalog;
pub mod charts;
pub mod contacts;
pub mod health;
pub mod iap_accounts;
pub mod iap_link;
pub mod invoices;
pub mod leads;
pub mod ledger_csv;
pub mod letters;
pub mod login;
pub mod metrics;
pub mod payment_methods;
pub mod settings;
pub mod sign;
pub mod sms;
pub mod uploads;

use actix_web::web;

pub use crate::http::page::not_found;

pub fn routes(cfg: &mut web::ServiceConfig) {
    admin::routes(cfg);
    cfg.route("/", web::get().to(catalog::index))
        .route("/login", web::get().to(login::form))
        .route("/login", web::post().to(login::submit))
        .route("/logout", web::post().to(login::logout))
        .route("/settings", web::get().to(settings::page))
        .route(
            "/settings/payment-methods",
            web::get().to(payment_methods::page),
        )
        .route(
            "/settings/payment-methods",
            web::post().to(payment_methods::add),
        )
        .route(
            "/settings/payment-methods/{id}/remove",
            web::post().to(payment_methods::remove),
        )
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
            "/iap/accounts/{id}/topup",
            web::post().to(iap_accounts::save_topup),
        )
        .route(
            "/iap/accounts/{id}/ledger.csv",
            web::get().to(iap_accounts::ledger_csv),
        )
        .route(
            "/iap/accounts/{id}/token",
            web::post().to(iap_accounts::regenerate_token),
        )
        .route(
            "/iap/accounts/{id}/label",
            web::post().to(iap_accounts::save_label),
        )
        .route(
            "/iap/accounts/{id}/default",
            web::post().to(iap_accounts::make_default),
        )
        .route(
            "/iap/accounts/{id}/move",
            web::post().to(iap_accounts::move_credits),
        )
        .route("/iap/accounts/{id}/buy", web::get().to(buy::packs))
        .route("/iap/accounts/{id}/buy", web::post().to(buy::create_order))
        .route("/checkout/{order}", web::get().to(buy::checkout))
        .route("/checkout/{order}", web::post().to(buy::pay))
        .route("/orders", web::get().to(buy::order_history))
        .route("/orders/{order}", web::get().to(buy::receipt))
        .route("/orders/{order}/invoice", web::get().to(invoices::page))
        .route("/orders/{order}/invoice.pdf", web::get().to(invoices::pdf))
        .route("/settings/billing", web::get().to(invoices::billing))
        .route("/settings/billing", web::post().to(invoices::save_billing))
        .route("/admin/invoicing", web::get().to(invoices::seller))
        .route("/admin/invoicing", web::post().to(invoices::save_seller))
        .route("/contacts", web::get().to(contacts::list))
        .route("/contacts/new", web::get().to(contacts::new_form))
        .route("/contacts/new", web::post().to(contacts::create))
        .route("/contacts/{id}", web::get().to(contacts::show))
        .route("/contacts/{id}/edit", web::get().to(contacts::edit_form))
        .route("/contacts/{id}/edit", web::post().to(contacts::update))
        .route("/contacts/{id}/delete", web::post().to(contacts::delete))
        .route(
            "/contacts/{id}/companies",
            web::get().to(contacts::find_company),
        )
        .route("/contacts/{id}/enrich", web::post().to(contacts::enrich))
        .route("/companies/suggest", web::get().to(contacts::suggest))
        .route("/contacts/{id}/sms", web::get().to(sms::dialog))
        .route("/contacts/{id}/sms", web::post().to(sms::send))
        .route("/bills", web::get().to(bills::list))
        .route("/bills", web::post().to(bills::upload))
        .route("/bills/{id}", web::get().to(bills::show))
        .route("/bills/{id}", web::post().to(bills::review))
        .route("/bills/{id}/file", web::get().to(bills::file))
        .route("/bills/{id}/digitize", web::post().to(bills::digitize))
        .route("/bills/{id}/reading", web::get().to(bills::reading))
        .route("/letters", web::get().to(letters::list))
        .route("/letters", web::post().to(letters::upload))
        .route("/documents/{id}/post", web::get().to(letters::send_form))
        .route("/documents/{id}/post", web::post().to(letters::send))
        .route("/sign", web::get().to(sign::list))
        .route("/sign", web::post().to(sign::create))
        .route("/sign/requests/{id}", web::get().to(sign::request))
        .route(
            "/sign/requests/{id}/signed.pdf",
            web::get().to(sign::signed_pdf),
        )
        // A signer's pages: no sign-in, the link's token is the credential.
        .route("/s/{token}", web::get().to(sign::signer_page))
        .route("/s/{token}/document", web::get().to(sign::signer_document))
        .route("/s/{token}/itsme", web::post().to(sign::identify))
        .route("/s/{token}/itsme", web::get().to(sign::identified))
        .route("/s/{token}/sign", web::post().to(sign::sign))
        .route("/itsme-sim/{session}", web::get().to(sign::itsme_page))
        .route("/itsme-sim/{session}", web::post().to(sign::itsme_decide))
        .route("/leads", web::get().to(leads::list))
        .route("/leads/generate", web::get().to(leads::generate_form))
        .route("/leads/generate", web::post().to(leads::generate))
        .route("/leads/requests/{id}", web::get().to(leads::request))
        .route("/leads/{id}", web::get().to(leads::show))
        .route("/sms", web::get().to(sms::history))
        .route("/sms/mass", web::get().to(sms::mass_dialog))
        .route("/sms/mass", web::post().to(sms::mass_send))
        .route("/services/{slug}", web::get().to(catalog::service_page))
        // Odoo's "Buy credits" link: no sign-in, the link is the credential.
        .route("/iap/1/credit", web::get().to(iap_link::open))
        .route("/iap/1/credit/order", web::post().to(iap_link::order))
        .route("/iap/1/credit/packs", web::get().to(iap_link::packs_again))
        .route(
            "/iap/1/credit/checkout/{order}",
            web::get().to(iap_link::checkout),
        )
        .route(
            "/iap/1/credit/checkout/{order}",
            web::post().to(iap_link::pay),
        )
        .route(
            "/iap/1/credit/receipt/{order}",
            web::get().to(iap_link::receipt),
        )
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::public))
        .route("/static/{file}", web::get().to(assets::static_file));
}

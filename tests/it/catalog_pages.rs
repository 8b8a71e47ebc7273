//! The public catalog, the service pages, health endpoints and the pages' security headers.

use actix_web::http::StatusCode;
use diesel::prelude::*;
use iap_credits::platform::schema::services;

use crate::harness::TestApp;

const ODOO_SERVICES: [&str; 6] = [
    "SMS",
    "Documents Digitization",
    "Partner Autocomplete",
    "Lead Generation",
    "Snailmail",
    "Signer identification with itsme",
];

#[actix_web::test]
async fn catalog_lists_every_service_with_provider_and_link() {
    let app = TestApp::new();
    let page = app.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page.body.contains("<h1>IAP Catalog</h1>"));
    for name in ODOO_SERVICES {
        assert!(
            page.body.contains(&format!(">{name}</a></h2>")),
            "{name} missing"
        );
    }
    assert!(page.body.contains(r#"<a href="/services/sms">SMS</a>"#));
    assert!(page.body.contains("Provided by Odoo S.A."));
    assert!(
        page.body.contains("Provided by Fiscalis BV"),
        "a third-party service is listed"
    );
}

#[actix_web::test]
async fn sms_page_lists_the_four_packs_with_credits_and_prices() {
    let app = TestApp::new();
    let page = app.get("/services/sms").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<h1>SMS</h1>"));
    for (pack, credits) in [
        ("Starter Pack", "10"),
        ("Standard Pack", "100"),
        ("Advanced Pack", "500"),
        ("Expert Pack", "1,000"),
    ] {
        let row = format!(r#"<tr><th scope="row">{pack}</th><td class="num">{credits}</td>"#);
        assert!(page.body.contains(&row), "{pack} row missing");
    }
    assert!(page.body.contains("95.00 EUR"));
    // In order of size.
    let starter = page.body.find("Starter Pack").unwrap();
    let expert = page.body.find("Expert Pack").unwrap();
    assert!(starter < expert);
}

#[actix_web::test]
async fn unknown_and_inactive_services_are_a_styled_404() {
    let app = TestApp::new();
    let page = app.get("/services/no-such-service").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("Page not found"));
    assert!(
        page.body
            .contains(r#"<link rel="stylesheet" href="/static/style.css">"#)
    );

    let mut conn = app.db.conn();
    diesel::update(services::table.filter(services::slug.eq("snailmail")))
        .set(services::active.eq(false))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        app.get("/services/snailmail").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!app.get("/").await.body.contains("Snailmail"));

    assert_eq!(app.get("/no/such/page").await.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn pages_carry_security_headers() {
    let app = TestApp::new();
    let page = app.get("/").await;
    let csp = page.header("content-security-policy");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(page.header("cache-control"), "no-store");
    assert_eq!(
        page.header("strict-transport-security"),
        "",
        "not over http"
    );
    assert_ne!(
        app.get("/static/style.css").await.header("cache-control"),
        "no-store",
        "static files keep their own caching"
    );
    let mut https = TestApp::new();
    https.state.base_url = "https://iap.example.com".into();
    assert_eq!(
        https.get("/").await.header("strict-transport-security"),
        "max-age=31536000"
    );
}

#[actix_web::test]
async fn stylesheet_is_served() {
    let app = TestApp::new();
    let page = app.get("/static/style.css").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/css"));
    assert!(page.body.contains(".site-header"));
    assert_eq!(
        app.get("/static/secret.txt").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/static/..%2FCargo.toml").await.status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn health_endpoints_report_process_and_database() {
    let app = TestApp::new();
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body, "ready");

    let broken = TestApp::without_database();
    assert_eq!(broken.get("/healthz").await.status, StatusCode::OK);
    let ready = broken.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
}

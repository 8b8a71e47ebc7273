//! Input that cannot be stored or read gets a clear 4xx and changes nothing: NUL bytes in forms,
//! query strings and API fields, forms that do not parse, and forms too large to read.

use actix_web::http::StatusCode;
use diesel::prelude::*;
use iap_credits::platform::schema::contacts;

use crate::fixtures::sms_balance;
use crate::harness::{TestApp, error_code};

fn contact_count(app: &TestApp) -> i64 {
    contacts::table
        .count()
        .get_result(&mut app.db.conn())
        .unwrap()
}

#[actix_web::test]
async fn nul_bytes_are_a_400_never_a_500() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    // In the login form.
    let page = browser
        .submit(
            "/login",
            "/login",
            &[
                ("email", "admin\0@demo.test"),
                ("password", "demo-password"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("NUL character"));
    browser.sign_in("admin@demo.test", "demo-password").await;
    // In a contact's name: nothing is created.
    let before = contact_count(&app);
    let page = browser
        .submit("/contacts/new", "/contacts/new", &[("name", "Eve\0")])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(contact_count(&app), before);
    // In a search.
    for path in [
        "/contacts?q=a%00b",
        "/admin/databases?q=%00",
        "/leads?q=%00",
        "/companies/suggest?q=abc%00",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.body.contains("NUL character"), "{path}");
    }
    // In an API description: a JSON 400, nothing charged.
    let (account, balance) = sms_balance(&app, &browser).await;
    let token = iap_credits::domain::ledger::accounts::by_id(&mut app.db.conn(), account)
        .unwrap()
        .unwrap()
        .token;
    let (status, body) = app
        .api(
            "POST",
            "/api/v1/charges",
            Some(&token),
            None,
            Some(r#"{"credits": "1", "description": "a\u0000b"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "malformed_request");
    let (status, _) = app
        .api(
            "GET",
            "/api/v1/transactions?after=%00",
            Some(&token),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(sms_balance(&app, &browser).await.1, balance);
}

#[actix_web::test]
async fn a_form_that_does_not_parse_is_a_400_and_a_huge_one_a_413() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    browser.sign_in("admin@demo.test", "demo-password").await;
    let (account, balance) = sms_balance(&app, &browser).await;
    let buy = format!("/iap/accounts/{account}/buy");
    // With a valid CSRF token, a wrong value is not "form expired": it is a bad request.
    let page = browser.submit(&buy, &buy, &[("pack_id", "abc")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("could not be read"));
    let page = browser.submit(&buy, &buy, &[]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    // A form far larger than any of ours.
    let huge = "a".repeat(400_000);
    let page = browser
        .submit("/contacts/new", "/contacts/new", &[("name", &huge)])
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(sms_balance(&app, &browser).await.1, balance);
}

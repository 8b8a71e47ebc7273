//! The JSON API from a provider's point of view: balances, tokens, charges, and bad input that
//! must answer 4xx with a JSON error and change nothing.

use actix_web::http::StatusCode;
use diesel::prelude::*;
use iap_credits::kernel::credits::Credits;

use crate::fixtures::{balance_of, funded_account};
use crate::harness::{TestApp, error_code};

fn ledger_rows(app: &TestApp) -> i64 {
    iap_credits::platform::schema::ledger_entries::table
        .count()
        .get_result(&mut app.db.conn())
        .unwrap()
}

#[actix_web::test]
async fn balance_names_the_service_and_its_amounts() {
    let app = TestApp::new();
    let a = funded_account(&app, "12.34");
    let (status, body) = app
        .api("GET", "/api/v1/balance", Some(&a.token), None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["service"], "sms");
    assert_eq!(body["balance"], "12.3400");
    assert_eq!(body["reserved"], "0.0000");
    assert_eq!(body["available"], "12.3400");
}

#[actix_web::test]
async fn a_missing_or_wrong_token_is_401() {
    let app = TestApp::new();
    let a = funded_account(&app, "1");
    for token in [None, Some("wrong"), Some(""), Some(&a.token[1..])] {
        let (status, body) = app.api("GET", "/api/v1/balance", token, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(error_code(&body), "unauthorized");
        let (status, _) = app
            .api(
                "POST",
                "/api/v1/charges",
                token,
                None,
                Some(r#"{"credits":"1"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(balance_of(&app, &a).0, Credits::whole(1));
}

#[actix_web::test]
async fn a_charge_is_201_with_its_entry_and_the_new_balance() {
    let app = TestApp::new();
    let a = funded_account(&app, "10");
    let (status, body) = app
        .api(
            "POST",
            "/api/v1/charges",
            Some(&a.token),
            None,
            Some(r#"{"credits":"2.5","description":"3 SMS"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["entry"]["kind"], "charge");
    assert_eq!(body["entry"]["amount"], "-2.5000");
    assert_eq!(body["entry"]["description"], "3 SMS");
    assert_eq!(body["balance"], "7.5000");
    // A plain JSON number is read from its decimal form.
    let (status, body) = app
        .api(
            "POST",
            "/api/v1/charges",
            Some(&a.token),
            None,
            Some(r#"{"credits":0.0425}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["balance"], "7.4575");
}

#[actix_web::test]
async fn not_enough_credits_is_402_with_available_and_a_buy_link() {
    let app = TestApp::new();
    let a = funded_account(&app, "1");
    let (status, body) = app
        .api(
            "POST",
            "/api/v1/charges",
            Some(&a.token),
            None,
            Some(r#"{"credits":"1.0001"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(error_code(&body), "insufficient_credits");
    assert_eq!(body["error"]["available"], "1.0000");
    assert_eq!(
        body["error"]["buy_url"],
        format!("http://127.0.0.1:8080/iap/accounts/{}/buy", a.id)
    );
    assert_eq!(balance_of(&app, &a).0, Credits::whole(1));
}

#[actix_web::test]
async fn bad_input_is_a_json_4xx_and_changes_nothing() {
    let app = TestApp::new();
    let a = funded_account(&app, "5");
    let rows_before = ledger_rows(&app);
    let cases: &[(&str, &str, StatusCode, &str)] = &[
        (
            "/api/v1/charges",
            r#"{"credits":"-1"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":-1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":"0"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":0}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":"abc"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":"1e3"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":"99999999999999"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":1e300}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":"1.00001"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":0.1000000001}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":true}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":["1"]}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":null}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":"1","description":7}"#,
            StatusCode::BAD_REQUEST,
            "malformed_request",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":"1","extra":1}"#,
            StatusCode::BAD_REQUEST,
            "malformed_request",
        ),
        (
            "/api/v1/charges",
            r#"{}"#,
            StatusCode::BAD_REQUEST,
            "malformed_request",
        ),
        (
            "/api/v1/charges",
            r#"{"credits":"1""#,
            StatusCode::BAD_REQUEST,
            "malformed_request",
        ),
        (
            "/api/v1/charges",
            "",
            StatusCode::BAD_REQUEST,
            "malformed_request",
        ),
        (
            "/api/v1/charges",
            "not json",
            StatusCode::BAD_REQUEST,
            "malformed_request",
        ),
        (
            "/api/v1/holds",
            r#"{"credits":"1","expires_in_seconds":-5}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_expiry",
        ),
        (
            "/api/v1/holds",
            r#"{"credits":"1","expires_in_seconds":"soon"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_expiry",
        ),
        (
            "/api/v1/holds",
            r#"{"credits":"1","expires_in_seconds":0}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_expiry",
        ),
        (
            "/api/v1/holds",
            r#"{"credits":"1","expires_in_seconds":99999999}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_expiry",
        ),
        (
            "/api/v1/holds",
            r#"{"credits":"6"}"#,
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_credits",
        ),
        (
            "/api/v1/holds/999999/capture",
            "",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/holds/abc/capture",
            "",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/holds/999999/cancel",
            "",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (path, body, want_status, want_code) in cases {
        let (status, json) = app
            .api("POST", path, Some(&a.token), None, Some(body))
            .await;
        assert_eq!(
            (status, error_code(&json)),
            (*want_status, *want_code),
            "{path} {body}"
        );
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let long = format!(r#"{{"credits":"1","description":"{}"}}"#, "x".repeat(501));
    let (status, _) = app
        .api("POST", "/api/v1/charges", Some(&a.token), None, Some(&long))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for query in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "after=-1",
        "after=x",
        "page=2",
    ] {
        let (status, json) = app
            .api(
                "GET",
                &format!("/api/v1/transactions?{query}"),
                Some(&a.token),
                None,
                None,
            )
            .await;
        assert_eq!(
            (status, error_code(&json)),
            (StatusCode::BAD_REQUEST, "malformed_request"),
            "{query}"
        );
    }
    let (status, _) = app
        .api("GET", "/api/v1/nothing-here", Some(&a.token), None, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(balance_of(&app, &a), (Credits::whole(5), Credits::ZERO));
    assert_eq!(ledger_rows(&app), rows_before, "no half-written rows");
}

#[actix_web::test]
async fn a_charge_says_where_its_time_went_only_when_the_server_is_asked_to() {
    use actix_web::test;
    let mut app = TestApp::new();
    let a = funded_account(&app, "10");
    for timing in [false, true] {
        app.state.server_timing = timing;
        let service = test::init_service(iap_credits::startup::build_app(app.state.clone())).await;
        let request = test::TestRequest::post()
            .uri("/api/v1/charges")
            .insert_header(("Authorization", format!("Bearer {}", a.token)))
            .insert_header(("Content-Type", "application/json"))
            .set_payload(r#"{"credits":"1"}"#)
            .to_request();
        let response = test::call_service(&service, request).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let header = response
            .headers()
            .get("server-timing")
            .map(|v| v.to_str().unwrap().to_string());
        match (timing, header) {
            (false, None) => {}
            (true, Some(header)) => {
                for stage in [
                    "parse;dur=",
                    "queue;dur=",
                    "sql;dur=",
                    "commit;dur=",
                    "answer;dur=",
                    "batch;desc=1",
                ] {
                    assert!(header.contains(stage), "{stage} not in {header}");
                }
            }
            (timing, header) => panic!("timing {timing}: {header:?}"),
        }
    }
    assert_eq!(balance_of(&app, &a).0, Credits::whole(8));
}

#[actix_web::test]
async fn a_regenerated_token_stops_charging_at_once_though_the_batcher_remembered_it() {
    let app = TestApp::new();
    let a = funded_account(&app, "10");
    let charge = |token: String| {
        let app = &app;
        async move {
            app.api(
                "POST",
                "/api/v1/charges",
                Some(&token),
                None,
                Some(r#"{"credits":"1"}"#),
            )
            .await
            .0
        }
    };
    // Learnt by the batcher's cache.
    assert_eq!(charge(a.token.clone()).await, StatusCode::CREATED);
    let new_token =
        iap_credits::domain::ledger::accounts::regenerate_token(&mut app.db.conn(), a.id).unwrap();
    assert_eq!(charge(a.token.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(charge(new_token.clone()).await, StatusCode::CREATED);
    assert_eq!(charge(a.token.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(balance_of(&app, &a).0, Credits::whole(8));
}

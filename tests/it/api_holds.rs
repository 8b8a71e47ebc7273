//! The JSON API's holds (capture, cancel, expiry), replays of an `Idempotency-Key`, keyset
//! pages of transactions, concurrent charges, and token regeneration.

use actix_web::http::StatusCode;
use iap_credits::domain::ledger::{self, Actor, GrantKind, accounts};
use iap_credits::kernel::credits::Credits;
use serde_json::Value;

use crate::fixtures::{balance_of, funded_account};
use crate::harness::{TestApp, error_code};

#[actix_web::test]
async fn hold_then_capture_part_then_conflicts() {
    let app = TestApp::new();
    let a = funded_account(&app, "10");
    let t = Some(a.token.as_str());
    let (status, hold) = app
        .api(
            "POST",
            "/api/v1/holds",
            t,
            None,
            Some(r#"{"credits":"4","expires_in_seconds":120,"description":"batch"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(hold["status"], "active");
    assert_eq!(hold["credits"], "4.0000");
    assert_eq!(hold["available"], "6.0000");
    assert!(hold["expires_at"].as_str().is_some());
    let id = hold["id"].as_i64().unwrap();

    let (status, body) = app
        .api(
            "POST",
            &format!("/api/v1/holds/{id}/capture"),
            t,
            None,
            Some(r#"{"credits":"5"}"#),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount")
    );
    let (status, body) = app
        .api(
            "POST",
            &format!("/api/v1/holds/{id}/capture"),
            t,
            None,
            Some(r#"{"credits":"1.5"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["hold"]["status"], "captured");
    assert_eq!(body["hold"]["captured"], "1.5000");
    assert_eq!(body["balance"], "8.5000");
    assert_eq!(body["reserved"], "0.0000");
    let (status, body) = app
        .api(
            "POST",
            &format!("/api/v1/holds/{id}/capture"),
            t,
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "hold_closed")
    );
    let (status, body) = app
        .api("POST", &format!("/api/v1/holds/{id}/cancel"), t, None, None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "hold_closed")
    );

    // Another account's token cannot see this hold.
    let other = funded_account(&app, "1");
    let (status, _) = app
        .api(
            "POST",
            &format!("/api/v1/holds/{id}/cancel"),
            Some(&other.token),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn cancel_releases_and_capture_defaults_to_everything() {
    let app = TestApp::new();
    let a = funded_account(&app, "3");
    let t = Some(a.token.as_str());
    let (_, hold) = app
        .api("POST", "/api/v1/holds", t, None, Some(r#"{"credits":"3"}"#))
        .await;
    let id = hold["id"].as_i64().unwrap();
    let (status, body) = app
        .api("POST", &format!("/api/v1/holds/{id}/cancel"), t, None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["hold"]["status"], "cancelled");
    assert_eq!(body["available"], "3.0000");
    let (status, body) = app
        .api(
            "POST",
            &format!("/api/v1/holds/{id}/capture"),
            t,
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "hold_closed")
    );

    let (_, hold) = app
        .api("POST", "/api/v1/holds", t, None, Some(r#"{"credits":"2"}"#))
        .await;
    let id = hold["id"].as_i64().unwrap();
    let (status, body) = app
        .api(
            "POST",
            &format!("/api/v1/holds/{id}/capture"),
            t,
            None,
            Some(""),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["hold"]["captured"], "2.0000");
    assert_eq!(body["balance"], "1.0000");
}

#[actix_web::test]
async fn an_expired_hold_cannot_be_captured() {
    let app = TestApp::new();
    let a = funded_account(&app, "3");
    let t = Some(a.token.as_str());
    let (_, hold) = app
        .api(
            "POST",
            "/api/v1/holds",
            t,
            None,
            Some(r#"{"credits":"2","expires_in_seconds":1}"#),
        )
        .await;
    let id = hold["id"].as_i64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let (status, body) = app
        .api(
            "POST",
            &format!("/api/v1/holds/{id}/capture"),
            t,
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "hold_expired")
    );
    let (_, balance) = app.api("GET", "/api/v1/balance", t, None, None).await;
    assert_eq!(balance["available"], "3.0000");
    assert_eq!(balance["reserved"], "0.0000");
}

#[actix_web::test]
async fn a_retried_request_with_the_same_key_has_one_effect() {
    let app = TestApp::new();
    let a = funded_account(&app, "10");
    let t = Some(a.token.as_str());
    let charge = Some(r#"{"credits":"1","description":"once"}"#);
    let (first_status, first) = app
        .api("POST", "/api/v1/charges", t, Some("order-42"), charge)
        .await;
    let (second_status, second) = app
        .api("POST", "/api/v1/charges", t, Some("order-42"), charge)
        .await;
    assert_eq!(first_status, StatusCode::CREATED);
    assert_eq!(
        (second_status, &second),
        (first_status, &first),
        "the stored first answer"
    );
    assert_eq!(balance_of(&app, &a).0, Credits::whole(9));

    let (status, body) = app
        .api(
            "POST",
            "/api/v1/charges",
            t,
            Some("order-42"),
            Some(r#"{"credits":"2"}"#),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "idempotency_conflict")
    );
    // Keys belong to their caller: another account may use the same key.
    let other = funded_account(&app, "1");
    let (status, _) = app
        .api(
            "POST",
            "/api/v1/charges",
            Some(&other.token),
            Some("order-42"),
            charge,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // A refusal is an answer too: replayed, even after credits arrive.
    let (status, _) = app
        .api(
            "POST",
            "/api/v1/charges",
            t,
            Some("big"),
            Some(r#"{"credits":"100"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    ledger::grant(
        &mut app.db.conn(),
        a.id,
        Credits::whole(200),
        GrantKind::Adjustment,
        "top up",
        &Actor::cli(),
    )
    .unwrap();
    let (status, _) = app
        .api(
            "POST",
            "/api/v1/charges",
            t,
            Some("big"),
            Some(r#"{"credits":"100"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);

    // Holds, captures and cancels replay too.
    let (_, hold) = app
        .api(
            "POST",
            "/api/v1/holds",
            t,
            Some("h1"),
            Some(r#"{"credits":"2"}"#),
        )
        .await;
    let (_, again) = app
        .api(
            "POST",
            "/api/v1/holds",
            t,
            Some("h1"),
            Some(r#"{"credits":"2"}"#),
        )
        .await;
    assert_eq!(hold["id"], again["id"]);
    let id = hold["id"].as_i64().unwrap();
    let path = format!("/api/v1/holds/{id}/capture");
    let (s1, c1) = app.api("POST", &path, t, Some("c1"), None).await;
    let (s2, c2) = app.api("POST", &path, t, Some("c1"), None).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(c1, c2);
    assert_eq!(
        balance_of(&app, &a),
        (Credits::whole(9 + 200 - 2), Credits::ZERO)
    );
}

#[actix_web::test]
async fn transactions_are_newest_first_and_paginated_by_keyset() {
    let app = TestApp::new();
    let a = funded_account(&app, "10");
    let t = Some(a.token.as_str());
    for i in 1..=5 {
        let body = format!(r#"{{"credits":"0.1","description":"charge {i}"}}"#);
        app.api("POST", "/api/v1/charges", t, None, Some(&body))
            .await;
    }
    let (status, page1) = app
        .api("GET", "/api/v1/transactions?limit=2", t, None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let rows = page1["transactions"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["description"], "charge 5");
    assert_eq!(rows[1]["description"], "charge 4");
    let after = page1["next_after"].as_i64().unwrap();
    let (_, page2) = app
        .api(
            "GET",
            &format!("/api/v1/transactions?limit=2&after={after}"),
            t,
            None,
            None,
        )
        .await;
    let rows2 = page2["transactions"].as_array().unwrap();
    assert_eq!(rows2[0]["description"], "charge 3");
    let (_, all) = app
        .api("GET", "/api/v1/transactions?limit=100", t, None, None)
        .await;
    assert_eq!(
        all["transactions"].as_array().unwrap().len(),
        6,
        "5 charges and the funding"
    );
    assert!(all["next_after"].is_null());
    // Only this account's rows.
    let other = funded_account(&app, "1");
    let (_, theirs) = app
        .api(
            "GET",
            "/api/v1/transactions",
            Some(&other.token),
            None,
            None,
        )
        .await;
    assert_eq!(theirs["transactions"].as_array().unwrap().len(), 1);
}

/// Fires `n` charges of `credits` at once and counts the answers by status.
async fn storm(
    app: &TestApp,
    token: &str,
    n: usize,
    credits: &str,
    key: impl Fn(usize) -> Option<String>,
) -> Vec<(StatusCode, Value)> {
    let body = format!(r#"{{"credits":"{credits}"}}"#);
    let calls = (0..n).map(|i| {
        let key = key(i);
        let body = body.clone();
        async move {
            app.api(
                "POST",
                "/api/v1/charges",
                Some(token),
                key.as_deref(),
                Some(&body),
            )
            .await
        }
    });
    futures_util::future::join_all(calls).await
}

fn count(answers: &[(StatusCode, Value)], status: StatusCode) -> usize {
    answers.iter().filter(|(s, _)| *s == status).count()
}

#[actix_web::test]
async fn fifteen_hundred_concurrent_charges_on_a_thousand_credits() {
    let app = TestApp::new();
    let a = funded_account(&app, "1000");
    let answers = storm(&app, &a.token, 1_500, "1", |_| None).await;
    assert_eq!(count(&answers, StatusCode::CREATED), 1_000);
    assert_eq!(count(&answers, StatusCode::PAYMENT_REQUIRED), 500);
    assert_eq!(balance_of(&app, &a), (Credits::ZERO, Credits::ZERO));
    let report = iap_credits::domain::ledger::verify::verify_ledger(&mut app.db.conn()).unwrap();
    assert!(report.is_consistent(), "{:?}", report.discrepancies);
    // Every success saw its own balance: 999 down to 0, each once.
    let mut after: Vec<String> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b["entry"]["balance_after"].as_str().unwrap().to_string())
        .collect();
    after.sort();
    after.dedup();
    assert_eq!(after.len(), 1_000);
}

#[actix_web::test]
async fn concurrent_retries_of_one_key_in_a_batch_charge_once() {
    let app = TestApp::new();
    let a = funded_account(&app, "100");
    let answers = storm(&app, &a.token, 64, "1", |i| Some(format!("k{}", i % 4))).await;
    assert_eq!(count(&answers, StatusCode::CREATED), 64);
    assert_eq!(
        balance_of(&app, &a).0,
        Credits::whole(96),
        "four keys, four charges"
    );
    for k in 0..4 {
        let bodies: Vec<&Value> = answers
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 4 == k)
            .map(|(_, (_, b))| b)
            .collect();
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "key k{k} answered alike"
        );
    }
    // Mixed accounts in one storm: each account's own funds decide.
    let b = funded_account(&app, "3");
    let c = funded_account(&app, "0.5");
    let (rb, rc) = futures_util::future::join(
        storm(&app, &b.token, 10, "1", |_| None),
        storm(&app, &c.token, 10, "0.1", |_| None),
    )
    .await;
    assert_eq!(
        (
            count(&rb, StatusCode::CREATED),
            count(&rc, StatusCode::CREATED)
        ),
        (3, 5)
    );
    assert_eq!(balance_of(&app, &b).0, Credits::ZERO);
    assert_eq!(balance_of(&app, &c).0, Credits::ZERO);
}

#[actix_web::test]
async fn a_regenerated_token_replaces_the_old_one_at_once() {
    let app = TestApp::new();
    let a = funded_account(&app, "2");
    let new_token = accounts::regenerate_token(&mut app.db.conn(), a.id).unwrap();
    assert_ne!(new_token, a.token);
    assert!(new_token.len() >= 43);
    let (status, _) = app
        .api("GET", "/api/v1/balance", Some(&a.token), None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .api(
            "POST",
            "/api/v1/charges",
            Some(&a.token),
            None,
            Some(r#"{"credits":"1"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .api(
            "POST",
            "/api/v1/charges",
            Some(&new_token),
            None,
            Some(r#"{"credits":"1"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["balance"], "1.0000");
}

//! The OpenAPI document of `/api/v1`: every route the app serves there is in it (and nothing
//! else), and the answers the API gives — successes and errors — match their schemas.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::funded_account;
use crate::harness::TestApp;

/// (method, path) of every route that `src/api/mod.rs` registers in its `/api/v1` scope.
fn registered_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/api/mod.rs");
    let scope = source
        .split("web::scope(\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the API's scope");
    let mut routes = BTreeSet::new();
    for part in source.split(".route(").skip(1) {
        let path = part.split('"').nth(1).expect("a route's path");
        let method = part
            .split("web::")
            .nth(1)
            .and_then(|rest| rest.split("()").next())
            .expect("a route's method");
        routes.insert((method.to_string(), format!("{scope}{path}")));
    }
    routes
}

async fn document(app: &TestApp) -> Value {
    let page = app.get("/api/v1/openapi.json").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("content-type"), "application/json");
    serde_json::from_str(&page.body).unwrap()
}

#[actix_web::test]
async fn every_route_of_the_api_is_in_the_document_and_nothing_else() {
    let app = TestApp::new();
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let registered = registered_routes();
    assert!(registered.len() >= 8, "{registered:?}");
    assert_eq!(registered, documented);
    // Each operation says who may call it, what it answers, and has a summary.
    for (method, path) in &documented {
        let op = &doc["paths"][path][method];
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path}"
        );
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["account_token"]["scheme"],
        "bearer"
    );
}

/// Checks `body` against the schema the document gives for `status` of `method path`.
fn assert_conforms(doc: &Value, method: &str, path: &str, status: StatusCode, body: &Value) {
    let responses = &doc["paths"][path][method]["responses"];
    let response = responses
        .get(status.as_str())
        .unwrap_or_else(|| panic!("{method} {path} answered {status}, which is not documented"));
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {status}: no JSON schema"
    );
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [schema],
        "components": doc["components"],
    });
    let validator = jsonschema::validator_for(&root)
        .unwrap_or_else(|e| panic!("{method} {path} {status}: the schema is invalid: {e}"));
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status} does not match its schema: {errors:?}\n{body}"
    );
}

#[actix_web::test]
async fn answers_match_their_schemas() {
    let app = TestApp::new();
    let doc = document(&app).await;
    let account = funded_account(&app, "10");
    let t = Some(account.token.as_str());
    let mut seen = BTreeSet::new();
    let mut check = |method: &str, path: &str, status: StatusCode, body: Value| {
        assert_conforms(&doc, method, path, status, &body);
        seen.insert((method.to_string(), path.to_string(), status.as_u16()));
    };

    let (s, b) = app.api("GET", "/api/v1/balance", t, None, None).await;
    assert_eq!(s, StatusCode::OK);
    check("get", "/api/v1/balance", s, b);
    let (s, b) = app.api("GET", "/api/v1/balance", None, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    check("get", "/api/v1/balance", s, b);

    let charges = "/api/v1/charges";
    let charge = |body: &'static str, key: Option<&'static str>| {
        let app = &app;
        async move { app.api("POST", charges, t, key, Some(body)).await }
    };
    let (s, b) = charge(r#"{"credits":"1.5","description":"an SMS"}"#, Some("k1")).await;
    assert_eq!(s, StatusCode::CREATED);
    check("post", charges, s, b);
    for (body, key, expected) in [
        (r#"{"credits":"100"}"#, None, StatusCode::PAYMENT_REQUIRED),
        (r#"{"credits": "#, None, StatusCode::BAD_REQUEST),
        (
            r#"{"credits":"abc"}"#,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (r#"{"credits":"2"}"#, Some("k1"), StatusCode::CONFLICT),
    ] {
        let (s, b) = charge(body, key).await;
        assert_eq!(s, expected, "{body}: {b}");
        check("post", charges, s, b);
    }

    let holds = "/api/v1/holds";
    let (s, hold) = app
        .api(
            "POST",
            holds,
            t,
            None,
            Some(r#"{"credits":"2","expires_in_seconds":60}"#),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    check("post", holds, s, hold.clone());
    let (s, b) = app
        .api(
            "POST",
            holds,
            t,
            None,
            Some(r#"{"credits":"1","expires_in_seconds":-1}"#),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    check("post", holds, s, b);
    let (s, b) = app
        .api("POST", holds, t, None, Some(r#"{"credits":"1000"}"#))
        .await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED);
    check("post", holds, s, b);

    let capture = "/api/v1/holds/{id}/capture";
    let capture_of = |id: &Value| format!("/api/v1/holds/{id}/capture");
    let (s, b) = app
        .api(
            "POST",
            &capture_of(&hold["id"]),
            t,
            None,
            Some(r#"{"credits":"3"}"#),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    check("post", capture, s, b);
    let (s, b) = app
        .api(
            "POST",
            &capture_of(&hold["id"]),
            t,
            None,
            Some(r#"{"credits":"1.25"}"#),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    check("post", capture, s, b);
    let (s, b) = app
        .api("POST", &capture_of(&hold["id"]), t, None, None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    check("post", capture, s, b);
    let (s, b) = app
        .api("POST", &capture_of(&json!(999_999)), t, None, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    check("post", capture, s, b);

    let cancel = "/api/v1/holds/{id}/cancel";
    let (_, other) = app
        .api("POST", holds, t, None, Some(r#"{"credits":"1"}"#))
        .await;
    let (s, b) = app
        .api(
            "POST",
            &format!("/api/v1/holds/{}/cancel", other["id"]),
            t,
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    check("post", cancel, s, b);
    let (s, b) = app
        .api(
            "POST",
            &format!("/api/v1/holds/{}/cancel", hold["id"]),
            t,
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    check("post", cancel, s, b);

    let transactions = "/api/v1/transactions";
    let (s, b) = app
        .api("GET", "/api/v1/transactions?limit=2", t, None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(b["next_after"].is_i64(), "{b}");
    check("get", transactions, s, b);
    let (s, b) = app
        .api("GET", "/api/v1/transactions?limit=0", t, None, None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    check("get", transactions, s, b);

    // Every operation was seen answering with success.
    for (method, path) in registered_routes() {
        if path.ends_with("/openapi.json") || path.ends_with("/docs") {
            continue; // checked below
        }
        assert!(
            seen.iter()
                .any(|(m, p, status)| *m == method && *p == path && *status < 300),
            "{method} {path} was never called with success"
        );
    }

    // The document's own page, for people.
    let page = app.get("/api/v1/docs").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/html"));
    for (method, path) in registered_routes() {
        let shown = format!("{} {path}", method.to_uppercase());
        assert!(page.body.contains(&shown), "{shown} is not on the page");
    }
    assert!(page.body.contains("id=\"schema-ChargeCreated\""));
}

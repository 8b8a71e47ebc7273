//! Odoo's own IAP protocol, spoken as Odoo's `iap_tools` speaks it: JSON-RPC calls to
//! `/iap/1/*`, accounts met first through a token the client made, provider keys that act only
//! on their own service, holds captured and cancelled once, and every malformed call answered
//! with the right Odoo exception — never a 5xx, never a change.

use std::sync::{Arc, Barrier};

use actix_web::http::StatusCode;
use diesel::prelude::*;
use iap_credits::domain::catalog;
use iap_credits::domain::ledger::{self, Actor, GrantKind};
use iap_credits::domain::provider_keys;
use iap_credits::kernel::credits::Credits;
use iap_credits::odoo::iap;
use serde_json::{Value, json};

use crate::fixtures::{assert_consistent, c};
use crate::harness::{TestApp, TestDb};

pub(crate) const DBUUID: &str = "8e2b6c4a-1d2f-11ef-9a3b-0242ac120002";
const OTHER_DBUUID: &str = "0f0f0f0f-1d2f-11ef-9a3b-0242ac120002";
pub(crate) const INSUFFICIENT: &str = "odoo.addons.iap.tools.iap_tools.InsufficientCreditError";
const ACCESS: &str = "odoo.exceptions.AccessError";
pub(crate) const USER: &str = "odoo.exceptions.UserError";

/// What the calls use besides the database, as the server gives it.
fn ctx() -> iap_credits::odoo::Context {
    iap_credits::odoo::Context {
        base_url: "http://x".into(),
        sms: Arc::new(iap_credits::services::sms::gateway::SimulatedCarrier::default()),
        directory: Arc::new(iap_credits::services::directory::provider::UnavailableDirectory),
        outbound: Default::default(),
        client_address: "192.0.2.1".into(),
    }
}

/// A token as Odoo makes them: `uuid4().hex`.
pub(crate) fn odoo_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn envelope(params: Value) -> String {
    json!({"jsonrpc": "2.0", "method": "call", "params": params, "id": "f00d"}).to_string()
}

/// A call as `iap_jsonrpc` makes it: the result, or the error's `(data.name, data.message)`.
pub(crate) async fn call(
    app: &TestApp,
    path: &str,
    params: Value,
) -> Result<Value, (String, String)> {
    let (status, body) = app.rpc(path, &envelope(params)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], "f00d");
    if let Some(error) = body.get("error") {
        assert_eq!(error["code"], 200);
        let data = &error["data"];
        Err((
            data["name"].as_str().unwrap().to_string(),
            data["message"].as_str().unwrap().to_string(),
        ))
    } else {
        Ok(body["result"].clone())
    }
}

pub(crate) fn error_name(outcome: Result<Value, (String, String)>) -> String {
    match outcome {
        Ok(result) => panic!("succeeded with {result}"),
        Err((name, _)) => name,
    }
}

pub(crate) fn provider_key(conn: &mut PgConnection, slug: &str) -> String {
    let service = catalog::service_by_slug(conn, slug).unwrap().unwrap();
    provider_keys::create(conn, service.id, &format!("{slug} provider"))
        .unwrap()
        .key
}

/// An administrator of a database that Odoo registered, signed in (to confirm what a token
/// alone may not do).
pub(crate) async fn admin_of<'a>(
    app: &'a TestApp,
    conn: &mut PgConnection,
    database_id: iap_credits::kernel::ids::DatabaseId,
) -> crate::harness::Browser<'a> {
    let name = iap_credits::domain::tenancy::database_name(conn, database_id).unwrap();
    let email = format!("admin{}@odoo-db.test", database_id.0);
    iap_credits::domain::tenancy::create_user(
        conn,
        &name,
        &email,
        crate::fixtures::PASSWORD,
        iap_credits::domain::tenancy::Role::Admin,
    )
    .unwrap();
    let admin = app.browser();
    admin.sign_in(&email, crate::fixtures::PASSWORD).await;
    admin
}

pub(crate) fn fund(conn: &mut PgConnection, token: &str, credits: &str) {
    let account = ledger::accounts::by_token(conn, token).unwrap().unwrap();
    ledger::grant(
        conn,
        account.id,
        c(credits),
        GrantKind::Adjustment,
        "test money",
        &Actor::cli(),
    )
    .unwrap();
}

pub(crate) fn available(conn: &mut PgConnection, token: &str) -> Credits {
    ledger::accounts::by_token(conn, token)
        .unwrap()
        .unwrap()
        .available()
}

/// Rows that any call could write: a refused call must leave them all as they were.
fn row_counts(conn: &mut PgConnection) -> Vec<i64> {
    [
        "databases",
        "iap_accounts",
        "holds",
        "ledger_entries",
        "iap_transactions",
    ]
    .iter()
    .map(|table| {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "(SELECT count(*) FROM {table})"
        )))
        .get_result(conn)
        .unwrap()
    })
    .collect()
}

#[actix_web::test]
async fn a_new_token_is_registered_by_its_first_balance_and_found_again() {
    let app = TestApp::new();
    let token = odoo_token();
    let params = json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    assert_eq!(
        call(&app, "/iap/1/balance", params.clone()).await,
        Ok(json!(0.0))
    );
    let mut conn = app.db.conn();
    let account = ledger::accounts::by_token(&mut conn, &token)
        .unwrap()
        .unwrap();
    let database = iap_credits::domain::tenancy::database_row(&mut conn, account.database_id)
        .unwrap()
        .unwrap();
    assert_eq!(database.name, format!("Odoo {DBUUID}"));
    assert_eq!(
        database.subscription,
        iap_credits::domain::tenancy::Subscription::None,
        "no subscription, so no trial credits"
    );
    // The hashed "Buy credits" link will find it by the SHA-1 of its token.
    let by_hash = ledger::accounts::by_token_sha1(&mut conn, &ledger::accounts::token_sha1(&token))
        .unwrap()
        .unwrap();
    assert_eq!(by_hash.id, account.id);

    fund(&mut conn, &token, "12.5");
    assert_eq!(call(&app, "/iap/1/balance", params).await, Ok(json!(12.5)));
    let before = row_counts(&mut conn);
    // The same token from another database, or for another service, is not this account.
    let stolen = json!({"dbuuid": OTHER_DBUUID, "account_token": token, "service_name": "sms"});
    assert_eq!(
        error_name(call(&app, "/iap/1/balance", stolen).await),
        ACCESS
    );
    let other_service =
        json!({"dbuuid": DBUUID, "account_token": token, "service_name": "partner_autocomplete"});
    assert_eq!(
        error_name(call(&app, "/iap/1/balance", other_service).await),
        ACCESS
    );
    assert_eq!(row_counts(&mut conn), before, "refusals write nothing");
    // A second sms token for the same database (another company, or an account deleted and
    // made again in Odoo): an account of its own, which locks out neither.
    let second_token = odoo_token();
    let second = json!({"dbuuid": DBUUID, "account_token": second_token, "service_name": "sms"});
    assert_eq!(call(&app, "/iap/1/balance", second).await, Ok(json!(0.0)));
    let second = ledger::accounts::by_token(&mut conn, &second_token)
        .unwrap()
        .unwrap();
    assert_eq!(second.database_id, account.database_id);
    assert_ne!(second.id, account.id);
    let first = json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    assert_eq!(call(&app, "/iap/1/balance", first).await, Ok(json!(12.5)));
    // Odoo's names of our services are understood.
    let reveal = json!({"dbuuid": DBUUID, "account_token": odoo_token(), "service_name": "reveal"});
    assert_eq!(call(&app, "/iap/1/balance", reveal).await, Ok(json!(0.0)));
}

#[actix_web::test]
async fn authorize_capture_and_cancel_as_a_provider_does() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let key = provider_key(&mut conn, "sms");
    let token = odoo_token();
    let authorize = |credit: Value| {
        json!({"account_token": token, "key": key, "credit": credit,
               "description": "SMS to Belgium", "dbuuid": DBUUID})
    };

    // A new account has nothing: the error carries the "Buy credits" link, as a JSON string.
    let Err((name, message)) = call(&app, "/iap/1/authorize", authorize(json!(4))).await else {
        panic!("authorized with no credits");
    };
    assert_eq!(name, INSUFFICIENT);
    let message: Value = serde_json::from_str(&message).expect("data.message is JSON");
    assert_eq!(message["base_url"], "http://127.0.0.1:8080/iap/1/credit");
    assert_eq!(message["service_name"], "sms");
    assert_eq!(message["credit"], json!(4.0));

    fund(&mut conn, &token, "10");
    let Err((name, message)) = call(&app, "/iap/1/authorize", authorize(json!(12.5))).await else {
        panic!("authorized more than the balance");
    };
    assert_eq!(name, INSUFFICIENT);
    let message: Value = serde_json::from_str(&message).unwrap();
    assert_eq!(message["credit"], json!(2.5), "what the action lacked");

    // Hold 6, capture 4 of it: 6 available while held, 6 after (4 spent, 2 released).
    let held = call(&app, "/iap/1/authorize", authorize(json!(6)))
        .await
        .unwrap();
    let transaction = held.as_str().expect("a transaction token").to_string();
    assert_eq!(available(&mut conn, &token), c("4"));
    let capture = json!({"token": transaction, "key": key, "credit_to_capture": 4});
    assert_eq!(
        call(&app, "/iap/1/capture", capture.clone()).await,
        Ok(json!(true))
    );
    assert_eq!(available(&mut conn, &token), c("6"));
    // Again: the same answer, nothing more spent; cancelling a captured hold is refused.
    assert_eq!(call(&app, "/iap/1/capture", capture).await, Ok(json!(true)));
    assert_eq!(available(&mut conn, &token), c("6"));
    let cancel = json!({"token": transaction, "key": key});
    assert_eq!(error_name(call(&app, "/iap/1/cancel", cancel).await), USER);

    // Hold 3 and cancel it, twice: everything back once; a capture after that is refused.
    let held = call(&app, "/iap/1/authorize", authorize(json!(3)))
        .await
        .unwrap();
    assert_eq!(available(&mut conn, &token), c("3"));
    let cancel = json!({"token": held, "key": key});
    assert_eq!(
        call(&app, "/iap/1/cancel", cancel.clone()).await,
        Ok(json!(true))
    );
    assert_eq!(call(&app, "/iap/1/cancel", cancel).await, Ok(json!(true)));
    assert_eq!(available(&mut conn, &token), c("6"));
    let late = json!({"token": held, "key": key, "credit_to_capture": 3});
    assert_eq!(error_name(call(&app, "/iap/1/capture", late).await), USER);

    // More than held, or more than 4 decimals: refused, naming the parameter.
    let held = call(&app, "/iap/1/authorize", authorize(json!(2)))
        .await
        .unwrap();
    let too_much = json!({"token": held, "key": key, "credit_to_capture": 2.5});
    let Err((name, message)) = call(&app, "/iap/1/capture", too_much).await else {
        panic!("captured more than held");
    };
    assert_eq!(name, USER);
    assert!(message.contains("credit_to_capture"), "{message}");
    let precise = authorize(json!(1.00001));
    let Err((name, message)) = call(&app, "/iap/1/authorize", precise).await else {
        panic!("5 decimals accepted");
    };
    assert_eq!(name, USER);
    assert!(message.contains("`credit`"), "{message}");
    assert_consistent(&mut conn);
}

#[actix_web::test]
async fn a_key_acts_only_on_its_own_service_and_an_unknown_key_on_nothing() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let sms_key = provider_key(&mut conn, "sms");
    let autocomplete_key = provider_key(&mut conn, "partner-autocomplete");
    let token = odoo_token();
    let params = json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    call(&app, "/iap/1/balance", params).await.unwrap();
    fund(&mut conn, &token, "10");
    let before = row_counts(&mut conn);
    for key in [
        autocomplete_key.clone(),
        "iapk_0000000000000000000000000000000000000000".to_string(),
        "not a key".to_string(),
    ] {
        let params = json!({"account_token": token, "key": key, "credit": 1});
        assert_eq!(
            error_name(call(&app, "/iap/1/authorize", params).await),
            ACCESS
        );
    }
    assert_eq!(row_counts(&mut conn), before);
    // A transaction of the sms key cannot be captured or cancelled with another service's key.
    let held = call(
        &app,
        "/iap/1/authorize",
        json!({"account_token": token, "key": sms_key, "credit": 1}),
    )
    .await
    .unwrap();
    for path in ["/iap/1/capture", "/iap/1/cancel"] {
        let params = json!({"token": held, "key": autocomplete_key, "credit_to_capture": 1});
        assert_eq!(error_name(call(&app, path, params).await), ACCESS);
    }
    assert_eq!(
        available(&mut conn, &token),
        c("9"),
        "still held, untouched"
    );
}

#[test]
fn thirty_two_first_calls_with_one_new_token_make_one_account() {
    let db = TestDb::new();
    let token = odoo_token();
    let start = Arc::new(Barrier::new(32));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (url, token, start) = (db.url.clone(), token.clone(), start.clone());
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).unwrap();
                let params =
                    json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
                start.wait();
                iap::balance(&mut conn, &ctx(), params.as_object().unwrap())
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), Ok(json!(0.0)));
    }
    let mut conn = db.conn();
    assert_eq!(
        row_counts(&mut conn)[..2],
        [1, 1],
        "one database, one account"
    );
}

#[test]
fn thirty_two_captures_of_one_transaction_capture_once() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let key = provider_key(&mut conn, "sms");
    let token = odoo_token();
    let register = json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    iap::balance(&mut conn, &ctx(), register.as_object().unwrap()).unwrap();
    fund(&mut conn, &token, "100");
    let params = json!({"account_token": token, "key": key, "credit": 10});
    let held = iap::authorize(&mut conn, &ctx(), params.as_object().unwrap()).unwrap();
    let start = Arc::new(Barrier::new(32));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (url, start) = (db.url.clone(), start.clone());
            let params = json!({"token": held, "key": key, "credit_to_capture": 7});
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).unwrap();
                start.wait();
                iap::capture(&mut conn, &ctx(), params.as_object().unwrap())
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), Ok(json!(true)));
    }
    assert_eq!(available(&mut conn, &token), c("93"), "7 spent, once");
    let captures: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM ledger_entries WHERE kind = 'capture')",
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(captures, 1);
    assert_consistent(&mut conn);
}

#[actix_web::test]
async fn malformed_calls_get_the_right_odoo_error_and_change_nothing() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let key = provider_key(&mut conn, "sms");
    let token = odoo_token();
    let register = json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    call(&app, "/iap/1/balance", register).await.unwrap();
    fund(&mut conn, &token, "50");
    let held = call(
        &app,
        "/iap/1/authorize",
        json!({"account_token": token, "key": key, "credit": 5}),
    )
    .await
    .unwrap();
    let before = row_counts(&mut conn);
    let balance_before = available(&mut conn, &token);

    // Bodies that are not a call at all.
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"params\":{{\"x\":\"{}\"}}}}",
        "a".repeat(3 << 20)
    );
    let bodies: Vec<(&str, String)> = vec![
        ("/iap/1/balance", String::new()),
        ("/iap/1/balance", "not json".into()),
        ("/iap/1/balance", "[]".into()),
        ("/iap/1/balance", "null".into()),
        ("/iap/1/balance", "\"call\"".into()),
        (
            "/iap/1/balance",
            "{\"jsonrpc\":\"1.0\",\"params\":{}}".into(),
        ),
        ("/iap/1/balance", "{\"jsonrpc\":2.0,\"params\":{}}".into()),
        (
            "/iap/1/balance",
            "{\"jsonrpc\":\"2.0\",\"method\":\"execute\",\"params\":{}}".into(),
        ),
        (
            "/iap/1/balance",
            "{\"jsonrpc\":\"2.0\",\"params\":[1,2]}".into(),
        ),
        (
            "/iap/1/balance",
            "{\"jsonrpc\":\"2.0\",\"params\":\"x\"}".into(),
        ),
        (
            "/iap/1/authorize",
            "{\"jsonrpc\":\"2.0\",\"params\":{\"credit\":".into(),
        ),
        ("/iap/1/capture", huge),
        ("/iap/1/cancel", "\u{0}\u{1}\u{2}".into()),
    ];
    let mut tried = 0;
    for (path, body) in &bodies {
        let (status, answer) = app.rpc(path, body).await;
        assert_eq!(status, StatusCode::OK, "{path} {body:.60}");
        assert_eq!(answer["error"]["data"]["name"], USER, "{path} {body:.60}");
        tried += 1;
    }

    // Calls with bad params: (path, params, expected error, a word the message must hold).
    let t = token.as_str();
    let k = key.as_str();
    let h = held.as_str().unwrap();
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("/iap/1/balance", json!({}), USER, "account_token"),
        (
            "/iap/1/balance",
            json!({"account_token": t}),
            USER,
            "service_name",
        ),
        (
            "/iap/1/balance",
            json!({"account_token": 42, "service_name": "sms"}),
            USER,
            "account_token",
        ),
        (
            "/iap/1/balance",
            json!({"account_token": "short", "service_name": "sms"}),
            ACCESS,
            "account_token",
        ),
        (
            "/iap/1/balance",
            json!({"account_token": format!("{t}+disabled"), "service_name": "sms"}),
            ACCESS,
            "neutralized copy",
        ),
        (
            "/iap/1/balance",
            json!({"account_token": t, "service_name": "no_such_service"}),
            USER,
            "service_name",
        ),
        (
            "/iap/1/balance",
            json!({"account_token": t, "service_name": ["sms"]}),
            USER,
            "service_name",
        ),
        (
            "/iap/1/balance",
            json!({"account_token": t, "service_name": "sms", "dbuuid": "x"}),
            USER,
            "dbuuid",
        ),
        (
            "/iap/1/balance",
            json!({"account_token": t, "service_name": "sms", "dbuuid": 7}),
            USER,
            "dbuuid",
        ),
        (
            "/iap/1/balance",
            json!({"account_token": odoo_token(), "service_name": "sms"}),
            USER,
            "dbuuid",
        ),
        (
            "/iap/1/balance",
            json!({"account_token": "a\u{0}".repeat(20), "service_name": "sms"}),
            USER,
            "account_token",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "credit": 1}),
            USER,
            "key",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": 1, "credit": 1}),
            USER,
            "key",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k}),
            USER,
            "credit",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": "lots"}),
            USER,
            "credit",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": -1}),
            USER,
            "credit",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": 0}),
            USER,
            "credit",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": 1e300}),
            USER,
            "credit",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": 0.00001}),
            USER,
            "credit",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": true}),
            USER,
            "credit",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": {"n": 1}}),
            USER,
            "credit",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": 1, "ttl": 0}),
            USER,
            "ttl",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": 1, "ttl": 4321}),
            USER,
            "ttl",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": 1, "ttl": 1.5}),
            USER,
            "ttl",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": 1, "ttl": "1"}),
            USER,
            "ttl",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": 1, "description": 5}),
            USER,
            "description",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": 1, "description": "x".repeat(501)}),
            USER,
            "description",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": 1, "dbuuid": OTHER_DBUUID}),
            ACCESS,
            "token",
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": t, "key": k, "credit": 1000}),
            INSUFFICIENT,
            "credit",
        ),
        (
            "/iap/1/capture",
            json!({"key": k, "credit_to_capture": 1}),
            USER,
            "token",
        ),
        (
            "/iap/1/capture",
            json!({"token": h, "credit_to_capture": 1}),
            USER,
            "key",
        ),
        (
            "/iap/1/capture",
            json!({"token": h, "key": k}),
            USER,
            "credit_to_capture",
        ),
        (
            "/iap/1/capture",
            json!({"token": h, "key": k, "credit_to_capture": -2}),
            USER,
            "credit_to_capture",
        ),
        (
            "/iap/1/capture",
            json!({"token": h, "key": k, "credit_to_capture": 6}),
            USER,
            "credit_to_capture",
        ),
        (
            "/iap/1/capture",
            json!({"token": h, "key": k, "credit_to_capture": 1.23456}),
            USER,
            "credit_to_capture",
        ),
        (
            "/iap/1/capture",
            json!({"token": "nope", "key": k, "credit_to_capture": 1}),
            ACCESS,
            "transaction",
        ),
        (
            "/iap/1/capture",
            json!({"token": t, "key": k, "credit_to_capture": 1}),
            ACCESS,
            "transaction",
        ),
        ("/iap/1/cancel", json!({"token": h}), USER, "key"),
        (
            "/iap/1/cancel",
            json!({"token": 12, "key": k}),
            USER,
            "token",
        ),
        (
            "/iap/1/cancel",
            json!({"token": h, "key": "iapk_x"}),
            ACCESS,
            "key",
        ),
    ];
    let mut wrong = Vec::new();
    for (path, params, expected, word) in cases {
        let shown = params.to_string();
        match call(&app, path, params).await {
            Ok(result) => wrong.push(format!("{path} {shown:.80} succeeded: {result}")),
            Err((name, message)) if name != expected || !message.contains(word) => {
                wrong.push(format!(
                    "{path} {shown:.80}: {name} {message:?}, expected {expected} naming {word}"
                ))
            }
            Err(_) => {}
        }
        tried += 1;
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // A GET is answered in the envelope too.
    let page = app.get("/iap/1/balance").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(USER));
    assert!(tried >= 40, "{tried} malformed calls");
    assert_eq!(
        row_counts(&mut conn),
        before,
        "no refused call wrote anything"
    );
    assert_eq!(available(&mut conn, &token), balance_before);
}

#[actix_web::test]
async fn the_account_form_reads_balances_and_sets_alerts_like_account_information() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let (sms, reveal) = (odoo_token(), odoo_token());
    call(
        &app,
        "/iap/1/balance",
        json!({"dbuuid": DBUUID, "account_token": sms, "service_name": "sms"}),
    )
    .await
    .unwrap();
    fund(&mut conn, &sms, "7.25");
    // A token of another database is left out of the answer.
    let foreign = odoo_token();
    call(
        &app,
        "/iap/1/balance",
        json!({"dbuuid": OTHER_DBUUID, "account_token": foreign, "service_name": "sms"}),
    )
    .await
    .unwrap();
    let information = call(
        &app,
        "/iap/1/get-accounts-information",
        json!({"dbuuid": DBUUID, "iap_accounts": [
            {"token": sms, "service": "sms"},
            {"token": reveal, "service": "reveal"},
            {"token": foreign, "service": "sms"},
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(information[&sms]["balance"], json!(7.25));
    assert_eq!(information[&sms]["registered"], "registered");
    assert_eq!(
        information[&reveal]["balance"],
        json!(0.0),
        "registered on first sight"
    );
    assert!(information.get(&foreign).is_none(), "{information}");

    // Odoo 18's alert form: a threshold and the users to warn. A new address is not taken on
    // the token's word: the answer links to where an administrator confirms it.
    let alerts = |emails: Value| json!({"account_token": sms, "warning_threshold": 5, "warning_emails": emails});
    let set = alerts(json!([{"email": "ops@acme.test", "lang_code": "en_US"}]));
    let (name, message) = call(&app, "/iap/1/update-warning-email-alerts", set.clone())
        .await
        .unwrap_err();
    assert_eq!(name, USER);
    let account = ledger::accounts::by_token(&mut conn, &sms)
        .unwrap()
        .unwrap();
    assert!(
        message.contains(&format!(
            "http://127.0.0.1:8080/iap/accounts/{}?propose=alerts&threshold=5&warning_email=ops%40acme.test#alerts",
            account.id
        )),
        "{message}"
    );
    assert!(!account.warn_me, "nothing changed");
    // Once an administrator has confirmed that address, Odoo may set it (and less) freely.
    ledger::accounts::save_alert_settings(
        &mut conn,
        account.id,
        &ledger::accounts::AlertSettings::parse(false, "1", "ops@acme.test").unwrap(),
    )
    .unwrap();
    assert_eq!(
        call(&app, "/iap/1/update-warning-email-alerts", set).await,
        Ok(json!(true))
    );
    let account = ledger::accounts::by_token(&mut conn, &sms)
        .unwrap()
        .unwrap();
    assert!(account.warn_me);
    assert_eq!(account.threshold, c("5"));
    assert_eq!(account.warning_email, "ops@acme.test");
    // The form's own rules: at most 5 addresses, plain ones.
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"email": format!("u{i}@acme.test")}))
        .collect();
    let Err((name, message)) = call(
        &app,
        "/iap/1/update-warning-email-alerts",
        alerts(json!(six)),
    )
    .await
    else {
        panic!("six addresses accepted");
    };
    assert_eq!(name, USER);
    assert!(message.contains("At most 5"), "{message}");
    let named = alerts(json!([{"email": "Ops <ops@acme.test>"}]));
    assert_eq!(
        error_name(call(&app, "/iap/1/update-warning-email-alerts", named).await),
        USER
    );
    let unchanged = ledger::accounts::by_token(&mut conn, &sms)
        .unwrap()
        .unwrap();
    assert_eq!(unchanged.warning_email, "ops@acme.test");

    // Odoo 16/17: the three fields of the form, and the list of known accounts.
    let old_form = json!({"account_token": sms, "dbuuid": DBUUID, "warn_me": false,
                          "warning_threshold": 2.5, "warning_email": "a@acme.test, b@acme.test"});
    assert_eq!(
        error_name(call(&app, "/iap/update-warning-odoo", old_form).await),
        USER,
        "new addresses, even with Warn Me off"
    );
    let old_form = json!({"account_token": sms, "dbuuid": DBUUID, "warn_me": false,
                          "warning_threshold": 2.5, "warning_email": "OPS@acme.test"});
    assert_eq!(
        call(&app, "/iap/update-warning-odoo", old_form).await,
        Ok(json!(true))
    );
    let listed = call(
        &app,
        "/iap/services-token",
        json!({"dbuuid": DBUUID, "iap_accounts": [sms, odoo_token(), foreign]}),
    )
    .await
    .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(
        listed.len(),
        1,
        "only this database's known accounts: {listed:?}"
    );
    assert_eq!(listed[0]["service_name"], "sms");
    assert_eq!(listed[0]["warn_me"], false);
    assert_eq!(listed[0]["warning_threshold"], json!(2.5));
    assert_eq!(listed[0]["warning_email"], "ops@acme.test");
    assert_eq!(
        listed[0]["account_uuid_hashed"],
        ledger::accounts::token_sha1(&sms)
    );
    // Unknown tokens set nothing.
    let unknown =
        json!({"account_token": odoo_token(), "warning_threshold": 1, "warning_emails": []});
    assert_eq!(
        error_name(call(&app, "/iap/1/update-warning-email-alerts", unknown).await),
        ACCESS
    );
}

/// The link Odoo's "Buy credits" button opens.
pub(crate) fn buy_link(token: &str, credit: &str) -> String {
    format!("/iap/1/credit?dbuuid={DBUUID}&service_name=sms&account_token={token}&credit={credit}")
}

/// The id of the pack whose radio is checked on a link's page.
fn checked_pack(body: &str) -> Option<String> {
    let at = body.find(" checked")?;
    let value = body[..at].rfind("value=\"")? + 7;
    Some(body[value..].split('"').next()?.to_string())
}

fn pack_id(conn: &mut PgConnection, name: &str) -> String {
    let sms = catalog::service_by_slug(conn, "sms").unwrap().unwrap();
    catalog::active_packs(conn, sms.id)
        .unwrap()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap()
        .id
        .to_string()
}

#[actix_web::test]
async fn the_buy_link_sells_a_pack_without_signing_in_credited_once() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let token = odoo_token();
    let browser = app.browser();

    // A new token: the link registers it, and offers the smallest pack covering 120 credits.
    let page = browser.get(&buy_link(&token, "120")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Buy Credits for SMS"));
    assert!(
        !page.body.contains(DBUUID),
        "a page opened with a token shows nothing of the database but that account"
    );
    assert!(page.body.contains(&format!("…{}", &token[28..])));
    assert!(
        !page.body.contains(&token),
        "the token is never shown in a page"
    );
    let advanced = pack_id(&mut conn, "Advanced Pack");
    assert_eq!(checked_pack(&page.body), Some(advanced.clone()));
    let small = browser.get(&buy_link(&token, "3")).await;
    assert_eq!(
        checked_pack(&small.body),
        Some(pack_id(&mut conn, "Starter Pack"))
    );

    let ordered = browser
        .submit(
            &buy_link(&token, "120"),
            "/iap/1/credit/order",
            &[("pack_id", &advanced)],
        )
        .await;
    assert_eq!(ordered.status, StatusCode::SEE_OTHER, "{}", ordered.body);
    let checkout = ordered.location().to_string();
    assert!(
        checkout.starts_with("/iap/1/credit/checkout/"),
        "{checkout}"
    );
    let card = [
        ("holder", "Ada Lovelace"),
        ("number", "4242 4242 4242 4242"),
        ("expiry", "12/39"),
        ("cvc", "123"),
    ];
    let csrf = browser.get(&checkout).await.csrf_token().unwrap();
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(&card);
    let paid = browser.post(&checkout, &form).await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.body);
    let receipt = browser.get(paid.location()).await;
    assert!(
        receipt.body.contains("your credits are available"),
        "{}",
        receipt.body
    );
    assert!(receipt.body.contains("go back to your Odoo database"));
    // Paying again (a re-post, a second tab) credits nothing more.
    let again = browser.post(&checkout, &form).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert!(browser.get(&checkout).await.body.contains("already paid"));
    let balance = json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    assert_eq!(
        call(&app, "/iap/1/balance", balance).await,
        Ok(json!(500.0))
    );

    // The hashed link finds the same account by the SHA-1 of its token.
    let hashed = format!(
        "/iap/1/credit?dbuuid={DBUUID}&service_name=sms&account_token={}&hashed=1",
        ledger::accounts::token_sha1(&token)
    );
    let page = app.browser().get(&hashed).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("500"), "the current balance is shown");
    assert_consistent(&mut conn);
}

#[actix_web::test]
async fn a_link_naming_no_account_is_a_404_and_guessing_is_throttled() {
    let app = TestApp::new();
    let browser = app.browser_from("203.0.113.9");
    let unknown = |n: u32| {
        format!(
            "/iap/1/credit?dbuuid={DBUUID}&service_name=sms&account_token={:040x}&hashed=1",
            u128::from(n)
        )
    };
    let page = browser.get(&unknown(1)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.body.contains("does not name an account"),
        "{}",
        page.body
    );
    for n in 2..=10 {
        browser.get(&unknown(n)).await;
    }
    let locked = browser.get(&unknown(11)).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    // Another address is not held back by this one.
    let other = app.browser_from("198.51.100.7").get(&unknown(12)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    // A damaged link says what is wrong; nothing of a link's pages opens without one.
    let damaged = app.browser().get("/iap/1/credit?service_name=sms").await;
    assert_eq!(damaged.status, StatusCode::BAD_REQUEST);
    assert!(damaged.body.contains("names no account"));
    let stranger = app.browser();
    assert_eq!(
        stranger.get("/iap/1/credit/checkout/1").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stranger.get("/iap/1/credit/packs").await.status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn sms_sent_as_odoo_sends_them_get_a_state_per_number_and_are_charged_once() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let token = odoo_token();
    let register = json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    call(&app, "/iap/1/balance", register).await.unwrap();
    // Enough for the Belgian number (0.0826), not for the American one after it as well.
    fund(&mut conn, &token, "0.09");
    let uuid = |n: u32| format!("{n:032x}");
    let send = |numbers: Value| {
        json!({"account_token": token, "dbuuid": DBUUID,
               "webhook_url": "https://odoo.example/sms/status",
               "messages": [{"content": "Your order has shipped.", "numbers": numbers}]})
    };
    let numbers = json!([
        {"uuid": uuid(1), "number": "+32470123456"},
        {"uuid": uuid(2), "number": "0470 12"},
        {"uuid": uuid(3), "number": "+14155550199"},
        {"uuid": uuid(1), "number": "+32470123456"},
    ]);
    let answer = call(&app, "/api/sms/3/send", send(numbers)).await.unwrap();
    let states: Vec<(String, String)> = answer
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["uuid"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (uuid(1), "success".to_string()),
            (uuid(2), "wrong_number_format".to_string()),
            (uuid(3), "insufficient_credit".to_string()),
            (uuid(1), "duplicate_message".to_string()),
        ],
        "{answer}"
    );
    let price = answer[0]["credit"].as_f64().unwrap();
    assert!(price > 0.0 && answer[1].get("credit").is_none(), "{answer}");
    let left = available(&mut conn, &token);
    assert_eq!(
        Credits::parse(&answer[0]["credit"].to_string())
            .unwrap()
            .units()
            + left.units(),
        c("0.09").units(),
        "the one sent is charged, nothing else"
    );
    // The same uuid again (Odoo retrying): nothing sent or charged twice.
    let again = call(
        &app,
        "/iap/sms/3/send",
        send(json!([{"uuid": uuid(1), "number": "+32470123456"}])),
    )
    .await
    .unwrap();
    assert_eq!(again[0]["state"], "duplicate_message");
    assert_eq!(available(&mut conn, &token), left);
    // Odoo 13-15's shape, by record id.
    fund(&mut conn, &token, "10");
    let v2 = json!({"account_token": token, "dbuuid": DBUUID,
                    "messages": [{"res_id": 7, "number": "+32470123456", "content": "Hi"}]});
    let answer = call(&app, "/iap/sms/2/send", v2).await.unwrap();
    assert_eq!(answer[0]["res_id"], 7);
    assert_eq!(answer[0]["state"], "success");
    // Messages sent this way are in the SMS history beside in-app ones.
    let recorded: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM sms_messages WHERE odoo_uuid IS NOT NULL)",
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(recorded, 2);
    // The operator sees them on the database's page, marked as sent through the API.
    let ops = crate::fixtures::operator(&mut conn);
    let browser = app.browser();
    browser.sign_in(&ops.email, crate::fixtures::PASSWORD).await;
    let account = ledger::accounts::by_token(&mut conn, &token)
        .unwrap()
        .unwrap();
    let page = browser
        .get(&format!("/admin/databases/{}", account.database_id))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.body.matches("Odoo SMS API").count(),
        2,
        "{}",
        page.body
    );
    // A text that cannot be sent refuses the call, naming it; nothing is written.
    let before = row_counts(&mut conn);
    let bad = json!({"account_token": token, "dbuuid": DBUUID,
                     "messages": [{"content": "bell\u{7}", "numbers": [{"uuid": uuid(9), "number": "+32470123456"}]}]});
    let Err((name, message)) = call(&app, "/api/sms/3/send", bad).await else {
        panic!("control characters sent");
    };
    assert_eq!(name, USER);
    assert!(message.contains("messages[0].content"), "{message}");
    assert_eq!(row_counts(&mut conn), before);
    assert_consistent(&mut conn);
}

/// A database's `/sms/status` endpoint, as the test's own little HTTP server: it records the
/// JSON bodies it takes, and answers 503 while down.
struct Webhook {
    url: String,
    received: Arc<std::sync::Mutex<Vec<Value>>>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

/// Reads one HTTP request from `reader` (headers, then a body of its Content-Length): the body.
pub(crate) fn read_request_body(reader: &mut std::io::BufReader<std::net::TcpStream>) -> Vec<u8> {
    use std::io::{BufRead, Read};
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    body
}

fn start_webhook() -> Webhook {
    use std::io::{BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sms/status", listener.local_addr().unwrap());
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (r, d) = (received.clone(), down.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let body = read_request_body(&mut reader);
            let answer = if d.load(std::sync::atomic::Ordering::SeqCst) {
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            } else {
                r.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                let ok = r#"{"jsonrpc":"2.0","id":null,"result":"OK"}"#;
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ok}",
                    ok.len()
                )
            };
            let _ = reader.get_mut().write_all(answer.as_bytes());
        }
    });
    Webhook {
        url,
        received,
        down,
    }
}

#[actix_web::test]
async fn delivery_reports_reach_the_webhook_once_even_after_it_was_down() {
    use iap_credits::services::sms::webhooks::{TIMEOUT, WebhookRun, deliver_due};
    let mut app = TestApp::new();
    // The test's webhook listens on loopback: allowed here as a private deployment allows it.
    let outbound = iap_credits::platform::outbound::OutboundPolicy::parse("127.0.0.1").unwrap();
    app.state.outbound = outbound.clone();
    let mut conn = app.db.conn();
    let token = odoo_token();
    let register = json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    call(&app, "/iap/1/balance", register).await.unwrap();
    fund(&mut conn, &token, "10");
    let webhook = start_webhook();
    let (delivered, lost) = (format!("{:032x}", 1), format!("{:032x}", 2));
    let send = json!({"account_token": token, "dbuuid": DBUUID, "webhook_url": webhook.url,
    "messages": [{"content": "Hello", "numbers": [
        {"uuid": delivered, "number": "+32470123456"},
        // The simulated carrier cannot reach numbers ending in 0000.
        {"uuid": lost, "number": "+32470120000"},
    ]}]});
    let answer = call(&app, "/api/sms/3/send", send).await.unwrap();
    assert_eq!(answer[0]["state"], "success");
    assert_eq!(answer[1]["state"], "success");
    let client = outbound.client(TIMEOUT);
    let now = chrono::Utc::now();
    // Nothing to report before the carrier's delivery reports.
    assert_eq!(
        deliver_due(&app.state.pool, &outbound, &client, now)
            .await
            .unwrap(),
        WebhookRun::default()
    );
    iap_credits::services::sms::messages::apply_delivery_reports(&mut conn, app.state.sms.as_ref())
        .unwrap();

    // The webhook is down: nothing is lost, it is tried again later.
    webhook
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let run = deliver_due(&app.state.pool, &outbound, &client, now)
        .await
        .unwrap();
    assert_eq!(
        run,
        WebhookRun {
            reported: 0,
            failed: 2
        }
    );
    webhook
        .down
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let too_soon = deliver_due(&app.state.pool, &outbound, &client, now)
        .await
        .unwrap();
    assert_eq!(too_soon, WebhookRun::default(), "it waits for its delay");
    let later = now + chrono::Duration::seconds(31);
    let run = deliver_due(&app.state.pool, &outbound, &client, later)
        .await
        .unwrap();
    assert_eq!(
        run,
        WebhookRun {
            reported: 2,
            failed: 0
        }
    );
    let next_day = now + chrono::Duration::days(1);
    assert_eq!(
        deliver_due(&app.state.pool, &outbound, &client, next_day)
            .await
            .unwrap(),
        WebhookRun::default(),
        "reported once"
    );
    let received = webhook.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    let statuses = &received[0]["params"]["message_statuses"];
    assert_eq!(received[0]["jsonrpc"], "2.0");
    let by_status = |status: &str| {
        statuses
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sms_status"] == status)
            .map(|s| s["uuids"].clone())
    };
    assert_eq!(by_status("delivered"), Some(json!([delivered])));
    assert_eq!(by_status("not_delivered"), Some(json!([lost])));
}

#[actix_web::test]
async fn odoo_19_sets_the_auto_refill_and_reads_it_back_with_the_packs() {
    use iap_credits::domain::payments::{Card, MockProvider, methods};
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let token = odoo_token();
    call(
        &app,
        "/iap/1/balance",
        json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"}),
    )
    .await
    .unwrap();
    let account = ledger::accounts::by_token(&mut conn, &token)
        .unwrap()
        .unwrap();
    let standard: i64 = pack_id(&mut conn, "Standard Pack").parse().unwrap();
    // Above the threshold: turning it on orders nothing yet.
    fund(&mut conn, &token, "10");
    let set = |threshold: Value, pack: Value| json!({"account_token": token, "auto_refill_threshold": threshold, "auto_refill_pack_id": pack});
    // The token alone cannot turn it on (it is handed to services and providers, and the card
    // would be charged): the answer links to where an administrator confirms it.
    let answer = call(
        &app,
        "/iap/1/update-auto-refill-settings",
        set(json!(5.0), json!(standard)),
    )
    .await
    .unwrap();
    assert_eq!(answer["status"], "error");
    let proposal = format!(
        "/iap/accounts/{}?propose=topup&below=5.0001&pack={standard}",
        account.id
    );
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains(&format!("http://127.0.0.1:8080{proposal}#topup")),
        "{answer}"
    );
    assert!(
        iap_credits::domain::topup::find(&mut conn, account.id)
            .unwrap()
            .is_none()
    );
    let answer = call(
        &app,
        "/iap/1/update-auto-refill-settings",
        set(json!(5.0), json!(999_999)),
    )
    .await
    .unwrap();
    assert_eq!(
        answer["error"],
        "This pack is not on sale for this service."
    );

    let card = Card::parse("Ada", "4242424242424242", "12/39", "123").unwrap();
    let card = methods::save(
        &mut conn,
        &MockProvider::default(),
        account.database_id,
        None,
        &card,
    )
    .unwrap()
    .unwrap();
    // An administrator of the database follows the link: the form shows the proposal, nothing
    // is saved until they save it.
    let admin = admin_of(&app, &mut conn, account.database_id).await;
    let page = admin.get(&proposal).await;
    assert!(
        page.body.contains("An Odoo database asked to turn this on"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"id="topup_below" name="below" inputmode="decimal" value="5.0001""#)
    );
    let confirmed = admin
        .submit(
            &proposal,
            &format!("/iap/accounts/{}/topup", account.id),
            &[
                ("enabled", "on"),
                ("below", "5.0001"),
                ("pack_id", &standard.to_string()),
                ("cap_kind", "count"),
                ("cap_count", "3"),
                ("payment_method_id", &card.id.to_string()),
            ],
        )
        .await;
    assert!(confirmed.status.is_success(), "{}", confirmed.body);
    let settings = iap_credits::domain::topup::find(&mut conn, account.id)
        .unwrap()
        .unwrap();
    assert!(settings.enabled);
    assert_eq!(settings.below.to_form_text(), "5.0001", "5 or less");
    assert_eq!(settings.cap(), iap_credits::domain::topup::Cap::TopUps(3));

    let information = call(
        &app,
        "/iap/1/get-accounts-information",
        json!({"dbuuid": DBUUID, "iap_accounts": [{"token": token, "service": "sms"}]}),
    )
    .await
    .unwrap();
    let info = &information[&token];
    assert_eq!(info["auto_refill_threshold"], json!(5.0));
    assert_eq!(info["auto_refill_pack_id"], json!(standard));
    let packs = info["service"]["packs"].as_array().unwrap();
    assert!(packs.iter().any(|p| p["id"] == json!(standard)
        && p["credit"] == json!(100.0)
        && p["price"] == json!(95.0)
        && p["name"] == "Standard Pack"));

    // Exactly 5 left is "5 or less": a top-up is ordered.
    ledger::charge(
        &mut conn,
        account.id,
        Credits::parse("4.9999").unwrap(),
        "",
        &ledger::Actor::cli(),
    )
    .unwrap();
    let left = call(
        &app,
        "/iap/1/balance",
        json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"}),
    )
    .await
    .unwrap();
    assert_eq!(left, json!(5.0001));
    assert_eq!(
        iap_credits::domain::orders::auto::recent(&mut conn, account.id, 5)
            .unwrap()
            .len(),
        0,
        "5.0001 is above 5"
    );
    ledger::charge(
        &mut conn,
        account.id,
        Credits::parse("0.0001").unwrap(),
        "",
        &ledger::Actor::cli(),
    )
    .unwrap();
    assert_eq!(
        iap_credits::domain::orders::auto::recent(&mut conn, account.id, 5)
            .unwrap()
            .len(),
        1
    );

    // Lowering it needs no one's consent; raising it again does.
    let cheaper: i64 = pack_id(&mut conn, "Starter Pack").parse().unwrap();
    let answer = call(
        &app,
        "/iap/1/update-auto-refill-settings",
        set(json!(3.0), json!(cheaper)),
    )
    .await
    .unwrap();
    assert_eq!(answer, json!({"status": "success"}));
    let raised = call(
        &app,
        "/iap/1/update-auto-refill-settings",
        set(json!(3.0), json!(standard)),
    )
    .await
    .unwrap();
    assert_eq!(raised["status"], "error", "a dearer pack");
    let settings = iap_credits::domain::topup::find(&mut conn, account.id)
        .unwrap()
        .unwrap();
    assert_eq!(
        (settings.below.to_form_text(), settings.pack_id.0),
        ("3.0001".into(), cheaper)
    );
    // Threshold 0 switches it off, as Odoo's form does.
    let answer = call(
        &app,
        "/iap/1/update-auto-refill-settings",
        set(json!(0.0), json!(0)),
    )
    .await
    .unwrap();
    assert_eq!(answer, json!({"status": "success"}));
    assert!(
        !iap_credits::domain::topup::find(&mut conn, account.id)
            .unwrap()
            .unwrap()
            .enabled
    );
    let information = call(
        &app,
        "/iap/1/get-accounts-information",
        json!({"dbuuid": DBUUID, "iap_accounts": [{"token": token, "service": "sms"}]}),
    )
    .await
    .unwrap();
    assert_eq!(information[&token]["auto_refill_threshold"], json!(0.0));
    assert_eq!(information[&token]["auto_refill_pack_id"], json!(false));
    // Odoo's "manage payment methods" link leads to Payment methods.
    let link = app
        .get(&format!("/iap/1/update-auto-refill-payment-methods?account_token={token}&dbuuid={DBUUID}&client_iap_account_id=1"))
        .await;
    assert_eq!(link.status, StatusCode::SEE_OTHER);
    assert_eq!(link.header("location"), "/settings/payment-methods");
}

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
pub(crate) const OTHER_DBUUID: &str = "0f0f0f0f-1d2f-11ef-9a3b-0242ac120002";
pub(crate) const INSUFFICIENT: &str = "odoo.addons.iap.tools.iap_tools.InsufficientCreditError";
pub(crate) const ACCESS: &str = "odoo.exceptions.AccessError";
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
pub(crate) fn row_counts(conn: &mut PgConnection) -> Vec<i64> {
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
async fn the_balance_releases_a_hold_whose_time_is_up_before_answering() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let key = provider_key(&mut conn, "sms");
    let token = odoo_token();
    let balance = json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    assert_eq!(
        call(&app, "/iap/1/balance", balance.clone()).await,
        Ok(json!(0.0))
    );
    fund(&mut conn, &token, "10");
    let held = json!({"account_token": token, "key": key, "credit": 6, "dbuuid": DBUUID});
    call(&app, "/iap/1/authorize", held).await.unwrap();
    // Asked while the hold runs: 4; again and again, the same (the usual one-statement answer).
    for _ in 0..8 {
        assert_eq!(
            call(&app, "/iap/1/balance", balance.clone()).await,
            Ok(json!(4.0))
        );
    }
    // Its time is up, and no sweeper came by yet: the balance releases it first, in the ledger.
    {
        use iap_credits::platform::schema::holds;
        diesel::update(holds::table)
            .set(holds::expires_at.eq(chrono::Utc::now() - chrono::Duration::seconds(1)))
            .execute(&mut app.db.owner_conn())
            .unwrap();
    }
    assert_eq!(
        call(&app, "/iap/1/balance", balance.clone()).await,
        Ok(json!(10.0))
    );
    let account = ledger::accounts::by_token(&mut conn, &token)
        .unwrap()
        .unwrap();
    assert_eq!(
        crate::instances::ledger_rows(&mut conn, account.id, "expiry"),
        1
    );
    // A token asked for as another service, or from another database, is still refused.
    let other = json!({"dbuuid": OTHER_DBUUID, "account_token": token, "service_name": "sms"});
    assert_eq!(
        error_name(call(&app, "/iap/1/balance", other).await),
        ACCESS
    );
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

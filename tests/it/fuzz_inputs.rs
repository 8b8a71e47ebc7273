//! Random bytes in every field of every form and of the JSON API: NUL, control characters,
//! invalid UTF-8 (read as U+FFFD, as browsers do), overlong sequences, huge numbers. Whatever
//! arrives, the answer is never a 5xx, and a refusal (4xx) changes nothing in the database.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use iap_credits::kernel::ids::AccountId;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::fixtures::{contact_id, sms_balance};
use crate::harness::{Browser, TestApp};

/// Cases per test (`IAP_FUZZ_CASES` asks for more, for a deeper run by hand).
fn cases() -> u32 {
    std::env::var("IAP_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(150)
}

#[derive(QueryableByName, PartialEq, Eq, Debug)]
struct Fingerprint {
    #[diesel(sql_type = BigInt)]
    rows: i64,
    #[diesel(sql_type = Text)]
    settings: String,
}

/// Every row count that a form or the API could change, and every account's settings.
fn fingerprint(app: &TestApp) -> Fingerprint {
    diesel::sql_query(
        "SELECT (SELECT count(*) FROM contacts) + (SELECT count(*) FROM sms_messages)
              + (SELECT count(*) FROM ledger_entries) + (SELECT count(*) FROM orders)
              + (SELECT count(*) FROM payment_attempts) + (SELECT count(*) FROM refunds)
              + (SELECT count(*) FROM audit_log) + (SELECT count(*) FROM services)
              + (SELECT count(*) FROM packs) + (SELECT count(*) FROM sms_prices)
              + (SELECT count(*) FROM holds) AS rows,
                coalesce((SELECT string_agg(warn_me || ':' || threshold || ':' || warning_email
                                            || ':' || token, ',' ORDER BY id)
                          FROM iap_accounts), '') AS settings",
    )
    .get_result(&mut app.db.conn())
    .unwrap()
}

/// Bytes a form field might carry: random ones, seeded with the nastiest.
fn field_bytes() -> impl Strategy<Value = Vec<u8>> {
    let nasty = prop_oneof![
        Just(vec![0u8]),
        Just(vec![0xC0, 0x80]),       // overlong NUL
        Just(vec![0xED, 0xA0, 0x80]), // a UTF-16 surrogate
        Just(vec![0xFF, 0xFE]),
        Just(b"\r\nSet-Cookie: x=1".to_vec()),
        Just(b"99999999999999999999999".to_vec()),
        Just(b"-1".to_vec()),
        Just("é\u{202e}\u{7}".as_bytes().to_vec()),
        Just(Vec::new()),
    ];
    (nasty, proptest::collection::vec(any::<u8>(), 0..24)).prop_map(|(mut a, b)| {
        a.extend(b);
        a
    })
}

/// A form: where its page is, where it posts, and plausible values for its fields.
struct Form {
    page: String,
    action: String,
    fields: Vec<(&'static str, &'static str)>,
    operator: bool,
}

fn encode(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[test]
fn random_bytes_in_any_form_field_never_give_a_5xx_nor_a_change_when_refused() {
    let system = actix_web::rt::System::new();
    let app = TestApp::new().with_demo();
    let (admin, operator, forms) = system.block_on(async {
        let admin = app.browser();
        admin.sign_in("admin@demo.test", "demo-password").await;
        let operator = app.browser_from("192.0.2.50");
        operator
            .sign_in("platform@demo.test", "demo-password")
            .await;
        // Both are signed in, so every form is really reached.
        assert_eq!(operator.get("/admin").await.status.as_u16(), 200);
        assert_eq!(admin.get("/iap/accounts").await.status.as_u16(), 200);
        let lucille = contact_id(&admin, "Lucille Dupont").await;
        let (account, _) = sms_balance(&app, &admin).await;
        let checkout = admin
            .submit(
                &format!("/iap/accounts/{account}/buy"),
                &format!("/iap/accounts/{account}/buy"),
                &[("pack_id", &pack_id(&app, account))],
            )
            .await
            .location()
            .to_string();
        let forms = vec![
            Form {
                page: "/contacts/new".into(),
                action: "/contacts/new".into(),
                fields: vec![
                    ("name", "Ann"),
                    ("company", ""),
                    ("email", ""),
                    ("phone", ""),
                    ("mobile", "+32 470 12 34 56"),
                    ("country", "BE"),
                ],
                operator: false,
            },
            Form {
                page: format!("/contacts/{lucille}/sms?to=mobile"),
                action: format!("/contacts/{lucille}/sms"),
                fields: vec![("to", "mobile"), ("message", "Hello")],
                operator: false,
            },
            Form {
                page: format!("/sms/mass?ids={lucille}"),
                action: "/sms/mass".into(),
                fields: vec![("ids", "1"), ("message", "Hello")],
                operator: false,
            },
            Form {
                page: format!("/iap/accounts/{account}"),
                action: format!("/iap/accounts/{account}/alerts"),
                fields: vec![
                    ("warn_me", "on"),
                    ("threshold", "5"),
                    ("warning_email", "ops@demo.test"),
                ],
                operator: false,
            },
            Form {
                page: checkout.clone(),
                action: checkout.clone(),
                fields: vec![
                    ("holder", "Ada"),
                    ("number", "4000000000000002"),
                    ("expiry", "12/39"),
                    ("cvc", "123"),
                ],
                operator: false,
            },
            Form {
                page: "/admin/sms-prices".into(),
                action: "/admin/sms-prices".into(),
                fields: vec![
                    ("country_code", "FR"),
                    ("country_name", "France"),
                    ("price", "0.1"),
                ],
                operator: true,
            },
            Form {
                page: format!("/admin/accounts/{account}"),
                action: format!("/admin/accounts/{account}/adjust"),
                fields: vec![
                    ("direction", "credit"),
                    ("credits", "1"),
                    ("reason", "fuzz"),
                ],
                operator: true,
            },
            Form {
                page: "/admin/catalog/services/new".into(),
                action: "/admin/catalog/services/new".into(),
                fields: vec![
                    ("slug", "fuzz"),
                    ("name", "Fuzz"),
                    ("provider", "P"),
                    ("description", ""),
                    ("trial_credits", "0"),
                    ("sort_order", "1"),
                ],
                operator: true,
            },
        ];
        (admin, operator, forms)
    });
    let field_count: usize = forms.iter().map(|f| f.fields.len()).sum();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..field_count, field_bytes());
    runner
        .run(&strategy, |(pick, bytes)| {
            // The `pick`-th field of all the forms.
            let mut index = pick;
            let form = forms
                .iter()
                .find(|f| {
                    if index < f.fields.len() {
                        true
                    } else {
                        index -= f.fields.len();
                        false
                    }
                })
                .unwrap();
            let browser: &Browser<'_> = if form.operator { &operator } else { &admin };
            let before = fingerprint(&app);
            let page = system.block_on(async {
                let token = browser.get(&form.page).await.csrf_token().unwrap();
                let mut body = format!("csrf_token={}", encode(token.as_bytes()));
                for (i, (name, value)) in form.fields.iter().enumerate() {
                    let value = if i == index {
                        encode(&bytes)
                    } else {
                        encode(value.as_bytes())
                    };
                    body += &format!("&{name}={value}");
                }
                browser.post_raw(&form.action, body.into_bytes()).await
            });
            let field = form.fields[index].0;
            prop_assert!(
                page.status.as_u16() < 500,
                "{} {field}={bytes:?}: {}",
                form.action,
                page.status
            );
            // A refusal changes nothing. (A declined card, 402, is an answer of the payment
            // provider: its attempt is recorded on purpose.)
            if page.status.is_client_error() && page.status.as_u16() != 402 {
                prop_assert_eq!(
                    fingerprint(&app),
                    before,
                    "{} {}={:?}",
                    form.action,
                    field,
                    bytes
                );
            }
            Ok(())
        })
        .unwrap();
}

fn pack_id(app: &TestApp, account: AccountId) -> String {
    let account = iap_credits::domain::ledger::accounts::by_id(&mut app.db.conn(), account)
        .unwrap()
        .unwrap();
    iap_credits::domain::catalog::active_packs(&mut app.db.conn(), account.service_id).unwrap()[0]
        .id
        .to_string()
}

#[test]
fn random_text_in_any_api_field_is_a_json_4xx_that_changes_nothing() {
    let system = actix_web::rt::System::new();
    let app = TestApp::new().with_demo();
    let token = {
        let mut conn = app.db.conn();
        let demo = iap_credits::domain::tenancy::find_database(&mut conn, "Demo Company")
            .unwrap()
            .unwrap();
        let sms = iap_credits::domain::catalog::service_by_slug(&mut conn, "sms")
            .unwrap()
            .unwrap();
        iap_credits::domain::ledger::accounts::get_or_create(&mut conn, demo.id, sms.id)
            .unwrap()
            .token
    };
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let value = prop_oneof![
        any::<String>().prop_map(serde_json::Value::String),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        Just(serde_json::json!("\u{0}")),
        Just(serde_json::json!(null)),
        Just(serde_json::json!([1, 2])),
    ];
    let endpoints = [
        ("/api/v1/charges", ["credits", "description"]),
        ("/api/v1/holds", ["credits", "description"]),
        ("/api/v1/holds", ["expires_in_seconds", "description"]),
        ("/api/v1/holds/1/capture", ["credits", "credits"]),
    ];
    let strategy = (
        0..endpoints.len(),
        0..2usize,
        value,
        any::<String>(),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(e, f, value, raw, send_raw)| {
            let (path, names) = endpoints[e];
            let body = if send_raw {
                raw
            } else {
                let mut body = serde_json::json!({"credits": "1", "description": "fuzz"});
                body[names[f]] = value;
                body.to_string()
            };
            let before = fingerprint(&app);
            let (status, json) =
                system.block_on(app.api("POST", path, Some(&token), None, Some(&body)));
            prop_assert!(status.as_u16() < 500, "{path} {body:?}: {status} {json}");
            if status.is_client_error() {
                prop_assert!(json["error"]["code"].is_string(), "{json}");
                prop_assert_eq!(fingerprint(&app), before, "{} {:?}", path, body);
            }
            Ok(())
        })
        .unwrap();
}

/// Every row count a JSON-RPC call could change, and the accounts' settings.
fn rpc_fingerprint(app: &TestApp) -> (Fingerprint, Vec<i64>) {
    let counts = [
        "databases",
        "iap_accounts",
        "iap_transactions",
        "provider_keys",
    ]
    .iter()
    .map(|table| {
        diesel::select(diesel::dsl::sql::<BigInt>(&format!(
            "(SELECT count(*) FROM {table})"
        )))
        .get_result(&mut app.db.conn())
        .unwrap()
    })
    .collect();
    (fingerprint(app), counts)
}

#[test]
fn random_values_in_any_odoo_call_are_an_odoo_error_that_changes_nothing() {
    use serde_json::{Value, json};
    let system = actix_web::rt::System::new();
    let app = TestApp::new();
    let dbuuid = "8e2b6c4a-1d2f-11ef-9a3b-0242ac120002";
    let token = format!("{:032x}", 7u128);
    let (pa_token, reveal_token) = (format!("{:032x}", 8u128), format!("{:032x}", 9u128));
    let (key, transaction) = {
        let mut conn = app.db.conn();
        let sms = iap_credits::domain::catalog::service_by_slug(&mut conn, "sms")
            .unwrap()
            .unwrap();
        let key = iap_credits::domain::provider_keys::create(&mut conn, sms.id, "fuzz")
            .unwrap()
            .key;
        let context = iap_credits::odoo::Context {
            base_url: "http://x".into(),
            sms: app.state.sms.clone(),
            directory: app.state.directory.clone(),
            outbound: app.state.outbound.clone(),
            client_address: "192.0.2.1".into(),
        };
        let register = json!({"dbuuid": dbuuid, "account_token": token, "service_name": "sms"});
        iap_credits::odoo::iap::balance(&mut conn, &context, register.as_object().unwrap())
            .unwrap();
        let account = iap_credits::domain::ledger::accounts::by_token(&mut conn, &token)
            .unwrap()
            .unwrap();
        iap_credits::domain::ledger::grant(
            &mut conn,
            account.id,
            iap_credits::kernel::credits::Credits::parse("50").unwrap(),
            iap_credits::domain::ledger::GrantKind::Adjustment,
            "fuzz money",
            &iap_credits::domain::ledger::Actor::cli(),
        )
        .unwrap();
        let params = json!({"account_token": token, "key": key, "credit": 5});
        let held =
            iap_credits::odoo::iap::authorize(&mut conn, &context, params.as_object().unwrap())
                .unwrap();
        // The directory's services, their tokens met first by a balance call.
        for (service, token) in [
            ("partner_autocomplete", &pa_token),
            ("reveal", &reveal_token),
        ] {
            let register =
                json!({"dbuuid": dbuuid, "account_token": token, "service_name": service});
            iap_credits::odoo::iap::balance(&mut conn, &context, register.as_object().unwrap())
                .unwrap();
        }
        (key, held.as_str().unwrap().to_string())
    };
    let calls: Vec<(&str, Value)> = vec![
        (
            "/iap/1/balance",
            json!({"dbuuid": dbuuid, "account_token": token, "service_name": "sms"}),
        ),
        (
            "/iap/1/authorize",
            json!({"account_token": token, "key": key, "credit": 1, "description": "x", "ttl": 1, "dbuuid": dbuuid}),
        ),
        (
            "/iap/1/capture",
            json!({"token": transaction, "key": key, "credit_to_capture": 1}),
        ),
        ("/iap/1/cancel", json!({"token": transaction, "key": key})),
        (
            "/iap/update-warning-odoo",
            json!({"account_token": token, "dbuuid": dbuuid, "warn_me": true, "warning_threshold": 1, "warning_email": "a@b.test"}),
        ),
        (
            "/iap/1/get-accounts-information",
            json!({"dbuuid": dbuuid, "iap_accounts": [{"token": token, "service": "sms"}]}),
        ),
        (
            "/iap/1/update-auto-refill-settings",
            json!({"account_token": token, "auto_refill_threshold": 5, "auto_refill_pack_id": 2}),
        ),
        (
            "/api/sms/3/send",
            json!({"account_token": token, "dbuuid": dbuuid, "webhook_url": "http://x/sms/status", "messages": [{"content": "hi", "numbers": [{"uuid": "u1", "number": "+32470123456"}]}]}),
        ),
        (
            "/api/dnb/1/search_by_name",
            json!({"db_uuid": dbuuid, "account_token": pa_token, "query": "Nova", "query_country_code": "BE"}),
        ),
        (
            "/api/dnb/1/enrich_by_duns",
            json!({"db_uuid": dbuuid, "account_token": pa_token, "duns": "000000042"}),
        ),
        (
            "/api/dnb/1/enrich_by_domain",
            json!({"db_uuid": dbuuid, "account_token": pa_token, "domain": "example.com"}),
        ),
        (
            "/iap/clearbit/1/lead_mining_request",
            json!({"dbuuid": dbuuid, "account_token": reveal_token, "data": {"lead_number": 1, "search_type": "people", "countries": ["BE"], "contact_number": 1, "industry_ids": ["C"]}}),
        ),
    ];
    let value = prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!("\u{0}")),
        Just(json!(null)),
        Just(json!([1, 2])),
        Just(json!({"a": 1})),
        Just(json!(1e300)),
        Just(json!(0.00001)),
    ];
    let strategy = (0..calls.len(), 0..8usize, value, any::<String>(), 0..10u8);
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let names = [
        "odoo.addons.iap.tools.iap_tools.InsufficientCreditError",
        "odoo.exceptions.AccessError",
        "odoo.exceptions.UserError",
    ];
    runner
        .run(&strategy, |(c, f, value, raw, shape)| {
            let (path, base) = &calls[c];
            let body = match shape {
                // A body that is not a call at all.
                0 => raw,
                1 => json!({"jsonrpc": "2.0", "method": "call", "params": value, "id": 1})
                    .to_string(),
                _ => {
                    let mut params = base.clone();
                    let keys: Vec<String> = params.as_object().unwrap().keys().cloned().collect();
                    params[&keys[f % keys.len()]] = value;
                    json!({"jsonrpc": "2.0", "method": "call", "params": params, "id": 1})
                        .to_string()
                }
            };
            let before = rpc_fingerprint(&app);
            let (status, answer) = system.block_on(app.rpc(path, &body));
            prop_assert_eq!(status.as_u16(), 200, "{} {:?}: {}", path, body, answer);
            prop_assert_eq!(&answer["jsonrpc"], "2.0");
            if let Some(error) = answer.get("error") {
                let name = error["data"]["name"].as_str().unwrap_or_default();
                prop_assert!(names.contains(&name), "{path} {body:?}: {answer}");
                prop_assert!(error["data"]["message"].is_string());
                prop_assert_eq!(rpc_fingerprint(&app), before, "{} {:?}", path, body);
            } else {
                prop_assert!(answer.get("result").is_some(), "{answer}");
            }
            Ok(())
        })
        .unwrap();
}

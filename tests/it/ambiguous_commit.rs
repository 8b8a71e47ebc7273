//! The ambiguous commit: the connection dies after COMMIT was sent, so nobody knows whether the
//! charge happened. The app answers 503 `outcome_unknown` with `Retry-After` — never "charged",
//! never "refused" — and the client's retry with the same Idempotency-Key finds the truth: the
//! stored answer when the commit happened, with one effect. A proxy between the app and
//! PostgreSQL (`cut_proxy`) cuts the connection right after forwarding the COMMIT.

use std::time::Duration;

use iap_credits::domain::tenancy::Subscription;
use iap_credits::kernel::credits::Credits;
use iap_credits::platform::db::APP_ROLE;
use serde_json::{Value, json};

use crate::cut_proxy::CutProxy;
use crate::fixtures::{Customer, c, reload};
use crate::harness::{TestDb, error_code};
use crate::instances::{ledger_rows, start_instances_with};

/// The Unix socket the test database's URL names (`?host=<folder>&port=<port>`).
fn socket_of(url: &str) -> std::path::PathBuf {
    let query = url.split_once('?').unwrap().1;
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_string()
    };
    let folder = percent_encoding::percent_decode_str(&param("host"))
        .decode_utf8()
        .unwrap()
        .into_owned();
    std::path::Path::new(&folder).join(format!(".s.PGSQL.{}", param("port")))
}

fn reload_by_token(
    conn: &mut diesel::PgConnection,
    token: &str,
) -> iap_credits::domain::ledger::IapAccount {
    iap_credits::domain::ledger::accounts::by_token(conn, token)
        .unwrap()
        .unwrap()
}

/// The one hold of `account` still open.
fn ledger_row_hold(
    conn: &mut diesel::PgConnection,
    account: iap_credits::kernel::ids::AccountId,
) -> i64 {
    use diesel::prelude::*;
    use iap_credits::platform::schema::holds;
    holds::table
        .filter(holds::account_id.eq(account))
        .filter(holds::status.eq("active"))
        .select(holds::id)
        .get_result(conn)
        .unwrap()
}

/// Posts with `key` while the proxy is armed to cut the COMMIT: one more commit is cut, and the
/// answer is 503 `outcome_unknown` with `Retry-After`.
async fn post_cut_short(
    proxy: &CutProxy,
    base: &str,
    path: &str,
    token: &str,
    key: &str,
    body: Value,
) -> Answer {
    let cuts = proxy.cuts();
    proxy.arm(&["insert", "ledger_entries"]);
    let cut = post(base, path, token, key, body).await;
    assert_eq!(proxy.cuts(), cuts + 1, "the COMMIT was cut");
    assert_eq!(cut.status, 503, "{}", cut.body);
    assert_eq!(error_code(&cut.body), "outcome_unknown", "{}", cut.body);
    assert_eq!(cut.retry_after.as_deref(), Some("5"));
    cut
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    replayed: bool,
    body: Value,
}

async fn post(base: &str, path: &str, token: &str, key: &str, body: Value) -> Answer {
    let mut response = awc::Client::builder()
        .timeout(Duration::from_secs(15))
        .finish()
        .post(format!("{base}{path}"))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("Idempotency-Key", key))
        .send_json(&body)
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (retry_after, replayed) = (header("retry-after"), header("idempotent-replayed"));
    Answer {
        status: response.status().as_u16(),
        retry_after,
        replayed: replayed.as_deref() == Some("true"),
        body: response.json().await.unwrap_or(Value::Null),
    }
}

#[test]
fn a_commit_cut_short_answers_outcome_unknown_and_the_retry_has_one_effect() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let account = Customer::new(&mut conn, Subscription::None).funded(&mut conn, "sms", "100");
    let proxy = CutProxy::start(socket_of(&db.url));
    let through_proxy = format!(
        "postgresql://{APP_ROLE}@127.0.0.1:{}/{}?sslmode=disable",
        proxy.port, db.name
    );
    let instances = start_instances_with(
        1,
        None,
        &[
            ("DATABASE_URL", db.owner_url.clone()),
            ("DATABASE_APP_URL", through_proxy),
        ],
    );
    let base = instances.bases[0].clone();
    actix_web::rt::System::new().block_on(async {
        // A charge (through the group-commit batcher) whose COMMIT is cut.
        let cut = post_cut_short(
            &proxy,
            &base,
            "/api/v1/charges",
            &account.token,
            "cut-charge",
            json!({"credits": "10"}),
        )
        .await;
        assert!(
            cut.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("same Idempotency-Key")
        );
        // It was committed: the server had the COMMIT.
        assert_eq!(reload(&mut conn, account.id).balance, c("90"));
        // The retry with the same key: the stored answer, and still one charge.
        let retry = post(
            &base,
            "/api/v1/charges",
            &account.token,
            "cut-charge",
            json!({"credits": "10"}),
        )
        .await;
        assert_eq!(retry.status, 201, "{}", retry.body);
        assert!(retry.replayed, "{}", retry.body);
        assert_eq!(retry.body["balance"], "90.0000");
        assert_eq!(ledger_rows(&mut conn, account.id, "charge"), 1);
        assert_eq!(reload(&mut conn, account.id).balance, c("90"));

        // A hold (one transaction with its idempotency key) whose COMMIT is cut.
        post_cut_short(
            &proxy,
            &base,
            "/api/v1/holds",
            &account.token,
            "cut-hold",
            json!({"credits": "5"}),
        )
        .await;
        assert_eq!(reload(&mut conn, account.id).reserved, c("5"));
        let retry = post(
            &base,
            "/api/v1/holds",
            &account.token,
            "cut-hold",
            json!({"credits": "5"}),
        )
        .await;
        assert_eq!(retry.status, 201, "{}", retry.body);
        assert!(retry.replayed, "{}", retry.body);
        assert_eq!(reload(&mut conn, account.id).reserved, c("5"));
        assert_eq!(ledger_rows(&mut conn, account.id, "hold"), 1);

        // An Odoo authorization whose COMMIT is cut: Odoo's envelope (HTTP 200, since Odoo's
        // client reads no other) says the outcome is unknown, with Retry-After. Odoo has no
        // idempotency key to retry with, and the token it never received can never be captured:
        // the hold is released as soon as the database answers.
        let key = crate::odoo::provider_key(&mut conn, "sms");
        proxy.arm(&["insert", "ledger_entries"]);
        let mut response = awc::Client::default()
            .post(format!("{base}/iap/1/authorize"))
            .send_json(
                &json!({"jsonrpc": "2.0", "method": "call", "id": "cut", "params": {
                "account_token": account.token, "key": key, "credit": 7, "description": "cut"}}),
            )
            .await
            .unwrap();
        assert_eq!(proxy.cuts(), 3);
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers().get("retry-after").unwrap(), "5");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["data"]["name"], crate::odoo::USER, "{body}");
        assert!(
            body["error"]["data"]["message"]
                .as_str()
                .unwrap()
                .contains("outcome is unknown"),
            "{body}"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while reload(&mut conn, account.id).reserved != c("5") {
            assert!(
                std::time::Instant::now() < deadline,
                "the unanswered hold was never released"
            );
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            ledger_rows(&mut conn, account.id, "hold"),
            2,
            "it had been committed"
        );

        // An SMS sent by Odoo whose COMMIT (its hold and its message, one transaction) is cut.
        // Odoo marks it failed and resends it with the same uuid: no second message, no
        // second charge, and the answer says what became of the first.
        let odoo = crate::odoo::odoo_token();
        let rpc = |path: &str, params: Value| {
            let (base, path) = (base.clone(), path.to_string());
            async move {
                let mut response = awc::Client::builder()
                    .timeout(Duration::from_secs(15))
                    .finish()
                    .post(format!("{base}{path}"))
                    .send_json(&json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}))
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 200);
                response.json::<Value>().await.unwrap()
            }
        };
        let registered = rpc("/iap/1/balance", json!({"dbuuid": crate::odoo::DBUUID,
            "account_token": odoo, "service_name": "sms"})).await;
        assert!(registered.get("result").is_some(), "{registered}");
        crate::odoo::fund(&mut conn, &odoo, "5");
        let sms = json!({"account_token": odoo, "dbuuid": crate::odoo::DBUUID,
            "messages": [{"content": "Your order has shipped.",
                          "numbers": [{"uuid": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "number": "+32470123456"}]}]});
        proxy.arm(&["insert", "ledger_entries"]);
        let cut = rpc("/api/sms/3/send", sms.clone()).await;
        assert_eq!(proxy.cuts(), 4);
        assert!(cut["error"]["data"]["message"].as_str().unwrap().contains("outcome is unknown"), "{cut}");
        let again = rpc("/api/sms/3/send", sms).await;
        let state = again["result"][0]["state"].as_str().unwrap_or_default().to_string();
        assert!(state == "processing" || state == "success", "{again}");
        let messages: i64 = diesel::RunQueryDsl::get_result(
            diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "(SELECT count(*) FROM sms_messages WHERE odoo_uuid = 'a1b2c3d4e5f60718293a4b5c6d7e8f90')",
            )),
            &mut conn,
        )
        .unwrap();
        assert_eq!(messages, 1);
        let odoo_account = iap_credits::domain::ledger::accounts::by_token(&mut conn, &odoo).unwrap().unwrap();
        assert_eq!(ledger_rows(&mut conn, odoo_account.id, "hold"), 1, "held once");

        // A paid service (Partner Autocomplete's enrichment, a metered job) whose COMMIT is cut:
        // Odoo asks again, gets the company, and is charged once.
        let company = iap_credits::services::directory::company(
            &mut conn,
            iap_credits::kernel::ids::CompanyId(1312),
        )
        .unwrap()
        .unwrap();
        let widget = crate::odoo::odoo_token();
        let enrich = crate::odoo_modules::autocomplete(
            &widget,
            json!({"domain": company.domain, "partner_gid": company.id}),
        );
        let search = crate::odoo_modules::autocomplete(&widget, json!({"query": company.name}));
        let searched = rpc("/iap/partner_autocomplete/search", search).await;
        assert!(searched.get("result").is_some(), "{searched}");
        crate::odoo::fund(&mut conn, &widget, "5");
        let before = crate::odoo::available(&mut conn, &widget);
        proxy.arm(&["insert", "ledger_entries"]);
        let cut = rpc("/iap/partner_autocomplete/enrich", enrich.clone()).await;
        assert_eq!(proxy.cuts(), 5);
        assert!(
            cut["error"]["data"]["message"].as_str().unwrap().contains("outcome is unknown"),
            "{cut}"
        );
        let again = rpc("/iap/partner_autocomplete/enrich", enrich).await;
        assert_eq!(again["result"]["company_data"]["partner_gid"], json!(company.id), "{again}");
        let price = iap_credits::domain::catalog::usage_prices::price(
            &mut conn,
            "partner-autocomplete",
            iap_credits::domain::catalog::usage_prices::ENRICHMENT,
        )
        .unwrap();
        // The retry found the enrichment the cut request had recorded: handed over for
        // nothing. That request's job, held and leased, is finished by the job worker once its
        // lease lapses (5 minutes; made to lapse now): the price is taken then, once.
        assert_eq!(reload_by_token(&mut conn, &widget).reserved, price, "the cut job's hold");
        let mut owner = db.owner_conn();
        diesel::RunQueryDsl::execute(
            diesel::sql_query(
                "UPDATE service_jobs SET next_attempt_at = now() WHERE status = 'pending'",
            ),
            &mut owner,
        )
        .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let account = reload_by_token(&mut conn, &widget);
            let spent = before.units() - crate::odoo::available(&mut conn, &widget).units();
            assert!(spent <= price.units(), "charged {spent} units, more than once");
            if account.reserved == c("0") {
                assert_eq!(spent, price.units(), "charged once when the job finished");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the cut job was never finished");
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        }

        // The pool dropped the cut connections: the next requests are answered as usual.
        let next = post(
            &base,
            "/api/v1/charges",
            &account.token,
            "after",
            json!({"credits": "1"}),
        )
        .await;
        assert_eq!(next.status, 201, "{}", next.body);
        assert_eq!(reload(&mut conn, account.id).balance, c("89"));

        // A capture (keyed, like the hold) whose COMMIT is cut: the retry replays it.
        let hold = ledger_row_hold(&mut conn, account.id);
        let capture = format!("/api/v1/holds/{hold}/capture");
        let credits = json!({"credits": "3"});
        post_cut_short(&proxy, &base, &capture, &account.token, "cut-capture", credits.clone())
            .await;
        assert_eq!(proxy.cuts(), 6);
        let retry = post(&base, &capture, &account.token, "cut-capture", credits).await;
        assert_eq!(retry.status, 200, "{}", retry.body);
        assert!(retry.replayed, "{}", retry.body);
        let after = reload(&mut conn, account.id);
        assert_eq!((after.balance, after.reserved), (c("86"), c("0")));
        assert_eq!(ledger_rows(&mut conn, account.id, "capture"), 1);

        // An Odoo capture whose COMMIT is cut: Odoo asks again with the same transaction
        // token, which answers true once the hold is captured, and takes nothing more.
        let authorized = rpc("/iap/1/authorize", json!({"account_token": account.token,
            "key": key, "credit": 4, "description": "to capture"})).await;
        let token = authorized["result"].as_str().expect("a transaction token").to_string();
        let capture = json!({"token": token, "key": key, "credit_to_capture": 4});
        proxy.arm(&["insert", "ledger_entries"]);
        let cut = rpc("/iap/1/capture", capture.clone()).await;
        assert_eq!(proxy.cuts(), 7);
        assert!(cut["error"]["data"]["message"].as_str().unwrap().contains("outcome is unknown"), "{cut}");
        let again = rpc("/iap/1/capture", capture).await;
        assert_eq!(again["result"], json!(true), "{again}");
        let after = reload(&mut conn, account.id);
        assert_eq!((after.balance, after.reserved), (c("82"), c("0")));
        assert_eq!(ledger_rows(&mut conn, account.id, "capture"), 2);

        // Twenty charges at once. The batcher commits the first alone and gathers those that
        // came meanwhile into the next batch, whose COMMIT is cut: every charge of that batch
        // answers outcome_unknown (none "charged", none "refused"), and each client's retry
        // with its key leaves exactly its one charge. (On a slow machine the first batch may
        // gather all twenty, and nothing is cut: another twenty then.)
        let mut rounds: i64 = 0;
        let (keys, first) = loop {
            rounds += 1;
            proxy.arm_after(&["insert", "ledger_entries"], 1);
            let keys: Vec<String> = (0..20).map(|i| format!("batch-{rounds}-{i}")).collect();
            let first: Vec<Answer> = futures_util::future::join_all(keys.iter().map(|key| {
                post(&base, "/api/v1/charges", &account.token, key, json!({"credits": "1"}))
            }))
            .await;
            if proxy.cuts() == 8 || rounds == 5 {
                break (keys, first);
            }
            assert!(first.iter().all(|a| a.status == 201), "nothing cut, all charged");
        };
        assert_eq!(proxy.cuts(), 8);
        let cut: Vec<&Answer> = first.iter().filter(|a| a.status != 201).collect();
        assert!(cut.len() > 1, "the cut batch held several charges: {}", cut.len());
        for answer in &cut {
            assert_eq!(answer.status, 503, "{}", answer.body);
            assert_eq!(error_code(&answer.body), "outcome_unknown", "{}", answer.body);
        }
        let replayed = futures_util::future::join_all(keys.iter().map(|key| {
            post(&base, "/api/v1/charges", &account.token, key, json!({"credits": "1"}))
        }))
        .await;
        for answer in &replayed {
            assert_eq!(answer.status, 201, "{}", answer.body);
            assert!(answer.replayed, "every one was committed once: {}", answer.body);
        }
        let charged = 20 * rounds;
        assert_eq!(
            reload(&mut conn, account.id).balance,
            Credits::from_units(c("82").units() - charged * 10_000)
        );
        assert_eq!(ledger_rows(&mut conn, account.id, "charge"), 2 + charged);
        eprintln!("the cut batch held {} of the 20 charges", cut.len());
    });
    drop(instances);
}

//! `GET /metrics`: scraped from a running server after API calls, each counter equals what the
//! test did; on the public address it needs the configured token, and is a 404 without one.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use iap_credits::domain::tenancy::Subscription;
use serde_json::{Value, json};

use crate::fixtures::Customer;
use crate::harness::{TestApp, TestDb};
use crate::mail::warn_me;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_address() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string()
}

const TOKEN: &str = "metrics-token-metrics-token-metrics-token";

/// The value of the sample `name` (with its labels, as written) in `text`.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

async fn call(path: &str, base: &str, token: &str, body: Value) -> (u16, Value) {
    let mut response = awc::Client::default()
        .post(format!("{base}{path}"))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .send_json(&body)
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(url: &str, bearer: Option<&str>) -> (u16, String) {
    let mut request = awc::Client::default().get(url);
    if let Some(token) = bearer {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request.send().await.unwrap();
    let body = response.body().limit(1 << 20).await.unwrap();
    (
        response.status().as_u16(),
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[test]
fn scraped_counters_are_what_the_test_did() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let account = Customer::new(&mut conn, Subscription::None).funded(&mut conn, "sms", "10");
    // The charges cross the threshold; the alert cannot be sent (no SMTP server there), so it
    // waits in the outbox.
    warn_me(&mut conn, account.id, true, "8", "alerts@metrics.test");
    drop(conn);
    let (public, metrics) = (free_address(), free_address());
    let closed_smtp = free_address();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_iap-credits"))
            .envs(db.env())
            .env("IAP_BIND", &public)
            .env("IAP_METRICS_BIND", &metrics)
            .env("IAP_METRICS_TOKEN", TOKEN)
            .env("SMTP_URL", format!("smtp://{closed_smtp}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://{public}");
    let scrape_url = format!("http://{metrics}/metrics");
    actix_web::rt::System::new().block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while awc::Client::default()
            .get(&scrape_url)
            .send()
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the metrics listener never answered"
            );
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        let t = account.token.as_str();
        for _ in 0..3 {
            let (status, body) = call("/api/v1/charges", &base, t, json!({"credits": "1"})).await;
            assert_eq!(status, 201, "{body}");
        }
        let (status, _) = call("/api/v1/charges", &base, t, json!({"credits": "100"})).await;
        assert_eq!(status, 402);
        let (status, hold) = call("/api/v1/holds", &base, t, json!({"credits": "2"})).await;
        assert_eq!(status, 201);
        let path = format!("/api/v1/holds/{}/capture", hold["id"]);
        assert_eq!(call(&path, &base, t, json!({})).await.0, 200);
        let (status, hold) = call("/api/v1/holds", &base, t, json!({"credits": "1"})).await;
        assert_eq!(status, 201);
        let path = format!("/api/v1/holds/{}/cancel", hold["id"]);
        assert_eq!(call(&path, &base, t, json!({})).await.0, 200);

        // The alert's first attempt fails (within the mail worker's 2 s), and it waits.
        actix_web::rt::time::sleep(Duration::from_secs(3)).await;
        let (status, text) = get(&scrape_url, None).await;
        assert_eq!(status, 200);
        assert_eq!(
            sample(&text, r#"iap_charges_total{outcome="charged"}"#),
            3.0
        );
        assert_eq!(
            sample(&text, r#"iap_charges_total{outcome="refused"}"#),
            1.0
        );
        assert_eq!(sample(&text, r#"iap_holds_total{event="opened"}"#), 2.0);
        assert_eq!(sample(&text, r#"iap_holds_total{event="captured"}"#), 1.0);
        assert_eq!(sample(&text, r#"iap_holds_total{event="cancelled"}"#), 1.0);
        assert_eq!(sample(&text, "iap_charge_batch_size_sum"), 4.0);
        assert!(sample(&text, "iap_charge_batch_size_count") >= 1.0);
        let charges = r#"{method="POST",route="/api/v1/charges""#;
        assert_eq!(
            sample(
                &text,
                &format!(r#"iap_http_requests_total{charges},status="201"}}"#)
            ),
            3.0
        );
        assert_eq!(
            sample(
                &text,
                &format!(r#"iap_http_requests_total{charges},status="402"}}"#)
            ),
            1.0
        );
        assert_eq!(
            sample(
                &text,
                &format!("iap_http_request_duration_seconds_count{charges}}}")
            ),
            4.0
        );
        assert_eq!(
            sample(
                &text,
                r#"iap_outbox_depth{outbox="email",kind="low_credit"}"#
            ),
            1.0
        );
        assert!(
            sample(
                &text,
                r#"iap_outbox_oldest_age_seconds{outbox="email",kind="low_credit"}"#
            ) > 0.0
        );
        assert_eq!(
            sample(&text, r#"iap_db_pool_connections_max{pool="app"}"#),
            16.0
        );
        assert!(sample(&text, "iap_db_pool_wait_seconds_count") > 0.0);
        assert_eq!(sample(&text, "iap_database_up"), 1.0);
        assert!(text.ends_with("# EOF\n"));
        assert!(!text.contains(t), "a token in the metrics");

        // The public address: the token or nothing.
        let public_metrics = format!("{base}/metrics");
        assert_eq!(get(&public_metrics, None).await.0, 401);
        assert_eq!(get(&public_metrics, Some("wrong")).await.0, 401);
        let (status, text) = get(&public_metrics, Some(TOKEN)).await;
        assert_eq!(status, 200);
        assert_eq!(
            sample(&text, r#"iap_charges_total{outcome="charged"}"#),
            3.0
        );
    });
}

#[actix_web::test]
async fn without_a_token_the_public_address_has_no_metrics() {
    let app = TestApp::new();
    assert_eq!(app.get("/metrics").await.status, StatusCode::NOT_FOUND);
}

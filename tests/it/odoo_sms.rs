//! SMS sent as Odoo's `sms` module sends them: a state per number, charged once, and delivery
//! reports POSTed to the database's webhook once even after it was down.

use std::sync::Arc;

use actix_web::http::StatusCode;
use diesel::prelude::*;
use iap_credits::domain::ledger;
use iap_credits::kernel::credits::Credits;
use serde_json::{Value, json};

use crate::fixtures::{assert_consistent, c};
use crate::harness::TestApp;
use crate::odoo::*;

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
    // The same uuid again (Odoo retrying a call whose answer it lost): nothing sent or charged
    // twice, and the answer says what became of it.
    let again = call(
        &app,
        "/iap/sms/3/send",
        send(json!([{"uuid": uuid(1), "number": "+32470123456"}])),
    )
    .await
    .unwrap();
    assert_eq!(again[0]["state"], "success");
    assert!(again[0].get("credit").is_none(), "{again}");
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

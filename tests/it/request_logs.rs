//! `--log-format json`: the server's log is one JSON object per line, with a line per request
//! (its id, route, status, latency and customer database), and no secret in any line — not the
//! account token that an API call and Odoo's "Buy credits" link carry, not a password.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::harness::scratch_dir;

#[test]
fn json_logs_have_a_line_per_request_and_no_secret() {
    let data = scratch_dir("json-logs");
    let log_path = data.join("server.log");
    let host = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().to_string()
    };
    let mut server = Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .args(["--log-format", "json"])
        .env_remove("DATABASE_URL")
        .env("IAP_DATA_DIR", &data)
        .env("IAP_BIND", &host)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("IAP Credits is running at")));
    std::thread::spawn(move || lines.for_each(drop));

    let account = Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .args([
            "show-account",
            "--database",
            "Demo Company",
            "--service",
            "sms",
        ])
        .env_remove("DATABASE_URL")
        .env("IAP_DATA_DIR", &data)
        .output()
        .unwrap();
    let account: Value = serde_json::from_slice(&account.stdout).unwrap();
    let token = account["token"].as_str().unwrap().to_string();
    let password = iap_credits::demo::DEMO_PASSWORD;

    let base = format!("http://{host}");
    let (charge_id, made_id) = actix_web::rt::System::new().block_on(async {
        let client = awc::Client::builder().disable_redirects().finish();
        // Sign in as the demo's admin (the password is in the form's body).
        let mut page = client.get(format!("{base}/login")).send().await.unwrap();
        let cookie = cookies(page.headers());
        let body = String::from_utf8(page.body().await.unwrap().to_vec()).unwrap();
        let csrf = body.split("name=\"csrf_token\" value=\"").nth(1).unwrap();
        let csrf = &csrf[..csrf.find('"').unwrap()];
        let signed_in = client
            .post(format!("{base}/login"))
            .insert_header(("Cookie", cookie))
            .send_form(&[
                ("csrf_token", csrf),
                ("email", "admin@demo.test"),
                ("password", password),
            ])
            .await
            .unwrap();
        assert_eq!(signed_in.status().as_u16(), 303);
        // A page of the signed-in admin's.
        let session = cookies(signed_in.headers());
        let services = client
            .get(format!("{base}/iap/accounts"))
            .insert_header(("Cookie", session))
            .send()
            .await
            .unwrap();
        assert_eq!(services.status().as_u16(), 200);
        // An API charge with the caller's request id, answered back.
        let charged = client
            .post(format!("{base}/api/v1/charges"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("X-Request-Id", "odoo-req.42"))
            .insert_header(("Content-Type", "application/json"))
            .send_body(r#"{"credits":"1","description":"logged"}"#)
            .await
            .unwrap();
        assert_eq!(charged.status().as_u16(), 201);
        let charge_id = charged.headers().get("x-request-id").unwrap().to_str();
        let charge_id = charge_id.unwrap().to_string();
        // Odoo's "Buy credits" link, with the token in its query.
        client
            .get(format!(
                "{base}/iap/1/credit?dbuuid=0&service_name=sms&account_token={token}&credit=1"
            ))
            .send()
            .await
            .unwrap();
        // A request id that could forge a log line is replaced by one made here.
        let health = client
            .get(format!("{base}/healthz"))
            .insert_header(("X-Request-Id", "forged\" id"))
            .send()
            .await
            .unwrap();
        let made = health.headers().get("x-request-id").unwrap().to_str();
        (charge_id, made.unwrap().to_string())
    });
    assert_eq!(charge_id, "odoo-req.42");
    assert_eq!(made_id.len(), 16);
    assert!(made_id.bytes().all(|b| b.is_ascii_hexdigit()));

    kill(Pid::from_raw(server.id() as i32), Signal::SIGTERM).unwrap();
    assert!(server.wait().unwrap().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains(&token), "the account token is in the log");
    assert!(!log.contains(password), "a password is in the log");

    let events: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let requests: Vec<&Value> = events
        .iter()
        .filter(|e| e["message"] == "request")
        .collect();
    let find = |route: &str, method: &str| {
        requests
            .iter()
            .find(|e| e["route"] == route && e["method"] == method)
            .unwrap_or_else(|| panic!("no line for {method} {route} in {requests:?}"))
    };
    let charge = find("/api/v1/charges", "POST");
    assert_eq!(charge["request_id"], "odoo-req.42");
    assert_eq!(charge["status"], 201);
    assert!(charge["latency_ms"].as_f64().unwrap() > 0.0);
    // The same customer database, named by its id: by the API token and by the session.
    assert!(
        charge["tenant"].as_i64().is_some_and(|id| id > 0),
        "{charge}"
    );
    assert_eq!(find("/iap/accounts", "GET")["tenant"], charge["tenant"]);
    let sign_in = find("/login", "POST");
    assert_eq!(sign_in["status"], 303);
    assert!(find("/iap/1/credit", "GET")["request_id"].is_string());
    assert_eq!(find("/healthz", "GET")["request_id"], made_id.as_str());
    for e in &events {
        assert!(e["timestamp"].is_string() && e["level"].is_string(), "{e}");
    }
}

/// The cookies a response sets, as a `Cookie` header sends them back.
fn cookies(headers: &actix_web::http::header::HeaderMap) -> String {
    headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

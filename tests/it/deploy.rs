//! The reference deployment's nginx configuration (`deploy/nginx/`), run for real in front of
//! two instances: requests reach both, `/metrics` stays private, the client's address comes
//! from nginx's `X-Forwarded-For` (sign-in throttling counts per client, not per proxy), and a
//! stopped instance is routed around.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iap_credits::domain::tenancy::Subscription;
use serde_json::json;

use crate::fixtures::{Customer, PASSWORD};
use crate::harness::{TestDb, scratch_dir};
use crate::instances::{Jar, free_port, get, start_instances_behind};

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx");

fn nginx() -> &'static str {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("nginx is missing: `apt-get install nginx` (.ci/run does)")
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx on `port` with the reference upstream (its two addresses replaced by `instances`) and
/// the reference proxy settings, as they are in `deploy/nginx/`.
fn start_nginx(port: u16, instances: &[String]) -> Nginx {
    let dir = scratch_dir("nginx");
    let mut upstream =
        std::fs::read_to_string(format!("{DEPLOY}/iap-credits-upstream.conf")).unwrap();
    for (placeholder, instance) in ["127.0.0.1:8081", "127.0.0.1:8082"].iter().zip(instances) {
        assert!(
            upstream.contains(placeholder),
            "the upstream names {placeholder}"
        );
        upstream = upstream.replace(placeholder, instance.trim_start_matches("http://"));
    }
    let d = dir.display();
    let conf = format!(
        "pid {d}/nginx.pid;
         error_log {d}/error.log warn;
         events {{ worker_connections 256; }}
         http {{
             access_log {d}/access.log;
             client_body_temp_path {d}/body;
             proxy_temp_path {d}/proxy;
             fastcgi_temp_path {d}/fastcgi;
             uwsgi_temp_path {d}/uwsgi;
             scgi_temp_path {d}/scgi;
             {upstream}
             server {{
                 listen 127.0.0.1:{port};
                 include {DEPLOY}/iap-credits-proxy.conf;
             }}
         }}"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let checked = Command::new(nginx())
        .args(["-t", "-p"])
        .arg(&dir)
        .arg("-c")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let child = Command::new(nginx())
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&path)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx(child)
}

/// Signs in through nginx as a client at `address` (what an outer proxy would have written in
/// `X-Forwarded-For`); the status.
async fn sign_in_from(public: &str, address: &str, email: &str, password: &str) -> u16 {
    let jar = Jar::default();
    let form = get(public, "/login", &jar).await;
    let client = awc::Client::builder().disable_redirects().finish();
    let response = client
        .post(format!("{public}/login"))
        .insert_header(("Cookie", jar.header()))
        .insert_header(("Origin", public))
        .insert_header(("X-Forwarded-For", address))
        .send_form(&[
            ("csrf_token", form.csrf().as_str()),
            ("email", email),
            ("password", password),
        ])
        .await
        .unwrap();
    response.status().as_u16()
}

#[test]
fn the_reference_nginx_configuration_serves_two_instances() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::named(&mut conn, "Behind Nginx", Subscription::None);
    let account = customer.funded(&mut conn, "sms", "5");
    drop(conn);
    let email = "admin@behind-nginx.test";
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let instances = start_instances_behind(
        &db,
        2,
        Some(&public),
        &[
            ("IAP_TRUSTED_PROXIES", "127.0.0.1".to_string()),
            ("IAP_METRICS_TOKEN", "t".repeat(40)),
        ],
    );
    let _nginx = start_nginx(port, &instances.bases);
    let mut instances = instances;

    actix_web::rt::System::new().block_on(async {
        let client = awc::Client::default();
        // Ready, with nginx's request id carried through to the app and back.
        let ready = client.get(format!("{public}/readyz")).send().await.unwrap();
        assert_eq!(ready.status().as_u16(), 200);
        let id = ready
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(id.len(), 32, "nginx's $request_id: {id}");
        // The metrics are never served through the proxy, token or not.
        let metrics = client
            .get(format!("{public}/metrics"))
            .insert_header(("Authorization", format!("Bearer {}", "t".repeat(40))))
            .send()
            .await
            .unwrap();
        assert_eq!(metrics.status().as_u16(), 404);

        // 7 charges of 1 credit on 5, through nginx to both instances: 5 pass.
        let mut passed = 0;
        for _ in 0..7 {
            let response = client
                .post(format!("{public}/api/v1/charges"))
                .insert_header(("Authorization", format!("Bearer {}", account.token)))
                .send_json(&json!({"credits": "1"}))
                .await
                .unwrap();
            match response.status().as_u16() {
                201 => passed += 1,
                402 => {}
                other => panic!("a charge answered {other}"),
            }
        }
        assert_eq!(passed, 5);

        // A client guessing passwords is locked out by its own address, not everyone behind
        // the proxy: another client signs in.
        for _ in 0..iap_credits::domain::auth::throttle::ADDRESS_FAILURES {
            assert_eq!(
                sign_in_from(&public, "198.51.100.7", email, "wrong").await,
                401
            );
        }
        assert_eq!(
            sign_in_from(&public, "198.51.100.7", email, PASSWORD).await,
            429
        );
        assert_eq!(
            sign_in_from(&public, "198.51.100.8", email, PASSWORD).await,
            303
        );

        // One instance stops: nginx sends every request to the other.
        let _ = instances.children[0].kill();
        let _ = instances.children[0].wait();
        for _ in 0..6 {
            let balance = client
                .get(format!("{public}/api/v1/balance"))
                .insert_header(("Authorization", format!("Bearer {}", account.token)))
                .send()
                .await
                .unwrap();
            assert_eq!(balance.status().as_u16(), 200);
        }
    });
}

//! Charges per second over HTTP against pgbench running the equivalent SQL transaction on the
//! same PostgreSQL. Run with `cargo bench --bench charges` (optionally `-- --seconds N`).
//!
//! It starts the app (the release binary) on an embedded PostgreSQL in a temp folder, creates
//! 1,000 funded SMS accounts, then drives `POST /api/v1/charges` with 32 concurrent clients
//! (a) spread over the 1,000 accounts and (b) all on one hot account, and runs pgbench with one
//! debit per transaction (lock the account, update its balance, append its ledger row) for
//! both cases. PostgreSQL keeps its default fsync and synchronous_commit for both.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use iap_credits::catalog;
use iap_credits::credits::Credits;
use iap_credits::embedded_pg::{EmbeddedPostgres, LaunchOptions, find_binaries};
use iap_credits::ledger::{self, Actor, GrantKind, accounts};
use iap_credits::tenancy::{self, Subscription};

const CLIENTS: usize = 32;
const ACCOUNTS: usize = 1_000;

struct Setup {
    tokens: Vec<String>,
    ids: Vec<i64>,
    hot_token: String,
    hot_id: i64,
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let duration = Duration::from_secs(seconds);
    let data = std::env::temp_dir().join(format!("iap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();

    // The app starts (and owns) the cluster; this process joins it for setup and pgbench.
    let port = free_port();
    let mut server = start_server(&data, port);
    let pg = EmbeddedPostgres::start(&LaunchOptions::new(&data, None)).expect("join the cluster");
    let setup = create_accounts(&pg.app_database_url());
    println!("setup: {ACCOUNTS} accounts, {CLIENTS} clients, {seconds}s per run");

    let base = format!("http://127.0.0.1:{port}/api/v1/charges");
    let spread: Vec<String> = setup.tokens.clone();
    let hot = vec![setup.hot_token.clone()];
    let app_a = drive_http(&base, &spread, duration);
    let app_b = drive_http(&base, &hot, duration);

    let bin = find_binaries(None).unwrap();
    let pgbench = bin.join("pgbench");
    let (min_id, max_id) = (
        setup.ids.iter().min().unwrap(),
        setup.ids.iter().max().unwrap(),
    );
    let pg_a = run_pgbench(&pgbench, &pg, &data, *min_id, *max_id, duration);
    let pg_b = run_pgbench(&pgbench, &pg, &data, setup.hot_id, setup.hot_id, duration);

    println!();
    println!("                              app charges/s   pgbench tx/s   ratio   target");
    println!(
        "(a) 1,000 accounts            {:>13.0}   {:>12.0}   {:>5.2}x   >= 1.0x",
        app_a.rate,
        pg_a,
        app_a.rate / pg_a
    );
    println!(
        "(b) one hot account           {:>13.0}   {:>12.0}   {:>5.2}x   >= 3.0x",
        app_b.rate,
        pg_b,
        app_b.rate / pg_b
    );
    println!();
    println!(
        "app latency (a): p50 {:.1} ms, p99 {:.1} ms; errors {}",
        app_a.p50, app_a.p99, app_a.errors
    );
    println!(
        "app latency (b): p50 {:.1} ms, p99 {:.1} ms; errors {}",
        app_b.p50, app_b.p99, app_b.errors
    );

    let mut conn = PgConnection::establish(&pg.app_database_url()).unwrap();
    let report = ledger::verify::verify_ledger(&mut conn).unwrap();
    println!(
        "verify-ledger: {} accounts, consistent: {}",
        report.accounts_checked,
        report.is_consistent()
    );
    drop(conn);

    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = server.wait();
    let _ = pg.stop();
    let _ = std::fs::remove_dir_all(&data);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(data: &Path, port: u16) -> Child {
    let mut server = Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .env_remove("DATABASE_URL")
        .env("IAP_DATA_DIR", data)
        .env("IAP_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the app");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("running at"))),
        "the app started"
    );
    std::thread::spawn(move || lines.for_each(drop));
    server
}

fn create_accounts(url: &str) -> Setup {
    let mut conn = PgConnection::establish(url).unwrap();
    let sms = catalog::service_by_slug(&mut conn, "sms").unwrap().unwrap();
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for i in 0..=ACCOUNTS {
        let db =
            tenancy::create_database(&mut conn, &format!("Bench {i}"), Subscription::None).unwrap();
        let account = accounts::get_or_create(&mut conn, db.id, sms.id).unwrap();
        let funds = if i == ACCOUNTS {
            100_000_000
        } else {
            1_000_000
        };
        ledger::grant(
            &mut conn,
            account.id,
            Credits::whole(funds),
            GrantKind::Adjustment,
            "bench funds",
            &Actor::cli(),
        )
        .unwrap();
        tokens.push(account.token);
        ids.push(account.id.0);
    }
    let hot_token = tokens.pop().unwrap();
    let hot_id = ids.pop().unwrap();
    Setup {
        tokens,
        ids,
        hot_token,
        hot_id,
    }
}

struct HttpRun {
    rate: f64,
    p50: f64,
    p99: f64,
    errors: u64,
}

/// 32 clients, each on its own keep-alive connection, charging 1 credit in a loop.
fn drive_http(url: &str, tokens: &[String], duration: Duration) -> HttpRun {
    let errors = Arc::new(AtomicU64::new(0));
    let url = url.to_string();
    let tokens = tokens.to_vec();
    let latencies = actix_web::rt::System::new().block_on({
        let errors = errors.clone();
        async move {
            let deadline = Instant::now() + duration;
            let clients = (0..CLIENTS).map(|c| {
                let (url, tokens, errors) = (url.clone(), tokens.clone(), errors.clone());
                actix_web::rt::spawn(async move {
                    let client = awc::Client::builder()
                        .timeout(Duration::from_secs(30))
                        .finish();
                    let mut latencies = Vec::new();
                    let mut n = c;
                    while Instant::now() < deadline {
                        let token = &tokens[n % tokens.len()];
                        n += CLIENTS;
                        let started = Instant::now();
                        let response = client
                            .post(&url)
                            .insert_header(("Authorization", format!("Bearer {token}")))
                            .insert_header(("Content-Type", "application/json"))
                            .send_body(r#"{"credits":"1","description":"bench"}"#)
                            .await;
                        match response {
                            Ok(mut r) if r.status().as_u16() == 201 => {
                                let _ = r.body().await;
                                latencies.push(started.elapsed());
                            }
                            _ => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    latencies
                })
            });
            let mut all = Vec::new();
            for client in clients.collect::<Vec<_>>() {
                all.extend(client.await.unwrap());
            }
            all
        }
    });
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        ms.get(((ms.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    HttpRun {
        rate: ms.len() as f64 / duration.as_secs_f64(),
        p50: pick(0.5),
        p99: pick(0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// pgbench with the app's SQL for one charge, one per transaction; returns transactions/s.
fn run_pgbench(
    pgbench: &Path,
    pg: &EmbeddedPostgres,
    data: &Path,
    min_id: i64,
    max_id: i64,
    duration: Duration,
) -> f64 {
    let script: PathBuf = data.join("charge.sql");
    std::fs::write(
        &script,
        "\\set aid random(:min_id, :max_id)\n\
         BEGIN;\n\
         SELECT balance, reserved FROM iap_accounts WHERE id = :aid FOR UPDATE;\n\
         UPDATE iap_accounts SET balance = balance - 10000, updated_at = now() WHERE id = :aid;\n\
         INSERT INTO ledger_entries (account_id, kind, amount, reserved_change, balance_after, reserved_after, actor, description) \
           SELECT id, 'charge', -10000, 0, balance, reserved, 'pgbench', 'bench' FROM iap_accounts WHERE id = :aid;\n\
         END;\n",
    )
    .unwrap();
    let out = Command::new(pgbench)
        .args([
            "-n",
            "-c",
            &CLIENTS.to_string(),
            "-j",
            "2",
            "-T",
            &duration.as_secs().to_string(),
        ])
        .args([
            "-D",
            &format!("min_id={min_id}"),
            "-D",
            &format!("max_id={max_id}"),
        ])
        .args([
            "-h",
            &pg.socket_dir().to_string_lossy(),
            "-p",
            "5432",
            "-U",
            "postgres",
        ])
        .arg("-f")
        .arg(&script)
        .arg(iap_credits::embedded_pg::APP_DATABASE)
        .output()
        .expect("run pgbench");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| {
            l.trim_start_matches("tps = ")
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| {
            panic!(
                "pgbench failed: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

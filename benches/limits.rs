//! The figures issue 17 holds the app to, each against its reference measured in the same run.
//! Run with `cargo bench --bench limits` (options: `-- --seconds N` per charge run, default 10;
//! `--quick` skips the 10,000,000-row load; `--charges-only` stops after the charge runs and the
//! memory figure; `--rounds N` alternates the two charge runs N times and reports their mean;
//! `--setup-sql 'SQL'` runs SQL as the owner before measuring, for experiments).
//!
//! It starts the app (the release binary, with `IAP_SERVER_TIMING` on) on an embedded
//! PostgreSQL in a temp folder, and measures, with PostgreSQL's default fsync and
//! synchronous_commit throughout:
//! 1. `POST /api/v1/charges`, 32 clients (a) over 20 accounts and (b) on one hot account,
//!    against pgbench running the minimal one-charge transaction (two plain tables without
//!    triggers, in a scratch database of the same cluster; `-c 32 -j 2`) — the floor of what
//!    PostgreSQL does per durable charge — and, as a second line, against pgbench on the app's
//!    own tables (triggers, `SELECT … FOR UPDATE` first); with the median time of each stage of
//!    a charge (parse, queue wait, batch SQL, commit, answer) from the `Server-Timing` header;
//! 2. the server's RSS after 100,000 API requests;
//! 3. Account Information (median of 25) for an account of 1,000,000 and 10,000,000 ledger rows
//!    against one of 1,000, the rows loaded with set-based SQL (not through the API);
//! 4. the operator's dashboard (`/admin?period=30`) with those rows in its period;
//! 5. a restart on the existing data dir, to the first `/healthz` 200;
//!
//! and checks `verify-ledger` at the end.
//!
//! `--patroni` runs the charge bench on a Patroni cluster instead (`limits/ha.rs`): one node
//! against the synchronous cluster, and the failover's figures.
//!
//! `--odoo` measures Odoo's traffic at Odoo's scale instead (`limits/odoo_scale.rs`):
//! authorize+capture, `/iap/1/balance` and 500-number SMS calls against their floors, the tail
//! at half the peak, and 100,000 customer databases against 1,000.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use iap_credits::domain::catalog;
use iap_credits::domain::ledger::{self, Actor, GrantKind, accounts};
use iap_credits::domain::tenancy::{self, Role, Subscription};
use iap_credits::kernel::credits::Credits;
use iap_credits::platform::embedded_pg::{
    APP_DATABASE, EmbeddedPostgres, LaunchOptions, find_binaries,
};
use patroni::free_port;

#[path = "limits/ha.rs"]
mod ha;
#[path = "../tests/it/keyed_load.rs"]
mod keyed_load;
#[path = "limits/odoo_scale.rs"]
mod odoo_scale;
// Shared with the failover test, which uses the rest of it.
#[allow(dead_code)]
#[path = "../tests/it/patroni.rs"]
mod patroni;

const CLIENTS: usize = 32;
const SPREAD_ACCOUNTS: usize = 20;
const MEMORY_REQUESTS: u64 = 100_000;
const WARM_UP: Duration = Duration::from_secs(3);
const PAGE_SAMPLES: usize = 25;
const DASHBOARD_SAMPLES: usize = 9;
const PASSWORD: &str = "bench password";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let option = |name: &str| args.iter().skip_while(|a| *a != name).nth(1).cloned();
    let seconds: u64 = option("--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let rounds: usize = option("--rounds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    let quick = args.iter().any(|a| a == "--quick");
    let charges_only = args.iter().any(|a| a == "--charges-only");
    let duration = Duration::from_secs(seconds);
    if args.iter().any(|a| a == "--patroni") {
        ha::run(duration);
        return;
    }
    if args.iter().any(|a| a == "--odoo") {
        odoo_scale::run(duration, quick);
        return;
    }
    let data = std::env::temp_dir().join(format!("iap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();

    // The app starts (and owns) the cluster; this process joins it for setup and pgbench.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = start_server(&data, port).0;
    let pg = EmbeddedPostgres::start(&LaunchOptions::new(&data, None)).expect("join the cluster");
    let owner_url = pg.database_url(APP_DATABASE);
    let mut conn = PgConnection::establish(&owner_url).unwrap();
    let (spread, hot) = charge_accounts(&mut conn);
    if let Some(sql) = option("--setup-sql") {
        // An experiment's change (a trigger disabled, a setting) before anything is measured.
        // One statement at a time: VACUUM and its kind refuse to run in a transaction block.
        for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
            diesel::connection::SimpleConnection::batch_execute(&mut conn, statement)
                .expect("run --setup-sql");
        }
    }
    println!(
        "charges: {SPREAD_ACCOUNTS} accounts and one hot account, {CLIENTS} clients, {seconds} s a run"
    );

    // 1. Charges.
    let charges_url = format!("{base}/api/v1/charges");
    let requests = Arc::new(AtomicU64::new(0));
    // Warm up first (connections, prepared statements, caches), over every account, so that
    // neither run pays for it.
    let all_tokens: Vec<String> = spread.tokens.iter().chain(&hot.tokens).cloned().collect();
    drive_http(&charges_url, &all_tokens, WARM_UP, &requests);
    // (a) then (b), `rounds` times: the two alternate, so that a slow spell of the machine (the
    // disk's fsync, autovacuum) does not land on one of them only.
    let (mut runs_a, mut runs_b) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let a = drive_http(&charges_url, &spread.tokens, duration, &requests);
        let b = drive_http(&charges_url, &[hot.tokens[0].clone()], duration, &requests);
        if rounds > 1 {
            println!(
                "    round {round}: (a) {:.0}/s, (b) {:.0}/s, (b) vs (a) {:+.1}%",
                a.rate,
                b.rate,
                (b.rate / a.rate - 1.0) * 100.0
            );
        }
        runs_a.push(a);
        runs_b.push(b);
    }
    let (app_a, app_b) = (HttpRun::combine(runs_a), HttpRun::combine(runs_b));
    let pgbench = find_binaries(None).unwrap().join("pgbench");
    let floor = floor_database(&pg, &mut conn);
    let floor_a = run_pgbench(
        &pgbench,
        &pg,
        &data,
        &floor,
        FLOOR_SQL,
        1,
        SPREAD_ACCOUNTS as i64,
        duration,
    );
    let floor_b = run_pgbench(&pgbench, &pg, &data, &floor, FLOOR_SQL, 1, 1, duration);
    let (min, max) = (spread.ids[0], spread.ids[SPREAD_ACCOUNTS - 1]);
    let tables_a = run_pgbench(
        &pgbench,
        &pg,
        &data,
        APP_DATABASE,
        APP_TABLES_SQL,
        min,
        max,
        duration,
    );
    let tables_b = run_pgbench(
        &pgbench,
        &pg,
        &data,
        APP_DATABASE,
        APP_TABLES_SQL,
        hot.ids[0],
        hot.ids[0],
        duration,
    );

    // 2. Memory after 100,000 API requests.
    let done = requests.load(Ordering::Relaxed);
    if done < MEMORY_REQUESTS {
        drive_http_count(
            &charges_url,
            &spread.tokens,
            MEMORY_REQUESTS - done,
            &requests,
        );
    }
    let rss = rss_mib(server.id());
    if charges_only {
        print_charges(&app_a, &app_b, floor_a, floor_b, tables_a, tables_b);
        print_rss(rss);
        drop(conn);
        drop(server);
        let _ = pg.stop();
        let _ = std::fs::remove_dir_all(&data);
        return;
    }

    // 3 and 4. Pages and the dashboard, over ledgers of growing size.
    let operator = operator_session(&mut conn, &base);
    let small = page_account(&mut conn, &base, "Pages 1k", 1_000);
    let big = page_account(&mut conn, &base, "Pages 1M", 1_000_000);
    let (page_big, page_small) = median_pair(&base, &big, &small, PAGE_SAMPLES);
    let dashboard_1m = median_get(&base, "/admin?period=30", &operator, DASHBOARD_SAMPLES);
    let huge = (!quick).then(|| {
        let huge = page_account(&mut conn, &base, "Pages 10M", 10_000_000);
        let (page, small_again) = median_pair(&base, &huge, &small, PAGE_SAMPLES);
        let dashboard = median_get(&base, "/admin?period=30", &operator, DASHBOARD_SAMPLES);
        (page, small_again, dashboard)
    });
    let rows_in_period: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM ledger_entries WHERE created_at >= now() - interval '30 days'",
    )
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n;

    // 5. Restart on the existing data dir.
    drop(conn);
    let _ = pg.stop();
    drop(server);
    let restart_started = Instant::now();
    let (server, _) = start_server(&data, port);
    wait_healthy(&base);
    let restart = restart_started.elapsed();

    let pg = EmbeddedPostgres::start(&LaunchOptions::new(&data, None)).expect("join the cluster");
    let mut conn = PgConnection::establish(&pg.database_url(APP_DATABASE)).unwrap();
    let report = ledger::verify::verify_ledger(&mut conn).unwrap();
    drop(conn);

    print_charges(&app_a, &app_b, floor_a, floor_b, tables_a, tables_b);
    println!(
        "Account Information, 1,000,000 rows vs 1,000 (median)   {:>8.1} ms   {:>8.1} ms          {:>5.2}x   <= 1.1x",
        page_big,
        page_small,
        page_big / page_small
    );
    if let Some((page_huge, small_again, dashboard_10m)) = huge {
        println!(
            "Account Information, 10,000,000 rows vs 1,000          {:>8.1} ms   {:>8.1} ms          {:>5.2}x   <= 1.1x",
            page_huge,
            small_again,
            page_huge / small_again
        );
        println!(
            "operator dashboard /admin?period=30, 1M rows          {:>8.1} ms",
            dashboard_1m
        );
        println!(
            "operator dashboard /admin?period=30, {:>5.1}M rows       {:>8.1} ms                            <= 50 ms",
            rows_in_period as f64 / 1e6,
            dashboard_10m
        );
    } else {
        println!(
            "operator dashboard /admin?period=30, {:>5.1}M rows       {:>8.1} ms                            <= 50 ms at 10M (--quick: 10M skipped)",
            rows_in_period as f64 / 1e6,
            dashboard_1m
        );
    }
    print_rss(rss);
    println!(
        "restart to the first /healthz 200                     {:>8.2} s                                 <= 1 s",
        restart.as_secs_f64()
    );
    println!(
        "verify-ledger: {} accounts, consistent: {}",
        report.accounts_checked,
        report.is_consistent()
    );

    drop(server);
    let _ = pg.stop();
    let _ = std::fs::remove_dir_all(&data);
}

fn print_rss(rss: f64) {
    println!(
        "server RSS after {} API requests                  {:>8.1} MiB                               <= 64 MiB",
        MEMORY_REQUESTS, rss
    );
}

/// The charge runs' lines of the report.
fn print_charges(
    app_a: &HttpRun,
    app_b: &HttpRun,
    floor_a: f64,
    floor_b: f64,
    tables_a: f64,
    tables_b: f64,
) {
    let stages = app_a.stages.medians();
    println!();
    println!(
        "measure                                               now          reference        ratio   target"
    );
    println!(
        "(a) charges/s, 32 clients over 20 accounts            {:>8.0}/s   floor {:>8.0}/s   {:>5.2}x   >= 1.2x",
        app_a.rate,
        floor_a,
        app_a.rate / floor_a
    );
    println!(
        "(b) charges/s, all on one hot account                 {:>8.0}/s   floor {:>8.0}/s   {:>5.2}x   within 10% of (a): {:+.0}%",
        app_b.rate,
        floor_b,
        app_b.rate / floor_b,
        (app_b.rate / app_a.rate - 1.0) * 100.0
    );
    println!(
        "    second line: pgbench on the app's tables           (a) {:>8.0}/s ({:.2}x)   (b) {:>8.0}/s ({:.2}x)",
        tables_a,
        app_a.rate / tables_a,
        tables_b,
        app_b.rate / tables_b
    );
    println!(
        "    latency (a) p50 {:.1} ms, p99 {:.1} ms; (b) p50 {:.1} ms, p99 {:.1} ms; errors {} + {}",
        app_a.p50, app_a.p99, app_b.p50, app_b.p99, app_a.errors, app_b.errors
    );
    println!(
        "    one charge (a), medians: parse {:.3} ms, queue {:.3} ms, batch SQL {:.3} ms, commit {:.3} ms, answer {:.3} ms; batch of {:.0}",
        stages[0], stages[1], stages[2], stages[3], stages[4], stages[5]
    );
    let stages = app_b.stages.medians();
    println!(
        "    one charge (b), medians: parse {:.3} ms, queue {:.3} ms, batch SQL {:.3} ms, commit {:.3} ms, answer {:.3} ms; batch of {:.0}",
        stages[0], stages[1], stages[2], stages[3], stages[4], stages[5]
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The app's process, stopped (SIGTERM) when dropped, also when the bench panics.
struct Server(Child);

impl Server {
    fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}

/// Starts the app on `data`; returns once it says it is running.
fn start_server(data: &Path, port: u16) -> (Server, Duration) {
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_iap-credits"));
    command
        .env_remove("DATABASE_URL")
        .env("IAP_DATA_DIR", data)
        .env("IAP_BIND", format!("127.0.0.1:{port}"))
        .env("IAP_SERVER_TIMING", "true")
        .env("RUST_LOG", "warn");
    (run_until_serving(command), started.elapsed())
}

/// Spawns the app's `command`; returns once it says it is running.
fn run_until_serving(mut command: Command) -> Server {
    let mut server = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the app");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("running at"))),
        "the app started"
    );
    std::thread::spawn(move || lines.for_each(drop));
    Server(server)
}

fn stop(server: &mut Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = server.wait();
}

fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    actix_web::rt::System::new().block_on(async {
        let client = awc::Client::default();
        loop {
            if let Ok(r) = client.get(format!("{base}/healthz")).send().await
                && r.status().as_u16() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "no /healthz 200 after a restart");
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
    });
}

/// The server's resident memory, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

struct Accounts {
    tokens: Vec<String>,
    ids: Vec<i64>,
}

/// 20 accounts and one hot one, each funded generously, in databases of their own.
fn charge_accounts(conn: &mut PgConnection) -> (Accounts, Accounts) {
    let sms = catalog::service_by_slug(conn, "sms").unwrap().unwrap();
    let mut make = |name: String| {
        let db = tenancy::create_database(conn, &name, Subscription::None).unwrap();
        let account = accounts::get_or_create(conn, db.id, sms.id).unwrap();
        fund_generously(conn, account.id);
        (account.token, account.id.0)
    };
    let (tokens, ids) = (0..SPREAD_ACCOUNTS)
        .map(|i| make(format!("Bench {i}")))
        .unzip();
    let (hot_token, hot_id) = make("Bench hot".into());
    (
        Accounts { tokens, ids },
        Accounts {
            tokens: vec![hot_token],
            ids: vec![hot_id],
        },
    )
}

/// 100,000,000 credits on `account`: more than any run spends.
fn fund_generously(conn: &mut PgConnection, account: iap_credits::kernel::ids::AccountId) {
    ledger::grant(
        conn,
        account,
        Credits::whole(100_000_000),
        GrantKind::Adjustment,
        "bench funds",
        &Actor::cli(),
    )
    .unwrap();
}

/// Each stage's time of the charges of a run, from their `Server-Timing` headers.
#[derive(Default)]
struct Stages(Vec<[f64; 6]>);

impl Stages {
    fn add(&mut self, header: &str) {
        let mut row = [0.0; 6];
        for (i, name) in ["parse", "queue", "sql", "commit", "answer", "batch"]
            .iter()
            .enumerate()
        {
            let value = header
                .split(", ")
                .find(|part| part.starts_with(&format!("{name};")))
                .and_then(|part| part.split(['=']).nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            row[i] = value;
        }
        self.0.push(row);
    }

    fn medians(&self) -> [f64; 6] {
        let mut out = [0.0; 6];
        for (i, slot) in out.iter_mut().enumerate() {
            let mut values: Vec<f64> = self.0.iter().map(|r| r[i]).collect();
            values.sort_by(f64::total_cmp);
            *slot = values.get(values.len() / 2).copied().unwrap_or(0.0);
        }
        out
    }
}

struct HttpRun {
    rate: f64,
    p50: f64,
    p99: f64,
    errors: u64,
    stages: Stages,
}

impl HttpRun {
    /// Several runs as one: the mean rate, the median of their latency figures, every stage.
    fn combine(runs: Vec<HttpRun>) -> HttpRun {
        let median = |f: fn(&HttpRun) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(f).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        HttpRun {
            rate: runs.iter().map(|r| r.rate).sum::<f64>() / runs.len() as f64,
            p50: median(|r| r.p50),
            p99: median(|r| r.p99),
            errors: runs.iter().map(|r| r.errors).sum(),
            stages: Stages(runs.into_iter().flat_map(|r| r.stages.0).collect()),
        }
    }
}

/// 32 clients, each on its own keep-alive connection, charging 1 credit in a loop for
/// `duration` (or until `budget` requests when given).
fn drive(
    url: &str,
    tokens: &[String],
    duration: Duration,
    budget: Option<u64>,
    requests: &Arc<AtomicU64>,
) -> HttpRun {
    let errors = Arc::new(AtomicU64::new(0));
    let stages = Arc::new(Mutex::new(Stages::default()));
    let url = url.to_string();
    let tokens = tokens.to_vec();
    let started = Instant::now();
    let latencies = actix_web::rt::System::new().block_on({
        let (errors, stages, requests) = (errors.clone(), stages.clone(), requests.clone());
        async move {
            let deadline = Instant::now() + duration;
            let sent = Arc::new(AtomicU64::new(0));
            let clients = (0..CLIENTS).map(|c| {
                let (url, tokens, errors, stages, requests, sent) = (
                    url.clone(),
                    tokens.clone(),
                    errors.clone(),
                    stages.clone(),
                    requests.clone(),
                    sent.clone(),
                );
                actix_web::rt::spawn(async move {
                    let client = awc::Client::builder()
                        .timeout(Duration::from_secs(30))
                        .finish();
                    let mut latencies = Vec::new();
                    let mut n = c;
                    loop {
                        let more = match budget {
                            Some(budget) => sent.fetch_add(1, Ordering::Relaxed) < budget,
                            None => Instant::now() < deadline,
                        };
                        if !more {
                            break;
                        }
                        let token = &tokens[n % tokens.len()];
                        n += CLIENTS;
                        let started = Instant::now();
                        let response = client
                            .post(&url)
                            .insert_header(("Authorization", format!("Bearer {token}")))
                            .insert_header(("Content-Type", "application/json"))
                            .send_body(r#"{"credits":"1","description":"bench"}"#)
                            .await;
                        requests.fetch_add(1, Ordering::Relaxed);
                        match response {
                            Ok(mut r) if r.status().as_u16() == 201 => {
                                let _ = r.body().await;
                                latencies.push(started.elapsed());
                                if let Some(timing) = r
                                    .headers()
                                    .get("server-timing")
                                    .and_then(|v| v.to_str().ok())
                                    && let Ok(mut stages) = stages.lock()
                                {
                                    stages.add(timing);
                                }
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
    let elapsed = started.elapsed();
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        ms.get(((ms.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let stages = std::mem::take(&mut *stages.lock().unwrap());
    HttpRun {
        rate: ms.len() as f64 / elapsed.as_secs_f64(),
        p50: pick(0.5),
        p99: pick(0.99),
        errors: errors.load(Ordering::Relaxed),
        stages,
    }
}

fn drive_http(
    url: &str,
    tokens: &[String],
    duration: Duration,
    requests: &Arc<AtomicU64>,
) -> HttpRun {
    drive(url, tokens, duration, None, requests)
}

fn drive_http_count(url: &str, tokens: &[String], count: u64, requests: &Arc<AtomicU64>) {
    drive(url, tokens, Duration::ZERO, Some(count), requests);
}

/// The minimal durable charge: a conditional debit and its ledger row, on plain tables.
const FLOOR_SQL: &str = "\\set aid random(:min_id, :max_id)\n\
    BEGIN;\n\
    UPDATE accounts SET balance = balance - 10000 WHERE id = :aid AND balance >= 10000;\n\
    INSERT INTO ledger (account_id, amount, kind) VALUES (:aid, -10000, 'charge');\n\
    END;\n";

/// The app's own tables, as one charge would touch them one at a time.
const APP_TABLES_SQL: &str = "\\set aid random(:min_id, :max_id)\n\
    BEGIN;\n\
    SELECT balance, reserved FROM iap_accounts WHERE id = :aid FOR UPDATE;\n\
    UPDATE iap_accounts SET balance = balance - 10000, updated_at = now() WHERE id = :aid;\n\
    INSERT INTO ledger_entries (account_id, kind, amount, reserved_change, balance_after, reserved_after, actor, description) \
      SELECT id, 'charge', -10000, 0, balance, reserved, 'pgbench', 'bench' FROM iap_accounts WHERE id = :aid;\n\
    END;\n";

/// The scratch database of the floor's two plain tables (accounts 1..20 funded).
fn floor_database(pg: &EmbeddedPostgres, conn: &mut PgConnection) -> String {
    let name = "iap_bench_floor";
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}"))
        .execute(conn)
        .unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(conn)
        .unwrap();
    let mut floor = PgConnection::establish(&pg.database_url(name)).unwrap();
    diesel::connection::SimpleConnection::batch_execute(
        &mut floor,
        "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL);
         CREATE TABLE ledger (id BIGSERIAL PRIMARY KEY, account_id BIGINT NOT NULL,
                              amount BIGINT NOT NULL, kind TEXT NOT NULL);
         INSERT INTO accounts SELECT i, 1000000000000000 FROM generate_series(1, 20) AS i;",
    )
    .unwrap();
    name.to_string()
}

/// pgbench running `script` on `database`, 32 clients, 2 threads; returns transactions/s.
#[allow(clippy::too_many_arguments)]
fn run_pgbench(
    pgbench: &Path,
    pg: &EmbeddedPostgres,
    data: &Path,
    database: &str,
    script: &str,
    min_id: i64,
    max_id: i64,
    duration: Duration,
) -> f64 {
    let file: PathBuf = data.join("charge.sql");
    std::fs::write(&file, script).unwrap();
    let out = pgbench_command(
        pgbench,
        pg,
        (database, &file),
        (min_id, max_id),
        duration,
        &[],
    )
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

/// pgbench running the script `file` on `database` with `:min_id` and `:max_id` set, 32 clients,
/// 2 threads, for `duration`, with `extra` options.
fn pgbench_command(
    pgbench: &Path,
    pg: &EmbeddedPostgres,
    (database, file): (&str, &Path),
    (min_id, max_id): (i64, i64),
    duration: Duration,
    extra: &[&str],
) -> Command {
    let mut command = Command::new(pgbench);
    command
        .args(["-n", "-c", &CLIENTS.to_string(), "-j", "2"])
        .args(["-T", &duration.as_secs().to_string()])
        .args(["-D", &format!("min_id={min_id}")])
        .args(["-D", &format!("max_id={max_id}")])
        .args(["-h", &pg.socket_dir().to_string_lossy(), "-p", "5432"])
        .args(["-U", "postgres"])
        .args(extra)
        .arg("-f")
        .arg(file)
        .arg(database);
    command
}

/// An account whose Account Information page is measured, and its admin's session.
struct PageAccount {
    page: String,
    cookie: String,
}

/// A database `name` whose SMS account has `rows` ledger rows over the last 29 days (loaded
/// with set-based SQL, consistent with its balance), and its admin signed in.
fn page_account(conn: &mut PgConnection, base: &str, name: &str, rows: i64) -> PageAccount {
    let sms = catalog::service_by_slug(conn, "sms").unwrap().unwrap();
    let db = tenancy::create_database(conn, name, Subscription::None).unwrap();
    let email = format!("admin@{}.bench", name.to_lowercase().replace(' ', "-"));
    tenancy::create_user(conn, name, &email, PASSWORD, Role::Admin).unwrap();
    let account = accounts::get_or_create(conn, db.id, sms.id).unwrap();
    let balance = Credits::whole(1_000);
    ledger::grant(
        conn,
        account.id,
        balance,
        GrantKind::Adjustment,
        "bench funds",
        &Actor::cli(),
    )
    .unwrap();
    // Pairs of +1 and -1: the balance is the same after each pair, so the last row's
    // balance_after is the account's balance (verify-ledger holds).
    let started = Instant::now();
    let chunk = 1_000_000;
    let mut from = 1;
    while from <= rows {
        let to = (from + chunk - 1).min(rows);
        diesel::sql_query(
            "INSERT INTO ledger_entries (account_id, kind, amount, reserved_change, balance_after,
                                         reserved_after, actor, description, created_at)
             SELECT $1, CASE WHEN i % 2 = 1 THEN 'adjustment' ELSE 'charge' END,
                    CASE WHEN i % 2 = 1 THEN 10000 ELSE -10000 END, 0,
                    $2 + CASE WHEN i % 2 = 1 THEN 10000 ELSE 0 END, 0, 'bench', 'bench',
                    now() - interval '29 days' + (i::float8 / $3) * interval '29 days'
             FROM generate_series($4::bigint, $5::bigint) AS i ORDER BY i",
        )
        .bind::<BigInt, _>(account.id.0)
        .bind::<BigInt, _>(balance.units())
        .bind::<BigInt, _>(rows)
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to)
        .execute(conn)
        .unwrap();
        from = to + 1;
    }
    diesel::sql_query("ANALYZE ledger_entries")
        .execute(conn)
        .unwrap();
    println!(
        "loaded {rows} ledger rows for {name:?} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    PageAccount {
        page: format!("/iap/accounts/{}", account.id),
        cookie: sign_in(base, &email),
    }
}

/// The platform operator's session.
fn operator_session(conn: &mut PgConnection, base: &str) -> String {
    tenancy::create_database(conn, "Bench operator", Subscription::None).unwrap();
    let email = "ops@bench-operator.bench";
    tenancy::create_user(conn, "Bench operator", email, PASSWORD, Role::Platform).unwrap();
    sign_in(base, email)
}

/// Signs in through the login form; returns the session's Cookie header.
fn sign_in(base: &str, email: &str) -> String {
    actix_web::rt::System::new().block_on(async {
        // The 303 and its cookie are the answer: not followed.
        let client = awc::Client::builder().disable_redirects().finish();
        let mut form = client.get(format!("{base}/login")).send().await.unwrap();
        let cookie = cookies(form.headers());
        let body = String::from_utf8_lossy(&form.body().await.unwrap()).to_string();
        let at = body.find("name=\"csrf_token\" value=\"").unwrap() + 25;
        let token = &body[at..at + body[at..].find('"').unwrap()];
        let signed_in = client
            .post(format!("{base}/login"))
            .insert_header(("Cookie", cookie))
            .send_form(&[
                ("csrf_token", token),
                ("email", email),
                ("password", PASSWORD),
            ])
            .await
            .unwrap();
        assert_eq!(signed_in.status().as_u16(), 303, "signed in as {email}");
        cookies(signed_in.headers())
    })
}

fn cookies(headers: &actix_web::http::header::HeaderMap) -> String {
    headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The medians of `samples` GETs of each page, taken in turns so that drift hits both alike.
fn median_pair(base: &str, a: &PageAccount, b: &PageAccount, samples: usize) -> (f64, f64) {
    let (mut times_a, mut times_b) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        times_a.push(median_get(base, &a.page, &a.cookie, 1));
        times_b.push(median_get(base, &b.page, &b.cookie, 1));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(times_a), median(times_b))
}

/// The median time of `samples` GETs of `path` (after one to warm up), in ms.
fn median_get(base: &str, path: &str, cookie: &str, samples: usize) -> f64 {
    actix_web::rt::System::new().block_on(async {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(120))
            .disable_redirects()
            .finish();
        let mut times = Vec::new();
        for i in 0..=samples {
            let started = Instant::now();
            let mut response = client
                .get(format!("{base}{path}"))
                .insert_header(("Cookie", cookie))
                .send()
                .await
                .unwrap();
            let body = response.body().limit(16 * 1024 * 1024).await.unwrap();
            assert_eq!(
                response.status().as_u16(),
                200,
                "{path}: {}",
                String::from_utf8_lossy(&body)
            );
            if i > 0 {
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    })
}

//! Several instances on one database, as an operator runs them behind a load balancer: three
//! app processes started at once on one test database, each with its own pool, group commit and
//! background workers, used at once by clients whose requests land on any of them.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use iap_credits::domain::tenancy::Subscription;
use iap_credits::kernel::ids::{AccountId, HoldId};
use iap_credits::platform::db::{self, SoloJob};
use serde_json::Value;

use crate::fixtures::{Customer, PASSWORD, assert_consistent, c, expire_hold_now, reload};
use crate::harness::TestDb;
use crate::mail::warn_me;
pub use crate::patroni::free_port;
use crate::smtp_sink::SmtpSink;

/// App processes on one database; killed when dropped.
pub struct Instances {
    pub children: Vec<Child>,
    /// Each instance's own address.
    pub bases: Vec<String>,
    /// The public address (what the load balancer is reached at).
    pub public: String,
}

impl Drop for Instances {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `n` instances at once (they prepare the database together), sharing one secret key
/// and one public address (the first instance's), as a deployment configures them.
fn start_instances(db: &TestDb, n: usize, env: &[(&str, String)]) -> Instances {
    start_instances_behind(db, n, None, env)
}

/// The same, behind a proxy reached at `public` when given.
pub fn start_instances_behind(
    db: &TestDb,
    n: usize,
    public: Option<&str>,
    env: &[(&str, String)],
) -> Instances {
    let all: Vec<(&str, String)> = db.env().into_iter().chain(env.iter().cloned()).collect();
    start_instances_with(n, public, &all)
}

/// `n` instances of the binary with `env` (the database URLs among it), ready to serve.
pub fn start_instances_with(n: usize, public: Option<&str>, env: &[(&str, String)]) -> Instances {
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let bases: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let public = public.map_or_else(|| bases[0].clone(), str::to_string);
    let children = ports
        .iter()
        .map(|port| {
            Command::new(env!("CARGO_BIN_EXE_iap-credits"))
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .env("IAP_BIND", format!("127.0.0.1:{port}"))
                .env("IAP_BASE_URL", &public)
                .env("IAP_SECRET_KEY", "s".repeat(64))
                .env("IAP_DB_POOL_SIZE", "8")
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let instances = Instances {
        children,
        bases,
        public,
    };
    for base in &instances.bases {
        wait_ready(base);
    }
    instances
}

fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("{base}/readyz");
    loop {
        let ready = actix_web::rt::System::new().block_on(async {
            awc::Client::default()
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        });
        if ready {
            return;
        }
        assert!(Instant::now() < deadline, "{base} never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A browser's cookies, sent to whichever instance answers (as behind a load balancer, where
/// every instance is the same site).
#[derive(Default, Clone)]
pub struct Jar(Arc<Mutex<BTreeMap<String, String>>>);

impl Jar {
    pub fn header(&self) -> String {
        let jar = self.0.lock().unwrap();
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&self, headers: &actix_web::http::header::HeaderMap) {
        let mut jar = self.0.lock().unwrap();
        for cookie in headers.get_all("set-cookie") {
            let cookie = cookie.to_str().unwrap();
            let pair = cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || cookie.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_string(), value.to_string());
            }
        }
    }
}

pub struct Answer {
    pub status: u16,
    pub location: String,
    pub body: String,
}

impl Answer {
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf_token" value=""#;
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no form in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap();
        self.body[start..start + end].to_string()
    }
}

/// What came back: the status, `Location` and the body as text.
macro_rules! answer {
    ($response:expr) => {{
        let mut response = $response;
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = response.body().limit(4 << 20).await.unwrap();
        Answer {
            status: response.status().as_u16(),
            location,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }};
}

pub async fn get(base: &str, path: &str, jar: &Jar) -> Answer {
    let client = awc::Client::builder().disable_redirects().finish();
    let response = client
        .get(format!("{base}{path}"))
        .insert_header(("Cookie", jar.header()))
        .send()
        .await
        .unwrap();
    jar.keep(response.headers());
    answer!(response)
}

/// Posts a form as a page of the public site does (its `Origin`), to instance `base`.
pub async fn post(
    base: &str,
    public: &str,
    path: &str,
    jar: &Jar,
    fields: &[(&str, &str)],
) -> Answer {
    let client = awc::Client::builder()
        .disable_redirects()
        .timeout(Duration::from_secs(60))
        .finish();
    let response = client
        .post(format!("{base}{path}"))
        .insert_header(("Cookie", jar.header()))
        .insert_header(("Origin", public))
        .send_form(&fields)
        .await
        .unwrap();
    jar.keep(response.headers());
    answer!(response)
}

/// Orders the Starter pack of `account` on its Buy Credit page, read from instance `page_base`
/// and posted to `post_base` (behind a load balancer, they may differ); the checkout's path.
pub async fn order_starter_pack(
    page_base: &str,
    post_base: &str,
    public: &str,
    jar: &Jar,
    account: AccountId,
) -> String {
    let buy_path = format!("/iap/accounts/{account}/buy");
    let buy_page = get(page_base, &buy_path, jar).await;
    let at = buy_page
        .body
        .find("aria-label=\"Buy Starter Pack\"")
        .unwrap();
    let marker = "name=\"pack_id\" value=\"";
    let id_at = buy_page.body[..at].rfind(marker).unwrap() + marker.len();
    let pack_id = &buy_page.body[id_at..id_at + buy_page.body[id_at..].find('"').unwrap()];
    let ordered = post(
        post_base,
        public,
        &buy_path,
        jar,
        &[("csrf_token", &buy_page.csrf()), ("pack_id", pack_id)],
    )
    .await;
    assert_eq!(ordered.status, 303, "{}", ordered.body);
    ordered.location
}

/// Pays the checkout at `checkout` with the test card that is approved, through instance `base`.
pub async fn pay_with_test_card(
    base: &str,
    public: &str,
    checkout: &str,
    jar: &Jar,
    csrf: &str,
) -> Answer {
    post(
        base,
        public,
        checkout,
        jar,
        &[
            ("csrf_token", csrf),
            ("holder", "Ada Lovelace"),
            ("number", "4242 4242 4242 4242"),
            ("expiry", "12/39"),
            ("cvc", "123"),
        ],
    )
    .await
}

/// Posts `body` of `content_type` (a multipart upload, say) as a page of the public site does,
/// to instance `base`.
pub async fn post_body(
    base: &str,
    public: &str,
    path: &str,
    jar: &Jar,
    content_type: &str,
    body: Vec<u8>,
) -> Answer {
    let client = awc::Client::builder()
        .disable_redirects()
        .timeout(Duration::from_secs(120))
        .finish();
    let response = client
        .post(format!("{base}{path}"))
        .insert_header(("Cookie", jar.header()))
        .insert_header(("Origin", public))
        .content_type(content_type)
        .send_body(body)
        .await
        .unwrap();
    jar.keep(response.headers());
    answer!(response)
}

/// Signs `email` in through instance `base`'s login form (the fixtures' password).
pub async fn sign_in(base: &str, public: &str, jar: &Jar, email: &str) -> Answer {
    let login = get(base, "/login", jar).await;
    post(
        base,
        public,
        "/login",
        jar,
        &[
            ("csrf_token", &login.csrf()),
            ("email", email),
            ("password", PASSWORD),
        ],
    )
    .await
}

/// A charge of `credits` through the API of instance `base`: the status and body.
async fn charge(client: &awc::Client, base: &str, token: &str, credits: &str) -> (u16, Value) {
    let mut response = client
        .post(format!("{base}/api/v1/charges"))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .send_json(&serde_json::json!({ "credits": credits, "description": "race" }))
        .await
        .unwrap();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (response.status().as_u16(), body)
}

/// `per_instance` charges of `credits` on each instance, `clients` at a time per instance.
async fn charges_everywhere(
    bases: &[String],
    token: &str,
    credits: &str,
    per_instance: usize,
    clients: usize,
) -> BTreeMap<u16, usize> {
    let mut tasks = Vec::new();
    for base in bases {
        for client_no in 0..clients {
            let (base, token, credits) = (base.clone(), token.to_string(), credits.to_string());
            let count = per_instance / clients + usize::from(client_no < per_instance % clients);
            tasks.push(actix_web::rt::spawn(async move {
                let client = awc::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .finish();
                let mut statuses = Vec::new();
                for _ in 0..count {
                    let (status, body) = charge(&client, &base, &token, &credits).await;
                    if status != 201 {
                        assert_eq!(status, 402, "{body}");
                        assert_eq!(crate::harness::error_code(&body), "insufficient_credits");
                    }
                    statuses.push(status);
                }
                statuses
            }));
        }
    }
    let mut counts = BTreeMap::new();
    for task in tasks {
        for status in task.await.unwrap() {
            *counts.entry(status).or_insert(0) += 1;
        }
    }
    counts
}

pub fn ledger_rows(conn: &mut PgConnection, account: AccountId, kind: &str) -> i64 {
    use iap_credits::platform::schema::ledger_entries;
    ledger_entries::table
        .filter(ledger_entries::account_id.eq(account))
        .filter(ledger_entries::kind.eq(kind))
        .count()
        .get_result(conn)
        .unwrap()
}

#[test]
fn three_instances_on_one_database_do_everything_once() {
    let db = TestDb::new();
    let sink = SmtpSink::start();
    let mut conn = db.conn();
    let customer = Customer::named(&mut conn, "Three Instances", Subscription::None);
    let email = "admin@three-instances.test";
    // What the races are about, made before the instances start.
    let racing = customer.funded(&mut conn, "sms", "1000");
    let watched = Customer::new(&mut conn, Subscription::None).funded(&mut conn, "sms", "100");
    warn_me(&mut conn, watched.id, true, "50", "alerts@three.test");
    let held = Customer::new(&mut conn, Subscription::None).funded(&mut conn, "sms", "100");
    drop(conn);

    let instances = start_instances(&db, 3, &[("SMTP_URL", sink.url())]);
    let bases = instances.bases.clone();
    let public = instances.public.clone();

    actix_web::rt::System::new().block_on(async {
        // 1. 1,500 charges of 1 credit racing for 1,000 credits, 500 through each instance.
        let counts = charges_everywhere(&bases, &racing.token, "1", 500, 16).await;
        assert_eq!(counts.get(&201), Some(&1000), "{counts:?}");
        assert_eq!(counts.get(&402), Some(&500), "{counts:?}");
        let mut conn = db.conn();
        assert_eq!(reload(&mut conn, racing.id).balance, c("0"));
        assert_eq!(ledger_rows(&mut conn, racing.id, "charge"), 1000);

        // 2. Signed in on one instance, the user is signed in on the others: pages, and a form
        //    whose token came from another instance.
        let jar = Jar::default();
        let signed_in = sign_in(&bases[0], &public, &jar, email).await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        for base in &bases {
            let services = get(base, "/iap/accounts", &jar).await;
            assert_eq!(services.status, 200, "{base}: {}", services.body);
            assert!(services.body.contains(email), "{base}");
        }
        let checkout = order_starter_pack(&bases[2], &bases[1], &public, &jar, racing.id).await;

        // 3. One checkout posted to all three instances at once: credited once.
        let form = get(&bases[0], &checkout, &jar).await;
        let csrf = form.csrf();
        let payments: Vec<_> = bases
            .iter()
            .map(|base| {
                let (base, public, checkout, jar, csrf) = (
                    base.clone(),
                    public.clone(),
                    checkout.clone(),
                    jar.clone(),
                    csrf.clone(),
                );
                actix_web::rt::spawn(async move {
                    pay_with_test_card(&base, &public, &checkout, &jar, &csrf).await
                })
            })
            .collect();
        for payment in payments {
            let paid = payment.await.unwrap();
            assert!(paid.status < 400, "{}: {}", paid.status, paid.body);
        }
        assert_eq!(ledger_rows(&mut conn, racing.id, "purchase"), 1);
        assert_eq!(reload(&mut conn, racing.id).balance, c("10"));

        // 4. Signed out on one instance, signed out on all, even with the old cookie.
        let page = get(&bases[2], "/iap/accounts", &jar).await;
        let old_cookies = Jar::default();
        *old_cookies.0.lock().unwrap() = jar.0.lock().unwrap().clone();
        let out = post(
            &bases[2],
            &public,
            "/logout",
            &jar,
            &[("csrf_token", &page.csrf())],
        )
        .await;
        assert_eq!(out.status, 303);
        for base in &bases {
            let after = get(base, "/iap/accounts", &old_cookies).await;
            assert_eq!(after.status, 303, "{base}");
            assert!(after.location.starts_with("/login"), "{base}");
        }

        // 5. A threshold crossed by charges through all three instances: one alert email.
        let counts = charges_everywhere(&bases, &watched.token, "1", 20, 4).await;
        assert_eq!(counts.get(&201), Some(&60), "{counts:?}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let alerts = || {
            sink.received()
                .into_iter()
                .filter(|m| m.rcpt_tos.iter().any(|r| r == "alerts@three.test"))
                .count()
        };
        while alerts() == 0 {
            assert!(Instant::now() < deadline, "no alert was sent");
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        }
        // Every instance's mail worker has looked at the outbox again since.
        actix_web::rt::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(alerts(), 1);

        // 6. An expired hold, met by charges on all three instances at once: released once.
        let api = awc::Client::default();
        let mut created = api
            .post(format!("{}/api/v1/holds", bases[0]))
            .insert_header(("Authorization", format!("Bearer {}", held.token)))
            .send_json(&serde_json::json!({ "credits": "95", "expires_in_seconds": 600 }))
            .await
            .unwrap();
        assert_eq!(created.status().as_u16(), 201);
        let hold: Value = created.json().await.unwrap();
        let hold_id = HoldId(hold["id"].as_i64().unwrap());
        expire_hold_now(&mut db.owner_conn(), hold_id);
        // Only 5 credits are available until the hold is released: each charge of 10 takes the
        // path that releases due holds first.
        let counts = charges_everywhere(&bases, &held.token, "10", 4, 4).await;
        assert_eq!(counts.get(&201), Some(&10), "{counts:?}");
        assert_eq!(counts.get(&402), Some(&2), "{counts:?}");
        assert_eq!(ledger_rows(&mut conn, held.id, "expiry"), 1);
        let held_now = reload(&mut conn, held.id);
        assert_eq!((held_now.balance, held_now.reserved), (c("0"), c("0")));

        assert_consistent(&mut conn);
    });
    drop(instances);
}

/// While one connection runs a solo job, another skips it; once done, the other runs it; a
/// panic inside releases it too.
#[test]
fn a_solo_job_runs_on_one_connection_at_a_time() {
    let db = TestDb::new();
    let (mut first, mut second) = (db.conn(), db.conn());
    let inside = db::run_alone(&mut first, SoloJob::Maintenance, |_| {
        db::run_alone(&mut second, SoloJob::Maintenance, |_| ()).unwrap()
    })
    .unwrap();
    assert_eq!(
        inside,
        Some(None),
        "the second ran while the first held the job"
    );
    // Another job is not held by this one.
    let other = db::run_alone(&mut first, SoloJob::Maintenance, |_| {
        db::run_alone(&mut second, SoloJob::PaymentReconciler, |_| 7).unwrap()
    })
    .unwrap();
    assert_eq!(other, Some(Some(7)));
    assert_eq!(
        db::run_alone(&mut second, SoloJob::Maintenance, |_| 1).unwrap(),
        Some(1)
    );
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db::run_alone(&mut first, SoloJob::Maintenance, |_| panic!("boom"))
    }));
    assert!(panicked.is_err());
    assert_eq!(
        db::run_alone(&mut second, SoloJob::Maintenance, |_| 2).unwrap(),
        Some(2),
        "a panic left the job held"
    );
}

/// The queries a role's connections ran last, as PostgreSQL shows them.
fn last_queries_of(owner: &mut PgConnection, role: &str) -> String {
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = diesel::sql_types::Text)]
        queries: String,
    }
    diesel::sql_query(
        "SELECT coalesce(string_agg(query, ' | '), '') AS queries FROM pg_stat_activity \
         WHERE usename = $1",
    )
    .bind::<diesel::sql_types::Text, _>(role)
    .get_result::<Last>(owner)
    .unwrap()
    .queries
}

/// With `DATABASE_READ_URL`, the operator's dashboard and the ledger export read through it
/// (here a read-only role on the same database plays the replica).
#[test]
fn the_dashboard_and_the_export_read_from_the_replica_when_there_is_one() {
    let db = TestDb::new();
    let mut owner = db.owner_conn();
    let reader = format!("reader_{}", db.name);
    owner
        .batch_execute(&format!(
            "CREATE ROLE {reader} LOGIN;
             GRANT CONNECT ON DATABASE {db} TO {reader};
             GRANT USAGE ON SCHEMA public TO {reader};
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader};
             ALTER ROLE {reader} SET default_transaction_read_only = on;",
            db = db.name
        ))
        .unwrap();
    let read_url = db
        .url
        .replacen(&format!("//{}@", db::APP_ROLE), &format!("//{reader}@"), 1);
    assert_ne!(read_url, db.url);
    let mut conn = db.conn();
    let account = Customer::new(&mut conn, Subscription::None).funded(&mut conn, "sms", "12");
    let operator = crate::fixtures::operator(&mut conn);
    drop(conn);

    let instances = start_instances(&db, 1, &[("DATABASE_READ_URL", read_url)]);
    let (base, public) = (instances.bases[0].clone(), instances.public.clone());
    actix_web::rt::System::new().block_on(async {
        let jar = Jar::default();
        let signed_in = sign_in(&base, &public, &jar, &operator.email).await;
        assert_eq!(signed_in.status, 303);
        // Connected, the replica's pool has run nothing but its session settings.
        assert!(!last_queries_of(&mut owner, &reader).contains(" FROM "));
        let dashboard = get(&base, "/admin?period=30", &jar).await;
        assert_eq!(dashboard.status, 200, "{}", dashboard.body);
        assert!(
            !dashboard.body.contains("Read from a standby"),
            "a read-only role on the primary is no standby"
        );
        assert!(
            last_queries_of(&mut owner, &reader).contains(" FROM "),
            "the dashboard did not read through the replica's connection: {}",
            last_queries_of(&mut owner, &reader)
        );
        let export = get(
            &base,
            &format!("/admin/accounts/{}/ledger.csv", account.id),
            &jar,
        )
        .await;
        assert_eq!(export.status, 200);
        assert!(export.body.contains("12.0000"), "{}", export.body);
        assert!(
            last_queries_of(&mut owner, &reader).contains("ledger_entries"),
            "the export did not read through the replica's connection"
        );
    });
    drop(instances);
    let _ = owner.batch_execute(&format!("DROP OWNED BY {reader}; DROP ROLE {reader}"));
}

/// Runs a PostgreSQL client program (`pg_basebackup`) as the user PostgreSQL runs as.
fn run_as_postgres(program: &std::path::Path, args: &[&str]) {
    let root = nix::unistd::geteuid().is_root();
    let mut command = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let output = command.args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{} failed: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `DATABASE_READ_URL` on a real streaming standby: a primary and a hot standby of their own
/// (`pg_basebackup -R`, WAL streamed), the app writing to the primary and reading the
/// operator's dashboard and the ledger export from the standby, which refuses every write.
#[test]
fn the_dashboard_and_the_export_read_from_a_streaming_standby() {
    use iap_credits::platform::embedded_pg::{APP_DATABASE, EmbeddedPostgres, find_binaries};
    let options = |label: &str| crate::harness::launch_options(&crate::harness::scratch_dir(label));

    let primary = EmbeddedPostgres::start(&options("primary")).unwrap();
    let mut owner = PgConnection::establish(&primary.app_database_url()).unwrap();
    db::migrate_and_grant(&mut owner, Some(db::APP_ROLE)).unwrap();
    iap_credits::domain::catalog::seed::seed_catalog(&mut owner).unwrap();
    let mut conn = PgConnection::establish(&primary.request_database_url()).unwrap();
    let account = Customer::new(&mut conn, Subscription::None).funded(&mut conn, "sms", "12");
    let operator = crate::fixtures::operator(&mut conn);

    // The standby: a cluster made and stopped, emptied, then filled from the primary.
    let standby_options = options("standby");
    let made = EmbeddedPostgres::start(&standby_options).unwrap();
    let standby_dir = made.cluster_dir().to_path_buf();
    made.stop().unwrap();
    for entry in std::fs::read_dir(&standby_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let bin = find_binaries(None).unwrap();
    run_as_postgres(
        &bin.join("pg_basebackup"),
        &[
            "--pgdata",
            standby_dir.to_str().unwrap(),
            "--host",
            primary.socket_dir().to_str().unwrap(),
            "--port",
            "5432",
            "--username",
            "postgres",
            "--wal-method",
            "stream",
            "--checkpoint",
            "fast",
            "--write-recovery-conf",
        ],
    );
    // The primary's socket lives in its cluster folder: its lock file came along.
    let _ = std::fs::remove_file(standby_dir.join(".s.PGSQL.5432.lock"));
    let standby = EmbeddedPostgres::start(&standby_options).unwrap();
    let mut on_standby = PgConnection::establish(&standby.database_url(APP_DATABASE)).unwrap();
    #[derive(QueryableByName)]
    struct Flag {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        flag: bool,
    }
    let in_recovery = diesel::sql_query("SELECT pg_is_in_recovery() AS flag")
        .get_result::<Flag>(&mut on_standby)
        .unwrap();
    assert!(in_recovery.flag, "the standby is a standby");

    // A charge after the backup reaches the standby by streaming.
    let api_token = account.token.clone();
    let app = start_instances_with(
        1,
        None,
        &[
            ("DATABASE_URL", primary.app_database_url()),
            ("DATABASE_APP_URL", primary.request_database_url()),
            (
                "DATABASE_READ_URL",
                standby.database_url_as(db::APP_ROLE, APP_DATABASE),
            ),
        ],
    );
    let base = app.bases[0].clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        actix_web::rt::System::new().block_on(async {
            let charged = awc::Client::default()
                .post(format!("{base}/api/v1/charges"))
                .insert_header(("Authorization", format!("Bearer {api_token}")))
                .send_json(&serde_json::json!({"credits": "2.5", "description": "after the backup"}))
                .await
                .unwrap()
                .status();
            assert_eq!(charged.as_u16(), 201);
            // Wait until the standby has replayed everything the primary wrote.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let caught_up = diesel::sql_query(
                    "SELECT EXISTS (SELECT FROM ledger_entries WHERE description = 'after the backup') AS flag",
                )
                .get_result::<Flag>(&mut on_standby)
                .unwrap();
                if caught_up.flag {
                    break;
                }
                assert!(Instant::now() < deadline, "the standby never caught up");
                std::thread::sleep(Duration::from_millis(50));
            }

            let jar = Jar::default();
            let signed_in = sign_in(&base, &base, &jar, &operator.email).await;
            assert_eq!(signed_in.status, 303, "signing in writes to the primary");
            let dashboard = get(&base, "/admin?period=30", &jar).await;
            assert_eq!(dashboard.status, 200, "{}", dashboard.body);
            assert!(
                dashboard
                    .body
                    .contains("Read from a standby, which has replayed the database's changes up to <time"),
                "the dashboard says how fresh the standby is: {}",
                dashboard.body
            );
            assert!(
                last_queries_of(&mut on_standby, db::APP_ROLE).contains(" FROM "),
                "the dashboard did not read on the standby"
            );
            let export = get(
                &base,
                &format!("/admin/accounts/{}/ledger.csv", account.id),
                &jar,
            )
            .await;
            assert_eq!(export.status, 200, "{}", export.body);
            assert!(export.body.contains("after the backup"), "{}", export.body);
            assert!(export.body.contains("9.5000"), "{}", export.body);
            assert!(
                last_queries_of(&mut on_standby, db::APP_ROLE).contains("ledger_entries"),
                "the export did not read on the standby"
            );
        });
        // The standby refuses writes: nothing the app needs from it is one.
        let write = diesel::sql_query("CREATE TABLE written_on_the_standby (id int)")
            .execute(&mut on_standby);
        assert!(write.is_err(), "a hot standby is read-only");
    }));
    drop((app, conn, owner, on_standby));
    standby.stop().unwrap();
    primary.stop().unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

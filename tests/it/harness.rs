//! The test harness: one throwaway PostgreSQL cluster per test binary, started with the app's
//! own launcher in a temp folder and removed at exit (also when tests fail); a template database
//! migrated and seeded once; and a fresh database cloned from it for every test, so that tests
//! run in parallel without seeing each other.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test;
use diesel::{Connection, PgConnection, RunQueryDsl};
use iap_credits::domain::catalog::seed::seed_catalog;
use iap_credits::platform::db::{self, DbPool};
use iap_credits::platform::embedded_pg::{EmbeddedPostgres, LaunchOptions, quote_ident};
use iap_credits::startup::{AppState, build_app};

const TEMPLATE: &str = "iap_template";

struct TestCluster {
    pg: Mutex<Option<EmbeddedPostgres>>,
    admin_url: String,
}

impl TestCluster {
    fn database_url(&self, name: &str) -> String {
        let pg = self.pg.lock().expect("cluster lock");
        pg.as_ref()
            .expect("the test cluster is running")
            .database_url(name)
    }

    fn request_url(&self, name: &str) -> String {
        let pg = self.pg.lock().expect("cluster lock");
        pg.as_ref()
            .expect("the test cluster is running")
            .database_url_as(db::APP_ROLE, name)
    }
}

static CLUSTER: OnceLock<TestCluster> = OnceLock::new();

/// Folder holding the temp folders of all test runs (each named after its process).
pub fn tests_root() -> PathBuf {
    std::env::temp_dir().join(format!("iap-credits-tests-{}", nix::unistd::geteuid()))
}

/// A new empty folder for one test, removed with the run's folder at exit.
pub fn scratch_dir(label: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = run_dir().join(format!("{label}-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// This run's folder; the first call sweeps what killed runs left and arranges the clean-up.
fn run_dir() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            sweep_leftovers();
            let dir = tests_root().join(format!("run-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("create the test run folder");
            // SAFETY: registering a plain extern "C" function with no captured state.
            unsafe { libc::atexit(clean_up_at_exit) };
            dir
        })
        .clone()
}

/// Launch options for a cluster of a test's own, kept away from /var/lib.
pub fn launch_options(data_dir: &Path) -> LaunchOptions {
    let mut options = LaunchOptions::new(data_dir, None);
    options.fallback_root = run_dir().join("fallback");
    options
}

fn cluster() -> &'static TestCluster {
    crate::log_audit::install();
    CLUSTER.get_or_init(|| {
        let root = run_dir();
        let pg = EmbeddedPostgres::start(&launch_options(&root.join("shared")))
            .unwrap_or_else(|e| panic!("cannot start the test PostgreSQL: {e}"));
        let admin_url = pg.database_url("postgres");
        let mut admin = PgConnection::establish(&admin_url).expect("connect to the test cluster");
        diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(TEMPLATE)))
            .execute(&mut admin)
            .expect("create the template database");
        {
            let mut conn =
                PgConnection::establish(&pg.database_url(TEMPLATE)).expect("connect to template");
            db::migrate_and_grant(&mut conn, Some(db::APP_ROLE)).expect("migrate the template");
            seed_catalog(&mut conn).expect("seed the template's catalog");
            iap_credits::services::directory::seed(
                &mut conn,
                iap_credits::services::directory::generate::COMPANIES,
            )
            .expect("seed the template's company directory");
        }
        TestCluster {
            pg: Mutex::new(Some(pg)),
            admin_url,
        }
    })
}

/// Runs when the test binary exits, whether its tests passed or failed.
extern "C" fn clean_up_at_exit() {
    let leaked = crate::log_audit::run_leaked_secrets();
    if let Some(pg) = CLUSTER
        .get()
        .and_then(|cluster| cluster.pg.lock().ok()?.take())
    {
        let _ = pg.stop();
    }
    let dir = run_dir();
    // Any cluster a failed test left running goes too.
    stop_postmasters_under(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    if leaked {
        // SAFETY: ends the process now, as exit would, with the run's failure (`exit` must not
        // be called again from inside an exit handler).
        unsafe { libc::_exit(1) };
    }
}

/// Removes what earlier runs left when they were killed before their exit handler ran.
fn sweep_leftovers() {
    let Ok(entries) = std::fs::read_dir(tests_root()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("run-")
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let pid = nix::unistd::Pid::from_raw(pid);
        if nix::sys::signal::kill(pid, None).is_ok() {
            continue; // that run is still going
        }
        stop_postmasters_under(&entry.path());
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

fn stop_postmasters_under(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            stop_postmasters_under(&path);
        } else if path.file_name().is_some_and(|n| n == "postmaster.pid")
            && let Some(pid) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGQUIT,
            );
        }
    }
}

/// A database of the test's own, cloned from the migrated template, dropped afterwards.
pub struct TestDb {
    pub name: String,
    /// As the schema's owner (the superuser).
    pub owner_url: String,
    /// As the role that serves requests, as the app connects.
    pub url: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        TestDb::create(TEMPLATE)
    }

    fn create(template: &str) -> TestDb {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let cluster = cluster();
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::establish(&cluster.admin_url).expect("connect to cluster");
        diesel::sql_query(format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_ident(&name),
            quote_ident(template)
        ))
        .execute(&mut admin)
        .expect("clone the template database");
        TestDb {
            owner_url: cluster.database_url(&name),
            url: cluster.request_url(&name),
            name,
        }
    }

    /// An empty database of the test's own (no schema: what a restore goes into).
    pub fn empty() -> TestDb {
        TestDb::create("template0")
    }

    /// The environment the binary needs to use this database as a deployment would: the
    /// owner's URL for migrations and the restricted role's for requests.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("DATABASE_URL", self.owner_url.clone()),
            ("DATABASE_APP_URL", self.url.clone()),
        ]
    }

    /// A connection as the app makes it (the restricted role).
    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to the test database")
    }

    /// A connection as the schema's owner, for what the app itself may not do.
    pub fn owner_conn(&self) -> PgConnection {
        PgConnection::establish(&self.owner_url).expect("connect to the test database")
    }

    pub fn pool(&self) -> DbPool {
        db::connect(&self.url).expect("pool for the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&cluster().admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&self.name)
            ))
            .execute(&mut admin);
        }
    }
}

/// The whole app, in-process, on a database of its own.
pub struct TestApp {
    pub db: TestDb,
    pub state: AppState,
}

/// What a browser would get back.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as text (what is not UTF-8 replaced).
    pub body: String,
    pub bytes: Vec<u8>,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl TestApp {
    pub fn new() -> TestApp {
        let db = TestDb::new();
        let mut state = iap_credits::startup::app_state(
            db.pool(),
            "http://127.0.0.1:8080".into(),
            actix_web::cookie::Key::generate(),
        );
        // The PDF reader is the app's binary, not this test binary.
        state.readers = crate::digitization::readers();
        TestApp { db, state }
    }

    /// The app on a pool whose database never answers.
    pub fn without_database() -> TestApp {
        let db = TestDb::new();
        let state = iap_credits::startup::app_state(
            db::connect_lazily(
                "postgresql://nobody@localhost/none?host=/nonexistent&connect_timeout=1",
            ),
            "http://127.0.0.1:8080".into(),
            actix_web::cookie::Key::generate(),
        );
        TestApp { db, state }
    }

    /// Calls the JSON API with the account token `token` (if any) and an optional
    /// Idempotency-Key; returns the status and the parsed JSON body.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, serde_json::Value) {
        let app = test::init_service(build_app(self.state.clone())).await;
        let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = test::TestRequest::default().method(method).uri(path);
        if let Some(token) = token {
            crate::log_audit::secret(token);
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        if let Some(key) = key {
            request = request.insert_header(("Idempotency-Key", key));
        }
        if let Some(body) = body {
            request = request
                .insert_header(("Content-Type", "application/json"))
                .set_payload(body.to_string());
        }
        let response = test::call_service(&app, request.to_request()).await;
        let status = response.status();
        let bytes = test::read_body(response).await;
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)));
        (status, json)
    }

    /// POSTs `body` as JSON to `path`, as Odoo's `iap_jsonrpc` does; returns the status and
    /// the body, parsed (a body that is not JSON fails the test: the client could not read it).
    pub async fn rpc(&self, path: &str, body: &str) -> (StatusCode, serde_json::Value) {
        let app = test::init_service(build_app(self.state.clone())).await;
        let request = test::TestRequest::post()
            .uri(path)
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body.to_string())
            .to_request();
        let response = test::call_service(&app, request).await;
        let status = response.status();
        let bytes = test::read_body(response).await;
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)));
        (status, json)
    }

    /// A page as a new visitor (no cookies) gets it.
    pub async fn get(&self, path: &str) -> Page {
        self.browser().get(path).await
    }
}

/// A browser of the in-process app: keeps the cookies it is given and sends them back.
pub struct Browser<'a> {
    app: &'a TestApp,
    cookies: std::cell::RefCell<std::collections::BTreeMap<String, String>>,
    /// The client's address as the server sees it (the TCP peer).
    address: std::net::SocketAddr,
}

impl TestApp {
    pub fn browser(&self) -> Browser<'_> {
        self.browser_from("127.0.0.1")
    }

    /// A browser on another machine, at `ip`.
    pub fn browser_from(&self, ip: &str) -> Browser<'_> {
        Browser {
            app: self,
            cookies: Default::default(),
            address: std::net::SocketAddr::new(ip.parse().expect("an IP address"), 40_000),
        }
    }

    /// The demo database and logins (password "demo-password").
    pub fn with_demo(self) -> Self {
        iap_credits::demo::seed_demo(&mut self.db.conn()).expect("seed the demo");
        self
    }
}

impl Browser<'_> {
    /// Takes the other browser's cookies, as someone who copied them would.
    pub fn copy_cookies_of(&self, other: &Browser<'_>) {
        *self.cookies.borrow_mut() = other.cookies.borrow().clone();
    }

    async fn send(&self, request: test::TestRequest) -> Page {
        let app = test::init_service(build_app(self.app.state.clone())).await;
        let cookie_header: String = self
            .cookies
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let request = if cookie_header.is_empty() {
            request
        } else {
            request.insert_header(("Cookie", cookie_header))
        };
        let request = request.peer_addr(self.address);
        let response = test::call_service(&app, request.to_request()).await;
        for cookie in response.response().cookies() {
            let expired = cookie
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative())
                || cookie.value().is_empty();
            let mut jar = self.cookies.borrow_mut();
            if expired {
                jar.remove(cookie.name());
            } else {
                jar.insert(cookie.name().to_string(), cookie.value().to_string());
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        let body = test::read_body(response).await;
        Page {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            bytes: body.to_vec(),
        }
    }

    /// Posts an upload form (multipart) with the CSRF token of the page at `from`: its text
    /// fields, and one file.
    pub async fn upload(
        &self,
        from: &str,
        action: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
    ) -> Page {
        let token = self.get(from).await.csrf_token().unwrap();
        let boundary = "----iap-credits-test-boundary-7f3a";
        let mut body = Vec::new();
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        for (name, value) in all {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        let (field, file_name, content) = file;
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.send(
            test::TestRequest::post()
                .uri(action)
                .insert_header((
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                ))
                .set_payload(body),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(test::TestRequest::get().uri(path)).await
    }

    /// Posts a `multipart/form-data` body as given, byte for byte, with `boundary`.
    pub async fn post_multipart(&self, path: &str, boundary: &str, body: Vec<u8>) -> Page {
        self.send(
            test::TestRequest::post()
                .uri(path)
                .insert_header((
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                ))
                .set_payload(body),
        )
        .await
    }

    /// Posts a urlencoded body as given, byte for byte (to send what no browser would).
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Page {
        self.send(
            test::TestRequest::post()
                .uri(path)
                .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                .set_payload(body),
        )
        .await
    }

    /// Posts a form as a browser does (urlencoded), fields as given.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(
            test::TestRequest::post()
                .uri(path)
                .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                .set_payload(body),
        )
        .await
    }

    /// Posts a form with the CSRF token of the page at `from`, as a page of `origin` would
    /// (the browser sends its `Origin`; `host` is what the request says its host is).
    pub async fn submit_from(
        &self,
        origin: &str,
        host: &str,
        from: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let token = self.get(from).await.csrf_token().unwrap();
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.send(
            test::TestRequest::post()
                .uri(action)
                .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                .insert_header(("Origin", origin))
                .insert_header(("Host", host))
                .insert_header(("X-Forwarded-Host", host))
                .set_payload(serde_urlencoded::to_string(&all).unwrap()),
        )
        .await
    }

    /// Posts a form with the CSRF token of the page at `from`, as submitting it there would.
    pub async fn submit(&self, from: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(from).await;
        let token = page
            .csrf_token()
            .unwrap_or_else(|| panic!("no form on {from}: {}", page.body));
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Page {
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }
}

/// The `error.code` of an API error body.
pub fn error_code(body: &serde_json::Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

impl Page {
    pub fn csrf_token(&self) -> Option<String> {
        let marker = r#"name="csrf_token" value=""#;
        let start = self.body.find(marker)? + marker.len();
        let end = self.body[start..].find('"')?;
        Some(self.body[start..start + end].to_string())
    }

    pub fn location(&self) -> &str {
        self.header("location")
    }
}

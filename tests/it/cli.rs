//! The `iap-credits` command as an operator runs it.

use std::path::Path;
use std::process::{Command, Output};

use diesel::prelude::*;
use iap_credits::domain::tenancy::Subscription;
use iap_credits::platform::embedded_pg::EmbeddedPostgres;
use iap_credits::platform::schema::{databases, users};

use crate::fixtures::Customer;
use crate::harness::{TestDb, launch_options, scratch_dir};

/// Runs the binary against an external database.
fn iap(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .args(args)
        .envs(db.env())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// Runs the binary on the embedded PostgreSQL of `data`.
fn iap_embedded(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("IAP_DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_clean_failure(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

#[test]
fn create_database_then_a_duplicate_fails_with_exit_1() {
    let db = TestDb::new();
    let out = iap(
        &db,
        &[
            "create-database",
            "Acme Corp",
            "--subscription",
            "educational",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Created the database \"Acme Corp\""));
    let out = iap(
        &db,
        &["create-database", "acme corp", "--subscription", "none"],
    );
    assert_clean_failure(&out, 1, "already exists");

    let mut conn = db.conn();
    let rows: Vec<(String, String)> = databases::table
        .select((
            databases::name,
            diesel::dsl::sql::<diesel::sql_types::Text>("subscription"),
        ))
        .load(&mut conn)
        .unwrap();
    assert_eq!(rows, [("Acme Corp".to_string(), "educational".to_string())]);
}

#[test]
fn create_user_checks_database_email_password_and_duplicates() {
    let db = TestDb::new();
    assert!(
        iap(
            &db,
            &["create-database", "Acme", "--subscription", "enterprise"]
        )
        .status
        .success()
    );
    let user = |email: &str, password: &str, database: &str| {
        iap(
            &db,
            &[
                "create-user",
                "--database",
                database,
                "--email",
                email,
                "--password",
                password,
                "--role",
                "admin",
            ],
        )
    };
    let out = user("Boss@Acme.example", "correct horse", "Acme");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_clean_failure(
        &user("boss@acme.example", "correct horse", "Acme"),
        1,
        "already exists",
    );
    assert_clean_failure(
        &user("new@acme.example", "correct horse", "Nope"),
        1,
        "no database named \"Nope\"",
    );
    assert_clean_failure(
        &user("not-an-email", "correct horse", "Acme"),
        1,
        "not a valid email",
    );
    assert_clean_failure(
        &user("new@acme.example", "short", "Acme"),
        1,
        "at least 8 characters",
    );

    let mut conn = db.conn();
    let stored: Vec<(String, String)> = users::table
        .select((users::email, users::password_hash))
        .load(&mut conn)
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, "boss@acme.example");
    assert!(iap_credits::kernel::password::verify_password(
        "correct horse",
        &stored[0].1
    ));
}

#[test]
fn invalid_arguments_are_explained() {
    let db = TestDb::new();
    let out = iap(&db, &["create-database", "X", "--subscription", "gold"]);
    assert_clean_failure(
        &out,
        2,
        "possible values: enterprise, demo, educational, one-app-free, none",
    );
    let out = iap(
        &db,
        &[
            "create-user",
            "--database",
            "X",
            "--email",
            "a@b.example",
            "--password",
            "12345678",
            "--role",
            "root",
        ],
    );
    assert_clean_failure(&out, 2, "possible values: user, admin, platform");
    let out = iap(&db, &["create-database"]);
    assert_clean_failure(&out, 2, "required");
    let out = iap(&db, &["frobnicate"]);
    assert_clean_failure(&out, 2, "unrecognized subcommand");
}

#[test]
fn migrate_applies_and_seeds_an_empty_database() {
    let db = TestDb::new();
    let mut conn = db.owner_conn();
    diesel::connection::SimpleConnection::batch_execute(
        &mut conn,
        "DROP SCHEMA public CASCADE; CREATE SCHEMA public",
    )
    .unwrap();
    let out = iap(&db, &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = iap(&db, &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let services: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM services)",
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(services, 8);
}

#[test]
fn an_unreachable_database_url_is_one_line_and_exit_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .arg("migrate")
        .env(
            "DATABASE_URL",
            "postgresql://nobody@localhost/none?host=/nonexistent",
        )
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_clean_failure(&out, 1, "could not connect to the database");
}

#[test]
fn missing_postgres_binaries_exit_non_zero_with_a_sentence() {
    let out = iap_embedded(
        &scratch_dir("cli-nobin"),
        &["--pg-bin", "/nonexistent", "migrate"],
    );
    assert_clean_failure(&out, 1, "install PostgreSQL");
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn commands_on_the_embedded_cluster_start_and_stop_it() {
    let data = scratch_dir("cli-embedded");
    let out = iap_embedded(
        &data,
        &["create-database", "Solo", "--subscription", "demo"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !data.join("postgres/postmaster.pid").exists(),
        "stopped after the command"
    );
    let out = iap_embedded(
        &data,
        &["create-database", "Solo", "--subscription", "demo"],
    );
    assert_clean_failure(&out, 1, "already exists");
    assert!(!data.join("postgres/postmaster.pid").exists());
}

#[test]
fn commands_join_the_postgres_a_running_server_uses() {
    let data = scratch_dir("cli-joins");
    // Stands for a server holding the cluster.
    let server = EmbeddedPostgres::start(&launch_options(&data)).unwrap();
    let out = iap_embedded(
        &data,
        &["create-database", "Joined", "--subscription", "none"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        data.join("postgres/postmaster.pid").exists(),
        "left running for the server"
    );
    let mut conn = PgConnection::establish(&server.app_database_url()).unwrap();
    let names: Vec<String> = databases::table
        .select(databases::name)
        .load(&mut conn)
        .unwrap();
    assert_eq!(names, ["Joined"]);
    drop(conn);
    server.stop().unwrap();
}

#[test]
fn settings_are_read_from_a_dot_env_file() {
    let db = TestDb::new();
    let dir = scratch_dir("dotenv");
    std::fs::write(
        dir.join(".env"),
        format!(
            "DATABASE_URL={}\nDATABASE_APP_URL={}\n",
            db.owner_url, db.url
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .args(["create-database", "From Dotenv", "--subscription", "demo"])
        .current_dir(&dir)
        .env_remove("DATABASE_URL")
        .env("IAP_DATA_DIR", dir.join("unused"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut conn = db.conn();
    let names: Vec<String> = databases::table
        .select(databases::name)
        .load(&mut conn)
        .unwrap();
    assert_eq!(names, ["From Dotenv"]);
    assert!(
        !dir.join("unused").exists(),
        "no embedded cluster was started"
    );
}

/// Serves on an external database until the banner is printed, then stops with SIGTERM.
fn serve_once(db: &TestDb, extra: &[&str]) -> String {
    serve_once_on(db, "127.0.0.1:0", extra)
}

fn serve_once_on(db: &TestDb, bind: &str, extra: &[&str]) -> String {
    use std::io::{BufRead, BufReader};
    let mut server = Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .args(extra)
        .envs(db.env())
        .env("IAP_BIND", bind)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    for line in BufReader::new(server.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        banner += &line;
        banner.push('\n');
        if line.contains("running at") {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(server.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            )
            .unwrap();
        }
    }
    assert!(server.wait().unwrap().success());
    banner
}

#[test]
fn the_public_demo_logins_are_never_served_beyond_loopback_unless_asked() {
    let db = TestDb::new();
    iap_credits::demo::seed_demo(&mut db.conn()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .envs(db.env())
        .env("IAP_BIND", "0.0.0.0:0")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_clean_failure(&out, 1, "the demo logins");
    assert!(stderr(&out).contains("can be reached from other machines"));
    // Asked for explicitly, it serves (and says the logins).
    let banner = serve_once_on(&db, "0.0.0.0:0", &["--demo"]);
    assert!(banner.contains("platform@demo.test"), "{banner}");
    // Without them, any address will do.
    let fresh = TestDb::new();
    assert!(!serve_once_on(&fresh, "0.0.0.0:0", &[]).contains("demo.test"));
}

#[test]
fn an_external_database_gets_demo_data_only_with_the_demo_flag() {
    let db = TestDb::new();
    let banner = serve_once(&db, &[]);
    assert!(banner.contains("IAP Credits is running at http://127.0.0.1:"));
    assert!(!banner.contains("admin@demo.test"));
    let mut conn = db.conn();
    assert_eq!(
        databases::table
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap(),
        0
    );

    let banner = serve_once(&db, &["--demo"]);
    assert!(banner.contains("admin@demo.test"), "{banner}");
    assert!(banner.contains("platform@demo.test"));
    // The demo database, then the customers of its ninety days of history.
    let names: Vec<String> = databases::table
        .order(databases::id)
        .select(databases::name)
        .load(&mut conn)
        .unwrap();
    assert_eq!(names[0], "Demo Company");
    assert_eq!(names.len(), 30, "{names:?}");
    // A second start adds nothing.
    serve_once(&db, &["--demo"]);
    let again: i64 = databases::table.count().get_result(&mut conn).unwrap();
    assert_eq!(again, 30);
}

#[test]
fn the_outbox_command_lists_failures_and_queues_them_again() {
    let db = TestDb::new();
    let out = iap(&db, &["outbox"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "The outbox is empty.\n"
    );
    assert_clean_failure(
        &iap(&db, &["outbox", "--retry", "99"]),
        1,
        "there is no failed message 99 in the outbox",
    );

    let mut conn = db.conn();
    let mailco = Customer::named(&mut conn, "Mailco", Subscription::None);
    let (database, account) = (mailco.database_id, mailco.account(&mut conn, "sms"));
    let id: i64 = diesel::sql_query(format!(
        "INSERT INTO email_outbox (kind, database_id, account_id, status, attempts, last_error, closed_at) \
         VALUES ('low_credit', {database}, {}, 'failed', 12, 'Connection refused', now()) RETURNING id",
        account.id
    ))
    .get_result::<IdRow>(&mut conn)
    .unwrap()
    .id;
    let out = iap(&db, &["outbox", "--status", "failed"]);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.starts_with(&format!("{id} low_credit failed created "))
            && listed.contains("attempts 12 — Connection refused"),
        "{listed}"
    );
    let out = iap(&db, &["outbox", "--retry", &id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = iap(&db, &["outbox", "--status", "pending"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{id} low_credit pending")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

#[test]
fn sign_out_everywhere_ends_every_session_of_a_user() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::named(&mut conn, "Roaming", Subscription::None);
    let user = customer.user(
        &mut conn,
        "roamer@roaming.test",
        iap_credits::domain::tenancy::Role::User,
    );
    let now = chrono::Utc::now();
    let session = iap_credits::domain::auth::sessions::start(&mut conn, user, now).unwrap();
    let out = iap(
        &db,
        &["sign-out-everywhere", "--email", "Roamer@Roaming.test"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Ended 1 session(s) of roamer@roaming.test.\n"
    );
    assert_eq!(
        iap_credits::domain::auth::sessions::user_of(&mut conn, &session, now).unwrap(),
        None
    );
    assert_clean_failure(
        &iap(
            &db,
            &["sign-out-everywhere", "--email", "nobody@roaming.test"],
        ),
        1,
        "there is no user with the email",
    );
}

#[test]
fn create_provider_key_prints_the_key_once_and_keeps_only_its_hash() {
    let db = TestDb::new();
    let out = iap(
        &db,
        &[
            "create-provider-key",
            "--service",
            "sms",
            "--name",
            "Acme SMS",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = shown["key"].as_str().unwrap();
    assert!(key.starts_with("iapk_") && key.len() == 45, "{key}");
    assert_eq!(shown["service"], "sms");
    assert_eq!(shown["name"], "Acme SMS");
    let mut conn = db.conn();
    let stored: Vec<String> = diesel::sql_query("SELECT key_sha256 AS k FROM provider_keys")
        .load::<KeyHash>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|r| r.k)
        .collect();
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].contains(key) && stored[0].len() == 64,
        "only a hash is kept"
    );
    assert!(
        iap_credits::domain::provider_keys::authenticate(&mut conn, key)
            .unwrap()
            .is_some()
    );
    let unknown = iap(
        &db,
        &["create-provider-key", "--service", "nope", "--name", "x"],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("no service with the slug"));
}

#[derive(diesel::QueryableByName)]
struct KeyHash {
    #[diesel(sql_type = diesel::sql_types::Text)]
    k: String,
}

/// `backup` writes a dump only its owner can read; `restore` loads it into an empty database,
/// migrates it and checks its ledger: the same accounts, balances, holds and ledger rows. A
/// database that is not empty is refused, and changes nothing.
#[test]
fn a_backup_restores_into_an_empty_database_with_the_same_ledger() {
    use iap_credits::domain::ledger::{self, Actor};
    use iap_credits::platform::schema::{iap_accounts, ledger_entries};
    use std::os::unix::fs::PermissionsExt;

    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let account = customer.funded(&mut conn, "sms", "100");
    ledger::charge(
        &mut conn,
        account.id,
        crate::fixtures::c("12.5"),
        "sms",
        &Actor::cli(),
    )
    .unwrap();
    ledger::authorize(
        &mut conn,
        account.id,
        crate::fixtures::c("7"),
        None,
        "held",
        &Actor::cli(),
    )
    .unwrap();
    let file = scratch_dir("backup").join("iap.dump");
    let file_arg = file.to_str().unwrap();

    let out = iap(&db, &["backup", "--to", file_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("readable by its owner only"));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!file.with_extension("partial").exists());

    let restored = TestDb::empty();
    let out = iap(&restored, &["restore", "--from", file_arg]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said} {}", stderr(&out));
    assert!(
        said.contains("Restored") && said.contains("The ledger is consistent"),
        "{said}"
    );

    type AccountRow = (i64, i64, i64, String);
    type EntryRow = (i64, i64, String, i64, i64, i64);
    let read = |conn: &mut PgConnection| -> (Vec<AccountRow>, Vec<EntryRow>) {
        let accounts = iap_accounts::table
            .order(iap_accounts::id)
            .select((
                iap_accounts::id,
                iap_accounts::balance,
                iap_accounts::reserved,
                iap_accounts::token,
            ))
            .load(conn)
            .unwrap();
        let entries = ledger_entries::table
            .order(ledger_entries::id)
            .select((
                ledger_entries::id,
                ledger_entries::account_id,
                ledger_entries::kind,
                ledger_entries::amount,
                ledger_entries::balance_after,
                ledger_entries::reserved_after,
            ))
            .load(conn)
            .unwrap();
        (accounts, entries)
    };
    let before = read(&mut db.conn());
    // Read as the app's role: the restore granted it its privileges again.
    let after = read(&mut restored.conn());
    assert_eq!(after, before);
    assert!(before.1.len() >= 3, "the funding, the charge and the hold");

    // Into a database that is not empty: refused, nothing changes.
    let out = iap(&restored, &["restore", "--from", file_arg]);
    assert_clean_failure(&out, 1, "restore goes into an empty database");
    assert_eq!(read(&mut restored.conn()), before);
    let out = iap(
        &TestDb::empty(),
        &["restore", "--from", "/nonexistent/iap.dump"],
    );
    assert_clean_failure(&out, 1, "does not exist or cannot be read");
}

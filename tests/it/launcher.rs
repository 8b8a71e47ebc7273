//! The embedded PostgreSQL launcher: first start, reuse, crashes, sharing, long paths, root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use diesel::prelude::*;
use iap_credits::platform::embedded_pg::{EmbeddedPostgres, LaunchError, find_binaries};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::harness::{launch_options, scratch_dir};

fn postmaster_pid(cluster: &Path) -> Option<Pid> {
    let text = fs::read_to_string(cluster.join("postmaster.pid")).ok()?;
    Some(Pid::from_raw(text.lines().next()?.trim().parse().ok()?))
}

fn alive(pid: Pid) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty()
        && !stat
            .rsplit_once(')')
            .is_some_and(|(_, s)| s.trim_start().starts_with('Z'))
}

fn wait_until_dead(pid: Pid) {
    for _ in 0..200 {
        if !alive(pid) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("process {pid} is still alive");
}

fn count_rows(pg: &EmbeddedPostgres) -> i64 {
    let mut conn = PgConnection::establish(&pg.app_database_url()).unwrap();
    diesel::sql_query("CREATE TABLE IF NOT EXISTS notes (id serial primary key)")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query("INSERT INTO notes DEFAULT VALUES")
        .execute(&mut conn)
        .unwrap();
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM notes)",
    ))
    .get_result(&mut conn)
    .unwrap()
}

#[test]
fn first_start_creates_the_cluster_and_stop_leaves_no_process() {
    let data = scratch_dir("first");
    let pg = EmbeddedPostgres::start(&launch_options(&data)).unwrap();
    let cluster = pg.cluster_dir().to_path_buf();
    assert_eq!(cluster, fs::canonicalize(&data).unwrap().join("postgres"));
    assert!(cluster.join("PG_VERSION").is_file());
    let pid = postmaster_pid(&cluster).expect("postmaster.pid while running");
    assert_eq!(
        count_rows(&pg),
        1,
        "the app database exists and takes writes"
    );
    pg.stop().unwrap();
    wait_until_dead(pid);
    assert!(!cluster.join("postmaster.pid").exists());
}

#[test]
fn later_starts_reuse_the_data() {
    let data = scratch_dir("reuse");
    let pg = EmbeddedPostgres::start(&launch_options(&data)).unwrap();
    assert_eq!(count_rows(&pg), 1);
    pg.stop().unwrap();
    let pg = EmbeddedPostgres::start(&launch_options(&data)).unwrap();
    assert_eq!(count_rows(&pg), 2);
    pg.stop().unwrap();
}

#[test]
fn a_cluster_that_cannot_start_is_an_error_with_its_log_not_a_hang() {
    let data = scratch_dir("broken");
    let pg = EmbeddedPostgres::start(&launch_options(&data)).unwrap();
    let cluster = pg.cluster_dir().to_path_buf();
    pg.stop().unwrap();
    let conf = cluster.join("postgresql.conf");
    let mut text = fs::read_to_string(&conf).unwrap();
    text.push_str("\nshared_buffers = 'plenty'\n");
    fs::write(&conf, text).unwrap();
    // On its own thread: before the fix, the failed start waited forever for its own lock.
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(EmbeddedPostgres::start(&launch_options(&data)).map(drop));
    });
    let result = outcome
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the failed start returned");
    match result {
        Err(LaunchError::Start(message)) => {
            assert!(message.contains("postgres exited"), "{message}");
            assert!(message.contains("shared_buffers"), "{message}");
        }
        other => panic!("expected a start error, got {other:?}"),
    }
    assert!(!cluster.join("postmaster.pid").exists());
}

/// Runs the real server on `data` until it prints its URL; returns it with its postmaster.
fn start_server(data: &Path) -> (std::process::Child, Pid) {
    let (server, pid, _) = start_server_at(data);
    (server, pid)
}

/// The same, with the `host:port` it serves on.
fn start_server_at(data: &Path) -> (std::process::Child, Pid, String) {
    let host = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().to_string()
    };
    use std::io::{BufRead, BufReader};
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .env_remove("DATABASE_URL")
        .env("IAP_DATA_DIR", data)
        .env("IAP_BIND", &host)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("IAP Credits is running at")),
        "the server started"
    );
    // Keep reading what it prints, as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    let pid = postmaster_pid(&data.join("postgres")).unwrap();
    (server, pid, host)
}

/// The status of `GET path` on `host_port` (`None` when nothing answers).
fn http_status(host_port: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host_port).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host_port}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// Polls `path` until it answers `status`, for at most `seconds`.
fn wait_for_status(host_port: &str, path: &str, status: u16, seconds: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let got = http_status(host_port, path);
        if got == Some(status) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} still answers {got:?}, not {status}, after {seconds} s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Kills the server if the test fails half-way, so that no orphan holds the test's output.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn a_killed_postgres_is_restarted_and_healthz_fails_while_it_cannot_be() {
    let data = scratch_dir("supervised");
    let (server, pid, host) = start_server_at(&data);
    let mut server = KillOnDrop(server);
    assert_eq!(http_status(&host, "/healthz"), Some(200));
    let cluster = data.join("postgres");

    // Killed: the supervisor starts it again and pages work without a restart of the app.
    kill(pid, Signal::SIGKILL).unwrap();
    wait_until_dead(pid);
    wait_for_status(&host, "/readyz", 200, 30);
    let restarted = postmaster_pid(&cluster).expect("a new postmaster");
    assert_ne!(restarted, pid);
    for _ in 0..20 {
        assert_eq!(
            http_status(&host, "/login"),
            Some(200),
            "no dead pooled connection"
        );
    }

    // Killed and unable to start (a broken setting): /healthz says so.
    let conf = cluster.join("postgresql.conf");
    let good = fs::read_to_string(&conf).unwrap();
    fs::write(&conf, format!("{good}\nshared_buffers = 'not a size'\n")).unwrap();
    kill(restarted, Signal::SIGKILL).unwrap();
    wait_until_dead(restarted);
    wait_for_status(&host, "/healthz", 503, 30);
    assert_eq!(http_status(&host, "/readyz"), Some(503));

    // Repaired: the next attempt of the back-off brings it back.
    fs::write(&conf, good).unwrap();
    wait_for_status(&host, "/healthz", 200, 90);
    wait_for_status(&host, "/readyz", 200, 30);
    assert_eq!(http_status(&host, "/login"), Some(200));

    kill(Pid::from_raw(server.0.id() as i32), Signal::SIGTERM).unwrap();
    assert!(server.0.wait().unwrap().success());
    let last = postmaster_pid(&cluster);
    assert!(
        last.is_none_or(|p| !alive(p)),
        "PostgreSQL stopped with the app"
    );
}

#[test]
fn the_server_keeps_its_files_private_and_serves_as_the_restricted_role() {
    use std::os::unix::fs::MetadataExt;
    let data = scratch_dir("private-data");
    fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
    let (server, pid) = start_server(&data);
    let mut server = KillOnDrop(server);
    let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
    if nix::unistd::geteuid().is_root() {
        // The postgres user may only pass through, to reach its cluster.
        assert_eq!(mode(&data), 0o710);
    } else {
        assert_eq!(mode(&data), 0o700);
    }
    assert_eq!(mode(&data.join("postgres.log")), 0o600);
    assert_eq!(mode(&data.join("secret_key")), 0o600);

    // Every connection of the server's pool is the app's role, not the superuser.
    let pg = EmbeddedPostgres::start(&launch_options(&data)).unwrap();
    let mut conn = PgConnection::establish(&pg.app_database_url()).unwrap();
    #[derive(QueryableByName)]
    struct Role {
        #[diesel(sql_type = diesel::sql_types::Text)]
        usename: String,
    }
    let roles: Vec<Role> = diesel::sql_query(
        "SELECT DISTINCT usename::text AS usename FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .load(&mut conn)
    .unwrap();
    let roles: Vec<String> = roles.into_iter().map(|r| r.usename).collect();
    assert_eq!(roles, [iap_credits::platform::db::APP_ROLE]);
    drop(conn);
    pg.stop().unwrap();

    kill(Pid::from_raw(server.0.id() as i32), Signal::SIGTERM).unwrap();
    assert!(server.0.wait().unwrap().success());
    wait_until_dead(pid);
}

#[test]
fn after_kill_9_of_app_and_postgres_the_next_start_works() {
    let data = scratch_dir("crash");
    let (mut server, pid) = start_server(&data);
    server.kill().unwrap();
    server.wait().unwrap();
    kill(pid, Signal::SIGKILL).unwrap();
    wait_until_dead(pid);
    let cluster = data.join("postgres");
    assert!(
        cluster.join("postmaster.pid").exists(),
        "kill -9 leaves postmaster.pid behind"
    );
    // After a reboot the old pid may belong to another program: this very test process.
    let stale = fs::read_to_string(cluster.join("postmaster.pid")).unwrap();
    let stale = stale.replacen(&pid.to_string(), &std::process::id().to_string(), 1);
    fs::write(cluster.join("postmaster.pid"), stale).unwrap();

    let pg = EmbeddedPostgres::start(&launch_options(&data)).unwrap();
    let mut conn = PgConnection::establish(&pg.app_database_url()).unwrap();
    let demo: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM databases WHERE name = 'Demo Company')",
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(demo, 1, "the data written before the crash is there");
    drop(conn);
    pg.stop().unwrap();
}

#[test]
fn after_kill_9_of_the_app_alone_the_next_start_adopts_postgres_and_stops_it() {
    let data = scratch_dir("orphan");
    let (mut server, pid) = start_server(&data);
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(alive(pid), "PostgreSQL outlives the app killed with -9");
    let pg = EmbeddedPostgres::start(&launch_options(&data)).unwrap();
    assert_eq!(
        postmaster_pid(pg.cluster_dir()),
        Some(pid),
        "joined the orphan"
    );
    assert_eq!(count_rows(&pg), 1);
    pg.stop().unwrap();
    wait_until_dead(pid);
}

#[test]
fn sigterm_stops_the_server_and_then_postgres() {
    let data = scratch_dir("sigterm");
    let (mut server, pid) = start_server(&data);
    kill(Pid::from_raw(server.id() as i32), Signal::SIGTERM).unwrap();
    let status = server.wait().unwrap();
    assert!(status.success(), "{status}");
    wait_until_dead(pid);
    assert!(!data.join("postgres/postmaster.pid").exists());
}

#[test]
fn ctrl_c_stops_the_server_and_then_postgres() {
    let data = scratch_dir("sigint");
    let (mut server, pid) = start_server(&data);
    kill(Pid::from_raw(server.id() as i32), Signal::SIGINT).unwrap();
    let status = server.wait().unwrap();
    assert!(status.success(), "{status}");
    wait_until_dead(pid);
}

#[test]
fn a_second_user_joins_and_the_last_one_out_stops_it() {
    let data = scratch_dir("shared");
    let server = EmbeddedPostgres::start(&launch_options(&data)).unwrap();
    let pid = postmaster_pid(server.cluster_dir()).unwrap();
    let command = EmbeddedPostgres::start(&launch_options(&data)).unwrap();
    assert_eq!(
        postmaster_pid(command.cluster_dir()),
        Some(pid),
        "joined, not restarted"
    );
    assert_eq!(count_rows(&command), 1);
    command.stop().unwrap();
    assert!(alive(pid), "still running for the server");
    assert_eq!(count_rows(&server), 2);
    server.stop().unwrap();
    wait_until_dead(pid);
}

#[test]
fn a_long_data_dir_puts_the_socket_in_a_short_folder() {
    let data = scratch_dir("long")
        .join("a-very-long-folder-name-to-push-the-socket-path-past-the-limit-of-unix-sockets");
    let pg = EmbeddedPostgres::start(&launch_options(&data)).unwrap();
    assert!(pg.cluster_dir().join(".s.PGSQL.5432").as_os_str().len() > 100);
    assert_ne!(pg.socket_dir(), pg.cluster_dir());
    assert!(pg.socket_dir().join(".s.PGSQL.5432").as_os_str().len() < 100);
    assert_eq!(count_rows(&pg), 1);
    pg.stop().unwrap();
}

#[test]
fn as_root_an_unreachable_data_dir_moves_the_cluster_to_a_reachable_place() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: the postgres user is not involved; nothing to check");
        return;
    }
    let private = scratch_dir("private");
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    let data = private.join("var");
    let options = launch_options(&data);
    let pg = EmbeddedPostgres::start(&options).unwrap();
    assert!(
        pg.cluster_dir().starts_with(&options.fallback_root),
        "{:?}",
        pg.cluster_dir()
    );
    let owner = nix::unistd::User::from_name("postgres").unwrap().unwrap();
    let meta = fs::metadata(pg.cluster_dir()).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        owner.uid.as_raw()
    );
    assert_eq!(count_rows(&pg), 1);
    pg.stop().unwrap();
    // The same data dir finds the same cluster again.
    let pg = EmbeddedPostgres::start(&options).unwrap();
    assert_eq!(count_rows(&pg), 2);
    pg.stop().unwrap();
}

#[test]
fn missing_binaries_give_one_clear_sentence() {
    let empty = scratch_dir("nobin");
    let mut options = launch_options(&scratch_dir("nobin-data"));
    options.pg_bin = Some(empty.clone());
    let err = EmbeddedPostgres::start(&options).unwrap_err();
    assert!(matches!(err, LaunchError::NoBinaries(_)));
    let message = err.to_string();
    assert!(message.contains("apt-get install postgresql"), "{message}");
    assert!(message.contains("DATABASE_URL"), "{message}");
    assert!(!message.contains('\n'));
    assert!(
        find_binaries(None).is_ok(),
        "this machine has PostgreSQL installed"
    );
}

//! The embedded PostgreSQL launcher: first start, reuse, crashes, sharing, long paths, root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use diesel::prelude::*;
use iap_credits::embedded_pg::{EmbeddedPostgres, LaunchError, find_binaries};
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

/// Runs the real server on `data` until it prints its URL; returns it with its postmaster.
fn start_server(data: &Path) -> (std::process::Child, Pid) {
    use std::io::{BufRead, BufReader};
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .env_remove("DATABASE_URL")
        .env("IAP_DATA_DIR", data)
        .env("IAP_BIND", "127.0.0.1:0")
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
    (server, pid)
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

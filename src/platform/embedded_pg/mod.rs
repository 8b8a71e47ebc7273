//! The embedded PostgreSQL launcher: runs a private cluster from the machine's own PostgreSQL
//! server binaries when no `DATABASE_URL` is given, so the app needs nothing started by hand.
//!
//! Several processes may share one cluster (a server and a CLI command on the same data dir).
//! Two advisory file locks keep them honest: `postgres.lock` serialises starting and stopping,
//! and every user holds `postgres.users.lock` shared while it uses the cluster; whoever leaves
//! last (and can take that lock exclusively) stops PostgreSQL. Locks vanish with their process,
//! so an app killed with -9 never blocks the next one.
//!
//! `postmaster` starts and stops PostgreSQL itself, `supervisor` brings it back when it exits
//! under us, and `places` finds where the cluster lives and holds its locks.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User, chown, geteuid};

mod places;
mod postmaster;
mod supervisor;

use places::*;
use postmaster::Postmaster;
pub use supervisor::DatabaseHealth;
use supervisor::Supervisor;

/// Name of the application database inside the embedded cluster.
pub const APP_DATABASE: &str = "iap_credits";
/// PostgreSQL superuser created by initdb; local socket connections need no password.
const SUPERUSER: &str = "postgres";
const PORT: u16 = 5432;
/// `sun_path` holds 108 bytes; PostgreSQL wants the whole socket path to fit with room to spare.
const MAX_SOCKET_PATH: usize = 100;
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(
        "No PostgreSQL server binaries were found{0}: install PostgreSQL (on Debian or Ubuntu: `sudo apt-get install postgresql`), point PG_BIN at the folder holding `postgres` and `initdb`, or set DATABASE_URL to an existing PostgreSQL database."
    )]
    NoBinaries(String),
    #[error(
        "The app runs as root but there is no `postgres` system user to run PostgreSQL as: install PostgreSQL from your distribution's packages (which creates that user), run the app as a normal user, or set DATABASE_URL."
    )]
    NoPostgresUser,
    #[error("{0}")]
    Setup(String),
    #[error("PostgreSQL did not start: {0}")]
    Start(String),
}

fn setup_err(what: impl std::fmt::Display, path: &Path, e: impl std::fmt::Display) -> LaunchError {
    LaunchError::Setup(format!("could not {what} {}: {e}", path.display()))
}

/// Where to look for the server binaries and keep the cluster.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// The app's data dir; the cluster lives in `<data_dir>/postgres` when PostgreSQL can reach it.
    pub data_dir: PathBuf,
    /// `PG_BIN`: when set, the only place binaries are looked for.
    pub pg_bin: Option<PathBuf>,
    /// Folder for the cluster when running as root and the data dir is out of the `postgres`
    /// user's reach (e.g. a checkout under `/root`).
    pub fallback_root: PathBuf,
}

impl LaunchOptions {
    pub fn new(data_dir: impl Into<PathBuf>, pg_bin: Option<PathBuf>) -> Self {
        LaunchOptions {
            data_dir: data_dir.into(),
            pg_bin,
            fallback_root: PathBuf::from("/var/lib/iap-credits"),
        }
    }
}

/// Finds the folder with `postgres` and `initdb`: `PG_BIN` alone when given, else
/// `pg_config --bindir`, the newest `/usr/lib/postgresql/*/bin`, then `PATH`.
pub fn find_binaries(pg_bin: Option<&Path>) -> Result<PathBuf, LaunchError> {
    let has_server = |dir: &Path| dir.join("postgres").is_file() && dir.join("initdb").is_file();
    if let Some(dir) = pg_bin {
        return if has_server(dir) {
            Ok(dir.to_path_buf())
        } else {
            Err(LaunchError::NoBinaries(format!(
                " in PG_BIN ({})",
                dir.display()
            )))
        };
    }
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    candidates.extend(debian_bin_dirs(Path::new("/usr/lib/postgresql")));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .into_iter()
        .find(|dir| has_server(dir))
        .ok_or_else(|| LaunchError::NoBinaries(String::new()))
}

/// `/usr/lib/postgresql/<version>/bin`, newest version first.
fn debian_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version: Option<Vec<u32>> = name.split('.').map(|p| p.parse().ok()).collect();
            version.map(|v| (v, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// A running embedded cluster, shared with any other process using the same data dir.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    postmaster: Arc<Postmaster>,
    /// Held shared while this process uses the cluster; `None` once released.
    users_lock: Option<File>,
    /// Restarts PostgreSQL when it exits under us; stopped before we leave.
    supervisor: Option<Supervisor>,
    health: DatabaseHealth,
}

impl EmbeddedPostgres {
    /// Starts the cluster (creating it on first use) or joins it when it already runs, then
    /// makes sure the application database exists.
    pub fn start(options: &LaunchOptions) -> Result<Self, LaunchError> {
        let bin_dir = find_binaries(options.pg_bin.as_deref())?;
        let run_as = if geteuid().is_root() {
            Some(
                User::from_name(SUPERUSER)
                    .ok()
                    .flatten()
                    .ok_or(LaunchError::NoPostgresUser)?,
            )
        } else {
            None
        };

        crate::platform::config::ensure_private_dir(&options.data_dir)
            .map_err(|e| setup_err("create the data dir", &options.data_dir, e))?;
        let data_dir = fs::canonicalize(&options.data_dir)
            .map_err(|e| setup_err("resolve the data dir", &options.data_dir, e))?;
        if let Some(user) = &run_as {
            let_postgres_traverse(&data_dir, user)?;
        }
        let cluster_dir = place_cluster(&data_dir, &options.fallback_root, run_as.as_ref())?;
        let lock_dir = cluster_dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| data_dir.clone());
        let socket_dir = socket_dir_for(&cluster_dir, run_as.as_ref())?;

        let start_lock = open_lock(&lock_dir.join("postgres.lock"))?;
        start_lock
            .lock()
            .map_err(|e| setup_err("lock", &lock_dir, e))?;
        let users_lock = open_lock(&lock_dir.join("postgres.users.lock"))?;
        users_lock
            .lock_shared()
            .map_err(|e| setup_err("lock", &lock_dir, e))?;

        let pg = EmbeddedPostgres {
            postmaster: Arc::new(Postmaster {
                cluster_dir,
                socket_dir,
                lock_dir,
                bin_dir,
                run_as,
                child: Mutex::new(None),
            }),
            users_lock: Some(users_lock),
            supervisor: None,
            health: DatabaseHealth::default(),
        };
        let started = pg
            .postmaster
            .bring_up()
            .and_then(|()| pg.postmaster.ensure_app_database());
        // Released before `pg` can be dropped: leaving takes this lock (on an error, `pg` is
        // dropped on return, which stops a postmaster this call started).
        drop(start_lock);
        started?;
        Ok(pg)
    }

    /// Watches PostgreSQL from now on: when it exits (killed, crashed, stopped by hand) it is
    /// started again, with a back-off from 1 s to a minute between failed attempts, each
    /// logged. `health()` says meanwhile whether the database is up.
    pub fn supervise(&mut self) {
        if self.supervisor.is_none() {
            self.supervisor = Supervisor::spawn(self.postmaster.clone(), self.health.clone());
        }
    }

    /// Whether the cluster is up, as the supervisor last saw it.
    pub fn health(&self) -> DatabaseHealth {
        self.health.clone()
    }

    /// The cluster's data folder (`PGDATA`).
    pub fn cluster_dir(&self) -> &Path {
        &self.postmaster.cluster_dir
    }

    /// The folder holding the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.postmaster.socket_dir
    }

    /// A libpq URL for `database` over the cluster's unix socket, as the superuser (who owns
    /// the schema and runs the migrations).
    pub fn database_url(&self, database: &str) -> String {
        self.postmaster.database_url(SUPERUSER, database)
    }

    /// The same as `role`: `crate::platform::db::APP_ROLE` serves requests.
    pub fn database_url_as(&self, role: &str, database: &str) -> String {
        self.postmaster.database_url(role, database)
    }

    /// URL of the application database, as its owner.
    pub fn app_database_url(&self) -> String {
        self.database_url(APP_DATABASE)
    }

    /// URL of the application database, as the role that serves requests.
    pub fn request_database_url(&self) -> String {
        self.database_url_as(crate::platform::db::APP_ROLE, APP_DATABASE)
    }

    /// Leaves the cluster; stops PostgreSQL when no other process still uses it.
    pub fn stop(mut self) -> Result<(), LaunchError> {
        self.leave()
    }

    fn leave(&mut self) -> Result<(), LaunchError> {
        // No restart may race the stop.
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.stop();
        }
        let Some(users_lock) = self.users_lock.take() else {
            return Ok(());
        };
        let lock_dir = &self.postmaster.lock_dir;
        let start_lock = open_lock(&lock_dir.join("postgres.lock"))?;
        start_lock
            .lock()
            .map_err(|e| setup_err("lock", lock_dir, e))?;
        drop(users_lock);
        let users_lock = open_lock(&lock_dir.join("postgres.users.lock"))?;
        if last_user(&users_lock) {
            self.postmaster.stop_postmaster()?;
        } else {
            tracing::info!("embedded PostgreSQL left running for the other processes using it");
        }
        Ok(())
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.leave() {
            tracing::error!("{e}");
        }
    }
}

/// Creates `<db>` unless it exists (the app database, or a test database).
pub fn create_database_if_missing(conn: &mut PgConnection, name: &str) -> diesel::QueryResult<()> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Text};
    let exists: bool = diesel::select(
        sql::<Bool>("EXISTS (SELECT 1 FROM pg_database WHERE datname = ")
            .bind::<Text, _>(name)
            .sql(")"),
    )
    .get_result(conn)?;
    if !exists {
        diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(name))).execute(conn)?;
    }
    Ok(())
}

/// Creates the login role `name` unless it exists: no superuser, no role or database creation,
/// and no password (the cluster only listens on its private unix socket).
pub fn create_role_if_missing(conn: &mut PgConnection, name: &str) -> diesel::QueryResult<()> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Text};
    let exists: bool = diesel::select(
        sql::<Bool>("EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ")
            .bind::<Text, _>(name)
            .sql(")"),
    )
    .get_result(conn)?;
    if !exists {
        diesel::sql_query(format!(
            "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT",
            quote_ident(name)
        ))
        .execute(conn)?;
    }
    Ok(())
}

pub use crate::platform::db::quote_ident;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_debian_version_first() {
        let root = tempfile_dir();
        for v in ["9.6", "15", "13", "abc"] {
            fs::create_dir_all(root.join(v).join("bin")).unwrap();
        }
        let dirs = debian_bin_dirs(&root);
        let names: Vec<_> = dirs
            .iter()
            .map(|d| {
                d.parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["15", "13", "9.6"]);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn pg_bin_is_the_only_place_looked_at() {
        let empty = tempfile_dir();
        let err = find_binaries(Some(&empty)).unwrap_err();
        assert!(matches!(err, LaunchError::NoBinaries(_)));
        assert!(err.to_string().contains("PG_BIN"));
        fs::remove_dir_all(empty).unwrap();
    }

    #[test]
    fn socket_urls_are_percent_encoded() {
        let pg = Postmaster {
            cluster_dir: "/x".into(),
            socket_dir: "/tmp/a b".into(),
            lock_dir: "/".into(),
            bin_dir: "/".into(),
            run_as: None,
            child: Mutex::new(None),
        };
        assert_eq!(
            pg.database_url("postgres", "db"),
            "postgresql://postgres@localhost/db?host=%2Ftmp%2Fa%20b&port=5432"
        );
    }

    #[test]
    fn a_socket_folder_planted_in_tmp_is_refused() {
        let root = tempfile_dir();
        // A symlink to a folder someone wants us to hand over.
        let target = root.join("target");
        fs::create_dir(&target).unwrap();
        let link = root.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = create_private_temp_dir(&link, None).unwrap_err();
        assert!(err.to_string().contains("not a private folder"), "{err}");
        // A folder others can enter.
        let open = root.join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(create_private_temp_dir(&open, None).is_err());
        // A file.
        let file = root.join("file");
        fs::write(&file, "x").unwrap();
        assert!(create_private_temp_dir(&file, None).is_err());
        // A fresh name becomes a private folder, and is accepted again at the next start.
        let fresh = root.join("fresh");
        create_private_temp_dir(&fresh, None).unwrap();
        assert_eq!(
            fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o700
        );
        create_private_temp_dir(&fresh, None).unwrap();
        fs::remove_dir_all(root).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "iap-unit-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}

//! The embedded PostgreSQL launcher: runs a private cluster from the machine's own PostgreSQL
//! server binaries when no `DATABASE_URL` is given, so the app needs nothing started by hand.
//!
//! Several processes may share one cluster (a server and a CLI command on the same data dir).
//! Two advisory file locks keep them honest: `postgres.lock` serialises starting and stopping,
//! and every user holds `postgres.users.lock` shared while it uses the cluster; whoever leaves
//! last (and can take that lock exclusively) stops PostgreSQL. Locks vanish with their process,
//! so an app killed with -9 never blocks the next one.

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

/// The cluster's places and the postmaster this process started, shared with the supervisor.
#[derive(Debug)]
struct Postmaster {
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    lock_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<User>,
    /// The postmaster when this process started it (to reap it after it stops).
    child: Mutex<Option<Child>>,
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

impl Postmaster {
    fn child(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets (and reaps) the postmaster this process started once it has exited, so that a
    /// dead one is not taken for a live one.
    fn reap_exited_child(&self) {
        let mut child = self.child();
        if child
            .as_mut()
            .is_some_and(|c| !matches!(c.try_wait(), Ok(None)))
        {
            *child = None;
        }
    }

    fn database_url(&self, role: &str, database: &str) -> String {
        let socket_dir = self.socket_dir.to_string_lossy();
        let host =
            percent_encoding::utf8_percent_encode(&socket_dir, percent_encoding::NON_ALPHANUMERIC);
        format!("postgresql://{role}@localhost/{database}?host={host}&port={PORT}")
    }

    /// Creates the cluster on first use, starts the postmaster unless one serves it already,
    /// and waits until it accepts connections. The caller holds `postgres.lock`.
    fn bring_up(&self) -> Result<(), LaunchError> {
        if !self.cluster_dir.join("PG_VERSION").is_file() {
            self.init_cluster()?;
        }
        if self.running_postmaster().is_none() {
            self.spawn_postmaster()?;
        } else {
            tracing::info!(cluster = %self.cluster_dir.display(), "joining the running embedded PostgreSQL");
        }
        self.wait_until_ready()
    }

    fn init_cluster(&self) -> Result<(), LaunchError> {
        // A folder without PG_VERSION is an initdb that never finished: start it over. Anything
        // else in the way is not ours to delete.
        if self.cluster_dir.exists() {
            let entries: Vec<_> = fs::read_dir(&self.cluster_dir)
                .map_err(|e| setup_err("read", &self.cluster_dir, e))?
                .flatten()
                .map(|e| e.file_name())
                .collect();
            let unfinished_initdb = entries.iter().any(|n| n == "global" || n == "base");
            if !entries.is_empty() && !unfinished_initdb {
                return Err(LaunchError::Setup(format!(
                    "{} is not empty and holds no PostgreSQL cluster; move it away or choose another IAP_DATA_DIR",
                    self.cluster_dir.display()
                )));
            }
            fs::remove_dir_all(&self.cluster_dir)
                .map_err(|e| setup_err("clear the unfinished cluster", &self.cluster_dir, e))?;
        }
        create_owned_dir(&self.cluster_dir, self.run_as.as_ref())?;
        tracing::info!(cluster = %self.cluster_dir.display(), "creating the embedded PostgreSQL cluster");
        let output = self
            .command(&self.bin_dir.join("initdb"))
            .arg("--pgdata")
            .arg(&self.cluster_dir)
            .args([
                "--username",
                SUPERUSER,
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--auth-local",
                "trust",
                "--auth-host",
                "scram-sha-256",
                "--no-instructions",
            ])
            .output()
            .map_err(|e| LaunchError::Start(format!("could not run initdb: {e}")))?;
        if !output.status.success() {
            return Err(LaunchError::Start(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(())
    }

    /// The postmaster serving this cluster, if one is alive. A `postmaster.pid` naming a dead
    /// process, or a process that is not PostgreSQL (the pid was reused after a crash), is stale
    /// and removed so that it cannot block the next start.
    fn running_postmaster(&self) -> Option<Pid> {
        let pid_file = self.cluster_dir.join("postmaster.pid");
        let pid = read_pid(&pid_file)?;
        if is_postgres_process(pid) {
            return Some(pid);
        }
        if !process_alive(pid) {
            // PostgreSQL itself copes with a dead pid, and checks its old shared memory.
            return None;
        }
        tracing::warn!(
            pid = pid.as_raw(),
            "removing a stale postmaster.pid: its process is gone or is not PostgreSQL"
        );
        let _ = fs::remove_file(&pid_file);
        let lock = self.socket_dir.join(format!(".s.PGSQL.{PORT}.lock"));
        if read_pid(&lock).is_some_and(|p| !is_postgres_process(p)) {
            let _ = fs::remove_file(&lock);
        }
        None
    }

    fn spawn_postmaster(&self) -> Result<(), LaunchError> {
        let log_path = self.lock_dir.join("postgres.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log_path)
            .map_err(|e| setup_err("open", &log_path, e))?;
        // A log made by an older version may be readable by others.
        fs::set_permissions(&log_path, fs::Permissions::from_mode(0o600))
            .map_err(|e| setup_err("set permissions of", &log_path, e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| setup_err("open", &log_path, e))?;
        tracing::info!(cluster = %self.cluster_dir.display(), socket = %self.socket_dir.display(), "starting the embedded PostgreSQL");
        let child = self
            .command(&self.bin_dir.join("postgres"))
            .arg("-D")
            .arg(&self.cluster_dir)
            .arg("-k")
            .arg(&self.socket_dir)
            .args(["-p", &PORT.to_string(), "-c", "listen_addresses="])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group: Ctrl-C in a terminal reaches the app, which then stops
            // PostgreSQL after the web server has drained.
            .process_group(0)
            .spawn()
            .map_err(|e| LaunchError::Start(format!("could not run postgres: {e}")))?;
        *self.child() = Some(child);
        Ok(())
    }

    fn wait_until_ready(&self) -> Result<(), LaunchError> {
        let url = self.database_url(SUPERUSER, "postgres");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if PgConnection::establish(&url).is_ok() {
                return Ok(());
            }
            let exited = {
                let mut child = self.child();
                let status = child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                if status.is_some() {
                    *child = None;
                }
                status
            };
            if let Some(status) = exited {
                return Err(LaunchError::Start(format!(
                    "postgres exited ({status}); its log {} ends with: {}",
                    self.lock_dir.join("postgres.log").display(),
                    log_tail(&self.lock_dir.join("postgres.log"))
                )));
            }
            if Instant::now() > deadline {
                return Err(LaunchError::Start(format!(
                    "it did not accept connections within {}s; see {}",
                    START_TIMEOUT.as_secs(),
                    self.lock_dir.join("postgres.log").display()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn ensure_app_database(&self) -> Result<(), LaunchError> {
        let mut conn = PgConnection::establish(&self.database_url(SUPERUSER, "postgres"))
            .map_err(|e| LaunchError::Start(e.to_string()))?;
        create_database_if_missing(&mut conn, APP_DATABASE)
            .map_err(|e| LaunchError::Start(format!("could not create {APP_DATABASE}: {e}")))?;
        create_role_if_missing(&mut conn, crate::platform::db::APP_ROLE).map_err(|e| {
            LaunchError::Start(format!(
                "could not create the role {}: {e}",
                crate::platform::db::APP_ROLE
            ))
        })
    }

    /// Fast shutdown (clients disconnected, clean checkpoint), then immediate if it hangs.
    fn stop_postmaster(&self) -> Result<(), LaunchError> {
        let pid_file = self.cluster_dir.join("postmaster.pid");
        if let Some(pid) = self.running_postmaster() {
            tracing::info!("stopping the embedded PostgreSQL");
            let _ = kill(pid, Signal::SIGINT);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while self.postmaster_alive(pid) {
                if Instant::now() > deadline {
                    tracing::warn!(
                        "PostgreSQL did not stop in time; forcing an immediate shutdown"
                    );
                    let _ = kill(pid, Signal::SIGQUIT);
                    std::thread::sleep(Duration::from_secs(2));
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Some(mut child) = self.child().take() {
            let _ = child.wait();
        }
        if pid_file.exists() && self.running_postmaster().is_some() {
            return Err(LaunchError::Start("PostgreSQL is still running".into()));
        }
        // The short socket folder under /tmp is made again at the next start.
        if self.socket_dir != self.cluster_dir {
            let _ = fs::remove_dir_all(&self.socket_dir);
        }
        Ok(())
    }

    fn postmaster_alive(&self, pid: Pid) -> bool {
        if let Some(child) = self.child().as_mut()
            && child.id() == pid.as_raw() as u32
        {
            return matches!(child.try_wait(), Ok(None));
        }
        process_alive(pid)
    }

    /// A command run as the cluster's owner (the `postgres` user when we are root), from a
    /// working directory that user can enter.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.cluster_dir).env_remove("PGDATA");
        if let Some(user) = &self.run_as {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            cmd.env("HOME", &user.dir).env("USER", &user.name);
        }
        cmd
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.leave() {
            tracing::error!("{e}");
        }
    }
}

/// Whether the embedded database is up, as its supervisor sees it. Cheap to clone and to read
/// (an atomic): `/healthz` asks it on every call.
#[derive(Debug, Clone, Default)]
pub struct DatabaseHealth(Arc<HealthInner>);

#[derive(Debug, Default)]
struct HealthInner {
    /// `UP`, `RESTARTING` or `FAILED`.
    state: AtomicU8,
    /// Restarts that brought PostgreSQL back, since this process started.
    restarts: AtomicU64,
}

const UP: u8 = 0;
const RESTARTING: u8 = 1;
const FAILED: u8 = 2;

impl DatabaseHealth {
    /// PostgreSQL exited and the last attempt to start it again failed.
    pub fn is_failed(&self) -> bool {
        self.0.state.load(Ordering::Acquire) == FAILED
    }

    /// PostgreSQL runs (it may be starting again after a restart).
    pub fn is_up(&self) -> bool {
        self.0.state.load(Ordering::Acquire) == UP
    }

    /// How many times PostgreSQL was brought back: connections made before a restart are dead.
    pub fn restarts(&self) -> u64 {
        self.0.restarts.load(Ordering::Acquire)
    }

    fn set(&self, state: u8) {
        self.0.state.store(state, Ordering::Release);
    }
}

/// How often the supervisor looks at the postmaster.
const SUPERVISE_EVERY: Duration = Duration::from_secs(1);
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The thread that restarts PostgreSQL; it ends when its sender is dropped.
#[derive(Debug)]
struct Supervisor {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Supervisor {
    /// `None` (logged) when the system cannot start a thread: the app runs unsupervised.
    fn spawn(postmaster: Arc<Postmaster>, health: DatabaseHealth) -> Option<Self> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("postgres-supervisor".into())
            .spawn(move || supervise(&postmaster, &health, &stopped));
        match thread {
            Ok(thread) => Some(Supervisor { stop, thread }),
            Err(e) => {
                tracing::error!("the embedded PostgreSQL will not be supervised: {e}");
                None
            }
        }
    }

    fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

fn supervise(
    postmaster: &Postmaster,
    health: &DatabaseHealth,
    stopped: &std::sync::mpsc::Receiver<()>,
) {
    let mut wait = SUPERVISE_EVERY;
    let mut backoff = BACKOFF_FIRST;
    let mut attempt = 0u32;
    // Any message or a dropped sender both mean "stop".
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
        postmaster.reap_exited_child();
        if postmaster.running_postmaster().is_some() {
            wait = SUPERVISE_EVERY;
            continue;
        }
        if health.is_up() {
            tracing::error!("the embedded PostgreSQL exited; starting it again");
            health.set(RESTARTING);
        }
        attempt += 1;
        match restart(postmaster) {
            Ok(()) => {
                tracing::warn!(attempt, "the embedded PostgreSQL is running again");
                health.0.restarts.fetch_add(1, Ordering::AcqRel);
                health.set(UP);
                (wait, backoff, attempt) = (SUPERVISE_EVERY, BACKOFF_FIRST, 0);
            }
            Err(e) => {
                tracing::error!(
                    attempt,
                    retry_in_seconds = backoff.as_secs(),
                    "the embedded PostgreSQL could not be started again: {e}"
                );
                health.set(FAILED);
                wait = backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// One attempt to bring the postmaster back, under the start lock so that it races no other
/// process starting or stopping the same cluster.
fn restart(postmaster: &Postmaster) -> Result<(), LaunchError> {
    let lock_dir = &postmaster.lock_dir;
    let start_lock = open_lock(&lock_dir.join("postgres.lock"))?;
    start_lock
        .lock()
        .map_err(|e| setup_err("lock", lock_dir, e))?;
    postmaster.bring_up()
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

/// `<data_dir>/postgres`, or — when root and the `postgres` user cannot reach the data dir —
/// a persistent folder under `fallback_root` named after the data dir.
fn place_cluster(
    data_dir: &Path,
    fallback_root: &Path,
    run_as: Option<&User>,
) -> Result<PathBuf, LaunchError> {
    let preferred = data_dir.join("postgres");
    let Some(user) = run_as else {
        return Ok(preferred);
    };
    let name = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let fallback = fallback_root
        .join(format!(
            "{name}-{:016x}",
            fnv1a(data_dir.as_os_str().as_encoded_bytes())
        ))
        .join("postgres");
    // Once a cluster lives in the fallback place it stays there, even if the data dir becomes
    // reachable later, so that its data is never left behind.
    let in_fallback = fallback.join("PG_VERSION").exists();
    if !in_fallback {
        create_owned_dir(&preferred, Some(user))?;
        if user_can_write(user, &preferred) {
            return Ok(preferred);
        }
        let _ = fs::remove_dir(&preferred);
    }
    if let Some(parent) = fallback.parent() {
        fs::create_dir_all(parent).map_err(|e| setup_err("create", parent, e))?;
    }
    create_owned_dir(&fallback, Some(user))?;
    eprintln!(
        "The embedded PostgreSQL cluster is kept in {} (the postgres user cannot reach {}).",
        fallback.display(),
        data_dir.display()
    );
    Ok(fallback)
}

/// The cluster folder itself when the socket path fits, else a short folder under /tmp.
fn socket_dir_for(cluster_dir: &Path, run_as: Option<&User>) -> Result<PathBuf, LaunchError> {
    let socket_name = format!(".s.PGSQL.{PORT}");
    if cluster_dir.join(&socket_name).as_os_str().len() < MAX_SOCKET_PATH {
        return Ok(cluster_dir.to_path_buf());
    }
    let short = std::env::temp_dir().join(format!(
        "iap-pg-{}-{:012x}",
        geteuid().as_raw(),
        fnv1a(cluster_dir.as_os_str().as_encoded_bytes()) & 0xffff_ffff_ffff
    ));
    create_private_temp_dir(&short, run_as)?;
    Ok(short)
}

/// A 0700 folder in a world-writable place such as /tmp, owned by the user PostgreSQL runs as.
/// Made without following symlinks: anybody may have put something at that name first, so a
/// symlink, a file, or a folder of somebody else's (or that others can enter) is refused.
fn create_private_temp_dir(dir: &Path, run_as: Option<&User>) -> Result<(), LaunchError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(setup_err("create", dir, e)),
    }
    let meta = fs::symlink_metadata(dir).map_err(|e| setup_err("inspect", dir, e))?;
    let owner = run_as.map_or(geteuid(), |user| user.uid).as_raw();
    let ours = meta.uid() == owner || meta.uid() == geteuid().as_raw();
    if meta.file_type().is_symlink()
        || !meta.is_dir()
        || !ours
        || meta.permissions().mode() & 0o077 != 0
    {
        return Err(LaunchError::Setup(format!(
            "{} exists and is not a private folder of ours (a symlink, a file, someone else's, or open to others): remove it, or choose an IAP_DATA_DIR with a shorter path",
            dir.display()
        )));
    }
    if let Some(user) = run_as
        && meta.uid() != user.uid.as_raw()
    {
        // Not a symlink (checked above), and /tmp's sticky bit keeps others from swapping it.
        chown(dir, Some(user.uid), Some(user.gid))
            .map_err(|e| setup_err("hand over to the postgres user", dir, e))?;
    }
    Ok(())
}

/// Run as root, the data dir (0700, root's) would shut the `postgres` user out of the cluster
/// inside: its group gets traverse only (0710 root:postgres), which opens no file in it to
/// anyone but root (the secret key and mail files are 0600).
fn let_postgres_traverse(data_dir: &Path, user: &User) -> Result<(), LaunchError> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(data_dir).map_err(|e| setup_err("read", data_dir, e))?;
    if meta.uid() != geteuid().as_raw() {
        return Ok(());
    }
    chown(data_dir, None, Some(user.gid))
        .map_err(|e| setup_err("give the postgres group traverse on", data_dir, e))?;
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o710))
        .map_err(|e| setup_err("set permissions of", data_dir, e))
}

/// A 0700 folder owned by the user PostgreSQL runs as.
fn create_owned_dir(dir: &Path, run_as: Option<&User>) -> Result<(), LaunchError> {
    fs::create_dir_all(dir).map_err(|e| setup_err("create", dir, e))?;
    if let Some(user) = run_as {
        chown(dir, Some(user.uid), Some(user.gid))
            .map_err(|e| setup_err("hand over to the postgres user", dir, e))?;
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| setup_err("set permissions of", dir, e))
}

/// Asks the system itself (ACLs, groups and all) whether `user` can write into `dir`.
fn user_can_write(user: &User, dir: &Path) -> bool {
    Command::new("test")
        .arg("-w")
        .arg(dir)
        .arg("-a")
        .arg("-x")
        .arg(dir)
        .current_dir("/")
        .uid(user.uid.as_raw())
        .gid(user.gid.as_raw())
        .status()
        .is_ok_and(|s| s.success())
}

fn open_lock(path: &Path) -> Result<File, LaunchError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| setup_err("open the lock file", path, e))
}

/// Takes the users lock exclusively if no other process holds it. A child being spawned by
/// another thread of this process holds a copy of our lock until it execs, so a refusal is
/// retried for a moment before it is taken to mean that another process uses the cluster.
fn last_user(users_lock: &File) -> bool {
    for _ in 0..10 {
        if users_lock.try_lock().is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn read_pid(path: &Path) -> Option<Pid> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    // A negative pid in a socket lock file means a standalone backend; treat it the same.
    (pid != 0).then(|| Pid::from_raw(pid.abs()))
}

fn process_alive(pid: Pid) -> bool {
    // EPERM means it exists but belongs to someone else.
    !matches!(kill(pid, None), Err(nix::errno::Errno::ESRCH))
}

fn is_postgres_process(pid: Pid) -> bool {
    let comm = fs::read_to_string(format!("/proc/{}/comm", pid.as_raw())).unwrap_or_default();
    let stat = fs::read_to_string(format!("/proc/{}/stat", pid.as_raw())).unwrap_or_default();
    // A zombie (state Z) is as good as gone.
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    comm.trim() == "postgres" && !zombie
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// FNV-1a: a stable, dependency-free hash for naming folders after paths.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

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

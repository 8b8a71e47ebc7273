//! The postmaster of the embedded cluster: initdb, start, stop, and the commands that run
//! them (as the `postgres` user when root).

use super::*;

/// The cluster's places and the postmaster this process started, shared with the supervisor.
#[derive(Debug)]
pub(super) struct Postmaster {
    pub(super) cluster_dir: PathBuf,
    pub(super) socket_dir: PathBuf,
    pub(super) lock_dir: PathBuf,
    pub(super) bin_dir: PathBuf,
    pub(super) run_as: Option<User>,
    /// The postmaster when this process started it (to reap it after it stops).
    pub(super) child: Mutex<Option<Child>>,
}

impl Postmaster {
    pub(super) fn child(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets (and reaps) the postmaster this process started once it has exited, so that a
    /// dead one is not taken for a live one.
    pub(super) fn reap_exited_child(&self) {
        let mut child = self.child();
        if child
            .as_mut()
            .is_some_and(|c| !matches!(c.try_wait(), Ok(None)))
        {
            *child = None;
        }
    }

    pub(super) fn database_url(&self, role: &str, database: &str) -> String {
        let socket_dir = self.socket_dir.to_string_lossy();
        let host =
            percent_encoding::utf8_percent_encode(&socket_dir, percent_encoding::NON_ALPHANUMERIC);
        format!("postgresql://{role}@localhost/{database}?host={host}&port={PORT}")
    }

    /// Creates the cluster on first use, starts the postmaster unless one serves it already,
    /// and waits until it accepts connections. The caller holds `postgres.lock`.
    pub(super) fn bring_up(&self) -> Result<(), LaunchError> {
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
    pub(super) fn running_postmaster(&self) -> Option<Pid> {
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

    pub(super) fn ensure_app_database(&self) -> Result<(), LaunchError> {
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
    pub(super) fn stop_postmaster(&self) -> Result<(), LaunchError> {
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
    pub(super) fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.cluster_dir).env_remove("PGDATA");
        if let Some(user) = &self.run_as {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            cmd.env("HOME", &user.dir).env("USER", &user.name);
        }
        cmd
    }
}

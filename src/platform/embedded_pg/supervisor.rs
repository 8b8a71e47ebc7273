//! The supervisor: a thread that brings the postmaster back when it exits under us (at once,
//! then with a back-off), and the health it reports to `/healthz`.

use super::*;

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

    pub(super) fn set(&self, state: u8) {
        self.0.state.store(state, Ordering::Release);
    }
}

/// How often the supervisor looks at the postmaster.
const SUPERVISE_EVERY: Duration = Duration::from_secs(1);
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The thread that restarts PostgreSQL; it ends when its sender is dropped.
#[derive(Debug)]
pub(super) struct Supervisor {
    pub(super) stop: std::sync::mpsc::Sender<()>,
    pub(super) thread: std::thread::JoinHandle<()>,
}

impl Supervisor {
    /// `None` (logged) when the system cannot start a thread: the app runs unsupervised.
    pub(super) fn spawn(postmaster: Arc<Postmaster>, health: DatabaseHealth) -> Option<Self> {
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

    pub(super) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

pub(super) fn supervise(
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
pub(super) fn restart(postmaster: &Postmaster) -> Result<(), LaunchError> {
    let lock_dir = &postmaster.lock_dir;
    let start_lock = open_lock(&lock_dir.join("postgres.lock"))?;
    start_lock
        .lock()
        .map_err(|e| setup_err("lock", lock_dir, e))?;
    postmaster.bring_up()
}

//! Configuration: every setting comes from the environment (a `.env` file is read first when
//! present) and can be given as a command-line flag instead.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use clap::Args;
use rand::Rng;
use rand::distr::Alphanumeric;

/// A session key needs 64 bytes (32 to sign, 32 to encrypt).
pub const SECRET_KEY_MIN_LEN: usize = 64;

#[derive(Args, Debug, Clone)]
pub struct Config {
    /// External PostgreSQL database; when unset the app runs its own embedded cluster.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// With DATABASE_URL (the schema's owner, which runs the migrations): the role that serves
    /// requests, with only the privileges the app grants it at start.
    #[arg(long, env = "DATABASE_APP_URL", global = true, hide_env_values = true)]
    pub database_app_url: Option<String>,

    /// With DATABASE_URL: a read replica (a hot standby) of that database, for the operator's
    /// dashboard and the ledger CSV exports. They may then lag the primary by the replica's
    /// delay; everything else reads and writes the primary.
    #[arg(long, env = "DATABASE_READ_URL", global = true, hide_env_values = true)]
    pub database_read_url: Option<String>,

    /// Folder for the embedded PostgreSQL cluster, the generated secret key and mail files.
    #[arg(long, env = "IAP_DATA_DIR", default_value = "./var", global = true)]
    pub data_dir: PathBuf,

    /// Address the web server listens on.
    #[arg(
        long,
        env = "IAP_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: String,

    /// Absolute URL of the app as users reach it (used in emails); defaults to the bind address.
    #[arg(long, env = "IAP_BASE_URL", global = true)]
    pub base_url: Option<String>,

    /// SMTP server for outgoing mail (smtp://host:port or smtps://user:pass@host).
    #[arg(long, env = "SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Sender of alerts and receipts, e.g. `IAP Credits <billing@example.com>`.
    #[arg(long, env = "IAP_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,

    /// Key that signs and encrypts session cookies (at least 64 characters); when unset one is
    /// generated once and kept in the data dir.
    #[arg(long, env = "IAP_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Folder holding the PostgreSQL server binaries (postgres, initdb).
    #[arg(long, env = "PG_BIN", global = true)]
    pub pg_bin: Option<PathBuf>,

    /// Answer API charges with a `Server-Timing` header of where their time went (parse,
    /// queue, SQL, commit, answer): for benchmarks, off by default.
    #[arg(long, env = "IAP_SERVER_TIMING", global = true)]
    pub server_timing: bool,

    /// Connections to PostgreSQL the app keeps at most (requests, background jobs and the
    /// charge batcher share them; each costs PostgreSQL a backend process of a few MiB).
    #[arg(long, env = "IAP_DB_POOL_SIZE", default_value_t = crate::platform::db::DEFAULT_POOL_SIZE,
          value_parser = clap::value_parser!(u32).range(2..=500), global = true)]
    pub db_pool_size: u32,

    /// HTTP worker threads, each with its own event loop; defaults to the number of CPUs.
    #[arg(long, env = "IAP_HTTP_WORKERS",
          value_parser = clap::value_parser!(u16).range(1..=256), global = true)]
    pub http_workers: Option<u16>,

    /// The reverse proxies in front of the app (addresses or networks, comma-separated, e.g.
    /// `127.0.0.1,10.0.0.0/8`): from them, `X-Forwarded-For` says who the client is (for
    /// sign-in throttling). Unset, the TCP peer is the client.
    #[arg(long, env = "IAP_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,

    /// Private addresses or networks (comma-separated, e.g. `10.0.0.0/8`) that calls the server
    /// makes to addresses others give it (SMS delivery webhooks) may reach. Unset, only public
    /// addresses: never loopback, private, link-local or the cloud metadata address.
    #[arg(long, env = "IAP_OUTBOUND_ALLOW", global = true)]
    pub outbound_allow: Option<String>,

    /// An address (e.g. `10.0.0.5:9464`) where `GET /metrics` answers Prometheus without a
    /// token: bind it to the operators' network only. Unset, no such listener is opened.
    #[arg(long, env = "IAP_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,

    /// A bearer token that opens `GET /metrics` on the public address (at least 32
    /// characters). Unset, `/metrics` on the public address is a 404.
    #[arg(long, env = "IAP_METRICS_TOKEN", global = true, hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Log lines as text for people, or as JSON objects for log collectors.
    #[arg(long, env = "IAP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text,
          global = true)]
    pub log_format: LogFormat,

    /// Log filter, e.g. `info` or `iap_credits=debug,actix_web=info`.
    #[arg(long = "log", env = "RUST_LOG", default_value = "info", global = true)]
    pub rust_log: String,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("IAP_BASE_URL must be an absolute http:// or https:// URL, got {0:?}")]
    BaseUrl(String),
    #[error("IAP_SECRET_KEY must be at least {SECRET_KEY_MIN_LEN} characters long")]
    ShortSecretKey,
    #[error(
        "the secret key file {0} can be read by other users: run `chmod 600` on it (or make a new one)"
    )]
    SecretKeyExposed(PathBuf),
    #[error("could not prepare the data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not keep the secret key in {path}: {source}")]
    SecretKeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Config {
    /// `IAP_BASE_URL` without a trailing slash, or `http://<bind>` (a wildcard bind address is
    /// shown as 127.0.0.1, which a browser on the same machine can open).
    pub fn base_url(&self) -> Result<String, ConfigError> {
        match &self.base_url {
            Some(url) => {
                let url = url.trim().trim_end_matches('/');
                let rest = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"));
                match rest {
                    Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
                        Ok(url.to_string())
                    }
                    _ => Err(ConfigError::BaseUrl(url.to_string())),
                }
            }
            None => Ok(format!(
                "http://{}",
                self.bind.replacen("0.0.0.0", "127.0.0.1", 1)
            )),
        }
    }

    /// Takes group and other permissions away from the data dir when it exists and is ours: it
    /// holds the secret key, mail and (embedded) the database cluster.
    pub fn prepare_data_dir(&self) -> Result<(), ConfigError> {
        // Not made when nothing needs it (an external database, SMTP and IAP_SECRET_KEY):
        // whatever keeps a file there makes it private first.
        if !self.data_dir.exists() {
            return Ok(());
        }
        ensure_private_dir(&self.data_dir).map_err(|source| ConfigError::DataDir {
            path: self.data_dir.clone(),
            source,
        })
    }

    /// The session key: `IAP_SECRET_KEY`, else the one kept in `<data_dir>/secret_key`
    /// (generated on first need, readable by the owner only).
    pub fn secret_key(&self) -> Result<Vec<u8>, ConfigError> {
        if let Some(key) = &self.secret_key {
            return if key.len() >= SECRET_KEY_MIN_LEN {
                Ok(key.as_bytes().to_vec())
            } else {
                Err(ConfigError::ShortSecretKey)
            };
        }
        load_or_create_secret(&self.data_dir.join("secret_key"))
    }
}

/// `dir` created 0700 (with any missing parents), or made 0700 when it exists, is ours and
/// others could read or enter it. Group traverse alone (0710) is kept: that is how a root run
/// lets the `postgres` user reach the embedded cluster inside. A folder of someone else's is
/// left as it is.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = fs::metadata(dir)?;
    if meta.uid() == nix::unistd::geteuid().as_raw() && meta.permissions().mode() & 0o067 != 0 {
        tracing::info!(dir = %dir.display(), "making the data dir private (0700)");
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, ConfigError> {
    let io_err = |source| ConfigError::SecretKeyFile {
        path: path.to_path_buf(),
        source,
    };
    if let Ok(existing) = fs::read_to_string(path) {
        // Whoever can read the key can forge sessions: refuse one others can read.
        let mode = fs::metadata(path).map_err(io_err)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(ConfigError::SecretKeyExposed(path.to_path_buf()));
        }
        let existing = existing.trim();
        if existing.len() >= SECRET_KEY_MIN_LEN {
            return Ok(existing.as_bytes().to_vec());
        }
    }
    if let Some(parent) = path.parent() {
        ensure_private_dir(parent).map_err(io_err)?;
    }
    let key: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(SECRET_KEY_MIN_LEN + 32)
        .map(char::from)
        .collect();
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err)?;
    writeln!(file, "{key}").map_err(io_err)?;
    Ok(key.into_bytes())
}

/// How many threads and connections the HTTP server may have: what its memory grows with.
#[derive(Debug, Clone, Copy)]
pub struct ServerSettings {
    /// Worker threads, each with its own event loop and copy of the app.
    pub workers: usize,
    /// Threads per worker for `web::block` (database calls, password hashing): more than the
    /// pool has connections would only wait for one, each keeping a stack and malloc arena.
    pub max_blocking_threads: usize,
    /// Open connections per worker; past it, new ones wait in the listen backlog.
    pub max_connections: usize,
}

impl ServerSettings {
    /// `workers` (default: one per CPU) sharing a pool of `pool_size` connections.
    pub fn new(workers: Option<u16>, pool_size: u32) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let workers = workers.map_or(cpus, usize::from);
        ServerSettings {
            workers,
            max_blocking_threads: (pool_size as usize).div_ceil(workers).max(2),
            max_connections: MAX_CONNECTIONS_PER_WORKER,
        }
    }
}

/// Open connections per HTTP worker (actix's default is 25,000): each holds a buffer of up to
/// a few KiB; a reverse proxy in front keeps far fewer open.
const MAX_CONNECTIONS_PER_WORKER: usize = 4_096;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        config: Config,
    }

    fn config(args: &[&str]) -> Config {
        Probe::parse_from(std::iter::once("probe").chain(args.iter().copied())).config
    }

    #[test]
    fn the_data_dir_is_made_private() {
        let root = std::env::temp_dir().join(format!("iap-datadir-{}", rand::random::<u64>()));
        let dir = root.join("var");
        ensure_private_dir(&dir).unwrap();
        let mode = |d: &Path| fs::metadata(d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700, "an existing open data dir is closed");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o710)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o710, "group traverse (root runs) is kept");
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn pool_size_and_workers_have_deliberate_defaults_and_bounds() {
        let c = config(&[]);
        assert_eq!(c.db_pool_size, crate::platform::db::DEFAULT_POOL_SIZE);
        assert_eq!(c.http_workers, None);
        let c = config(&["--db-pool-size", "40", "--http-workers", "3"]);
        assert_eq!((c.db_pool_size, c.http_workers), (40, Some(3)));
        for bad in [
            &["--db-pool-size", "1"][..],
            &["--db-pool-size", "many"],
            &["--http-workers", "0"],
        ] {
            let args = std::iter::once("probe").chain(bad.iter().copied());
            assert!(Probe::try_parse_from(args).is_err(), "{bad:?} is refused");
        }
        let settings = ServerSettings::new(Some(3), 40);
        assert_eq!(settings.workers, 3);
        assert_eq!(
            settings.max_blocking_threads, 14,
            "the pool's share of each worker"
        );
        let settings = ServerSettings::new(Some(8), 4);
        assert_eq!(settings.max_blocking_threads, 2, "never fewer than two");
    }

    #[test]
    fn base_url_defaults_to_bind_address() {
        let c = config(&["--bind", "0.0.0.0:9000"]);
        assert_eq!(c.base_url().unwrap(), "http://127.0.0.1:9000");
    }

    #[test]
    fn base_url_must_be_absolute() {
        let c = config(&["--base-url", "example.com"]);
        assert!(c.base_url().is_err());
        let c = config(&["--base-url", "https://iap.example.com/"]);
        assert_eq!(c.base_url().unwrap(), "https://iap.example.com");
    }

    #[test]
    fn secret_key_is_generated_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("iap-key-{}", rand::random::<u64>()));
        let c = config(&["--data-dir", dir.to_str().unwrap()]);
        let first = c.secret_key().unwrap();
        assert!(first.len() >= SECRET_KEY_MIN_LEN);
        assert_eq!(c.secret_key().unwrap(), first);
        let mode = fs::metadata(dir.join("secret_key")).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn short_secret_key_is_refused() {
        let c = config(&["--secret-key", "short"]);
        assert!(matches!(c.secret_key(), Err(ConfigError::ShortSecretKey)));
    }

    #[test]
    fn a_secret_key_file_others_can_read_is_refused() {
        let dir = std::env::temp_dir().join(format!("iap-key-{}", rand::random::<u64>()));
        let c = config(&["--data-dir", dir.to_str().unwrap()]);
        c.secret_key().unwrap();
        let path = dir.join("secret_key");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            c.secret_key(),
            Err(ConfigError::SecretKeyExposed(_))
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(c.secret_key().is_ok());
        let _ = fs::remove_dir_all(dir);
    }
}

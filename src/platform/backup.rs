//! Backups with PostgreSQL's own tools: `backup` writes a consistent `pg_dump` of the app's
//! database (embedded or external) to a file only its owner can read; `restore` loads one into
//! an empty database, after which the app migrates, grants and checks the ledger as at any start.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use diesel::prelude::*;
use diesel::sql_types::BigInt;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("could not find {0}: install PostgreSQL's client tools or set PG_BIN")]
    ToolMissing(&'static str),
    #[error("{tool} failed: {message}")]
    ToolFailed { tool: &'static str, message: String },
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} does not exist or cannot be read")]
    Unreadable(PathBuf),
    #[error(
        "the database already holds {0} tables: restore goes into an empty database (a new \
         data dir, or an external database just created)"
    )]
    NotEmpty(i64),
    #[error("the database URL is not valid: {0}")]
    Url(String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Connection(#[from] diesel::ConnectionError),
}

/// Writes a dump of the database at `owner_url` to `to`: PostgreSQL's custom format (compressed,
/// restorable table by table), taken in one snapshot, without owners or grants (the app grants
/// its role again at every start). The file is made readable by its owner only — it holds tokens
/// and password hashes — and appears whole or not at all. Returns its size in bytes.
pub fn backup(owner_url: &str, pg_bin: Option<&Path>, to: &Path) -> Result<u64, BackupError> {
    let partial = to.with_extension("partial");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|source| BackupError::Write {
            path: partial.clone(),
            source,
        })?;
    let written = dump_into(owner_url, pg_bin, &file).and_then(|()| {
        file.sync_all().map_err(|source| BackupError::Write {
            path: partial.clone(),
            source,
        })?;
        fs::rename(&partial, to).map_err(|source| BackupError::Write {
            path: to.to_path_buf(),
            source,
        })?;
        Ok(fs::metadata(to).map(|m| m.len()).unwrap_or(0))
    });
    if written.is_err() {
        let _ = fs::remove_file(&partial);
    }
    written
}

fn dump_into(owner_url: &str, pg_bin: Option<&Path>, file: &File) -> Result<(), BackupError> {
    let (url, password) = without_password(owner_url)?;
    let mut command = Command::new(tool(pg_bin, "pg_dump")?);
    command
        .args([
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--dbname",
        ])
        .arg(url)
        .stdout(file.try_clone().map_err(|source| BackupError::Write {
            path: PathBuf::from("the backup file"),
            source,
        })?);
    run(command, password, "pg_dump")
}

/// Loads the dump `from` into the database at `owner_url`, which must hold no table yet, in one
/// transaction: a dump that does not load whole leaves the database empty.
pub fn restore(owner_url: &str, pg_bin: Option<&Path>, from: &Path) -> Result<(), BackupError> {
    if !from.is_file() || File::open(from).is_err() {
        return Err(BackupError::Unreadable(from.to_path_buf()));
    }
    let mut conn = PgConnection::establish(owner_url)?;
    let tables = diesel::select(diesel::dsl::sql::<BigInt>(
        "(SELECT count(*) FROM pg_tables WHERE schemaname = 'public')",
    ))
    .get_result::<i64>(&mut conn)?;
    if tables > 0 {
        return Err(BackupError::NotEmpty(tables));
    }
    drop(conn);
    let (url, password) = without_password(owner_url)?;
    let mut command = Command::new(tool(pg_bin, "pg_restore")?);
    command
        .args([
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
        ])
        .arg(url)
        .arg(from)
        .stdout(Stdio::null());
    run(command, password, "pg_restore")
}

/// Runs a PostgreSQL client tool, its password (if any) in `PGPASSWORD` rather than on its
/// command line, where any user of the machine could read it.
fn run(
    mut command: Command,
    password: Option<String>,
    tool: &'static str,
) -> Result<(), BackupError> {
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| BackupError::ToolFailed {
            tool,
            message: e.to_string(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BackupError::ToolFailed {
            tool,
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// The PostgreSQL tool `name`: next to the server binaries the app uses, else on the `PATH`.
fn tool(pg_bin: Option<&Path>, name: &'static str) -> Result<PathBuf, BackupError> {
    if let Ok(dir) = crate::platform::embedded_pg::find_binaries(pg_bin) {
        let path = dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    });
    on_path.ok_or(BackupError::ToolMissing(name))
}

/// The URL without its password, and the password. What is not a URL libpq still reads (a
/// `key=value` string) passes through unchanged.
fn without_password(database_url: &str) -> Result<(String, Option<String>), BackupError> {
    let Ok(mut url) = url::Url::parse(database_url) else {
        return Ok((database_url.to_string(), None));
    };
    let password = url.password().map(|p| {
        url::form_urlencoded::parse(format!("p={p}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    });
    if password.is_some() {
        url.set_password(None)
            .map_err(|()| BackupError::Url("cannot remove the password".into()))?;
    }
    Ok((url.to_string(), password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        let (url, password) =
            without_password("postgresql://iap_owner:s%40cret%2F1@db.example:5433/iap").unwrap();
        assert_eq!(url, "postgresql://iap_owner@db.example:5433/iap");
        assert_eq!(password.as_deref(), Some("s@cret/1"));
        let socket = "postgresql://postgres@localhost/iap_credits?host=/var/run/pg&port=5432";
        assert_eq!(
            without_password(socket).unwrap(),
            (socket.to_string(), None)
        );
    }
}

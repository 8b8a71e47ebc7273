//! Where the cluster lives (its folder, its socket's folder, made private and owned right),
//! its file locks, and the processes found in its pid file.

use super::*;

/// `<data_dir>/postgres`, or — when root and the `postgres` user cannot reach the data dir —
/// a persistent folder under `fallback_root` named after the data dir.
pub(super) fn place_cluster(
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
pub(super) fn socket_dir_for(
    cluster_dir: &Path,
    run_as: Option<&User>,
) -> Result<PathBuf, LaunchError> {
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
pub(super) fn create_private_temp_dir(
    dir: &Path,
    run_as: Option<&User>,
) -> Result<(), LaunchError> {
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
pub(super) fn let_postgres_traverse(data_dir: &Path, user: &User) -> Result<(), LaunchError> {
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
pub(super) fn create_owned_dir(dir: &Path, run_as: Option<&User>) -> Result<(), LaunchError> {
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

pub(super) fn open_lock(path: &Path) -> Result<File, LaunchError> {
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
pub(super) fn last_user(users_lock: &File) -> bool {
    for _ in 0..10 {
        if users_lock.try_lock().is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub(super) fn read_pid(path: &Path) -> Option<Pid> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    // A negative pid in a socket lock file means a standalone backend; treat it the same.
    (pid != 0).then(|| Pid::from_raw(pid.abs()))
}

pub(super) fn process_alive(pid: Pid) -> bool {
    // EPERM means it exists but belongs to someone else.
    !matches!(kill(pid, None), Err(nix::errno::Errno::ESRCH))
}

pub(super) fn is_postgres_process(pid: Pid) -> bool {
    let comm = fs::read_to_string(format!("/proc/{}/comm", pid.as_raw())).unwrap_or_default();
    let stat = fs::read_to_string(format!("/proc/{}/stat", pid.as_raw())).unwrap_or_default();
    // A zombie (state Z) is as good as gone.
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    comm.trim() == "postgres" && !zombie
}

pub(super) fn log_tail(path: &Path) -> String {
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

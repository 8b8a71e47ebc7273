//! A Patroni cluster on loopback for the failover tests: one etcd member and three PostgreSQL
//! nodes, each managed by its own Patroni with the reference configuration of `deploy/ha/`
//! (only the paths and ports differ), in a temporary folder. PostgreSQL refuses root, so when
//! the tests run as root Patroni runs as the `postgres` user. The benchmark's `--patroni` mode
//! uses this file too (`benches/limits/ha.rs`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const OWNER_PASSWORD: &str = "owner-secret";
pub const APP_PASSWORD: &str = "app-secret";

pub struct Node {
    pub name: String,
    pub pg_port: u16,
    pub rest_port: u16,
    pub data_dir: PathBuf,
    home: PathBuf,
    patroni: Option<Child>,
}

pub struct Cluster {
    dir: PathBuf,
    config: PathBuf,
    bin_dir: PathBuf,
    etcd: Child,
    etcd_port: u16,
    pub nodes: Vec<Node>,
}

/// A member as Patroni's REST API lists it.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub role: String,
    pub state: String,
    pub timeline: Option<i64>,
}

impl Cluster {
    /// Starts etcd and the three nodes, and waits for a leader and a synchronous standby.
    pub fn start() -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "iap-credits-ha-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let postgres = run_as();
        set_mode(&dir, 0o755);

        // The reference configuration, with the post-bootstrap script where this test put it
        // and the socket folder of its own.
        let script = dir.join("post-bootstrap.sh");
        std::fs::copy(repo("deploy/ha/post-bootstrap.sh"), &script).unwrap();
        set_mode(&script, 0o755);
        let config = std::fs::read_to_string(repo("deploy/ha/patroni.yml"))
            .unwrap()
            .replace(
                "/usr/local/lib/iap-credits/post-bootstrap.sh",
                script.to_str().unwrap(),
            );
        assert!(config.contains(script.to_str().unwrap()));
        let config_path = dir.join("patroni.yml");
        std::fs::write(&config_path, config).unwrap();
        set_mode(&config_path, 0o644);

        let etcd_port = free_port();
        let peer_port = free_port();
        let etcd_log = std::fs::File::create(dir.join("etcd.log")).unwrap();
        let etcd = Command::new("etcd")
            .args([
                "--name=e1",
                &format!("--data-dir={}", dir.join("etcd").display()),
                &format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"),
                &format!("--advertise-client-urls=http://127.0.0.1:{etcd_port}"),
                &format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
                &format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"),
                &format!("--initial-cluster=e1=http://127.0.0.1:{peer_port}"),
            ])
            .stdout(Stdio::null())
            .stderr(etcd_log)
            .spawn()
            .expect("etcd (Debian package etcd-server) must be installed");
        wait_for("etcd", Duration::from_secs(30), || {
            http(etcd_port, "GET", "/health", "").is_some_and(|(status, _)| status == 200)
        });

        let nodes = (1..=3)
            .map(|n| {
                let home = dir.join(format!("n{n}"));
                std::fs::create_dir_all(&home).unwrap();
                if let Some((uid, gid)) = postgres {
                    std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
                }
                set_mode(&home, 0o700);
                Node {
                    name: format!("n{n}"),
                    pg_port: free_port(),
                    rest_port: free_port(),
                    data_dir: home.join("data"),
                    home,
                    patroni: None,
                }
            })
            .collect();
        let mut cluster = Cluster {
            dir,
            config: config_path,
            bin_dir: pg_bin_dir(),
            etcd,
            etcd_port,
            nodes,
        };
        // The first node makes the cluster; the others clone it once it is up.
        let started = Instant::now();
        cluster.start_node("n1");
        cluster.wait_for_leader(Duration::from_secs(90));
        eprintln!("patroni: a leader after {:?}", started.elapsed());
        cluster.start_node("n2");
        cluster.start_node("n3");
        cluster.wait_healthy(3, Duration::from_secs(120));
        eprintln!(
            "patroni: three members and a synchronous standby after {:?}",
            started.elapsed()
        );
        cluster
    }

    /// Starts (or restarts) the Patroni of node `name`.
    pub fn start_node(&mut self, name: &str) {
        let (config, bin_dir, etcd_port) =
            (self.config.clone(), self.bin_dir.clone(), self.etcd_port);
        let node = self.node_mut(name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.home.join("patroni.log"))
            .unwrap();
        let mut command = Command::new("patroni");
        command
            .arg(&config)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &node.home)
            .env("LC_ALL", "C.UTF-8")
            .env("PATRONI_NAME", &node.name)
            .env("PATRONI_ETCD3_HOSTS", format!("127.0.0.1:{etcd_port}"))
            .env(
                "PATRONI_RESTAPI_LISTEN",
                format!("127.0.0.1:{}", node.rest_port),
            )
            .env(
                "PATRONI_RESTAPI_CONNECT_ADDRESS",
                format!("127.0.0.1:{}", node.rest_port),
            )
            .env(
                "PATRONI_POSTGRESQL_LISTEN",
                format!("127.0.0.1:{}", node.pg_port),
            )
            .env(
                "PATRONI_POSTGRESQL_CONNECT_ADDRESS",
                format!("127.0.0.1:{}", node.pg_port),
            )
            .env("PATRONI_POSTGRESQL_DATA_DIR", &node.data_dir)
            .env("PATRONI_POSTGRESQL_BIN_DIR", &bin_dir)
            .env("PATRONI_POSTGRESQL_PGPASS", node.home.join("pgpass"))
            .env("PATRONI_SUPERUSER_PASSWORD", "superuser-secret")
            .env("PATRONI_REPLICATION_PASSWORD", "replication-secret")
            .env("PATRONI_REWIND_PASSWORD", "rewind-secret")
            .env("IAP_OWNER_PASSWORD", OWNER_PASSWORD)
            .env("IAP_APP_PASSWORD", APP_PASSWORD)
            .current_dir(&node.home)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some((uid, gid)) = run_as() {
            command.uid(uid).gid(gid);
        }
        node.patroni = Some(
            command
                .spawn()
                .expect("patroni (Debian package) must be installed"),
        );
    }

    fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.name == name).unwrap()
    }

    pub fn node(&self, name: &str) -> &Node {
        self.nodes.iter().find(|n| n.name == name).unwrap()
    }

    /// The members, as any node that answers lists them.
    pub fn members(&self) -> Vec<Member> {
        for node in &self.nodes {
            let Some((200, body)) = http(node.rest_port, "GET", "/cluster", "") else {
                continue;
            };
            let Ok(cluster) = serde_json::from_str::<Value>(&body) else {
                continue;
            };
            return cluster["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| Member {
                    name: m["name"].as_str().unwrap_or_default().to_string(),
                    role: m["role"].as_str().unwrap_or_default().to_string(),
                    state: m["state"].as_str().unwrap_or_default().to_string(),
                    timeline: m["timeline"].as_i64(),
                })
                .collect();
        }
        Vec::new()
    }

    pub fn leader(&self) -> Option<Member> {
        self.members()
            .into_iter()
            .find(|m| m.role == "leader" && m.state == "running")
    }

    pub fn wait_for_leader(&self, within: Duration) -> Member {
        wait_for("a Patroni leader", within, || self.leader().is_some());
        self.leader().unwrap()
    }

    /// Waits for a running leader, a synchronous standby on its timeline, and `members`
    /// running members in all.
    pub fn wait_healthy(&self, members: usize, within: Duration) {
        wait_for(
            &format!("{members} members with a leader and a synchronous standby"),
            within,
            || {
                let all = self.members();
                let Some(leader) = all.iter().find(|m| m.role == "leader") else {
                    return false;
                };
                let running = all
                    .iter()
                    .filter(|m| m.state == "running" || m.state == "streaming")
                    .filter(|m| m.role == "leader" || m.timeline == leader.timeline)
                    .count();
                let sync = all.iter().any(|m| {
                    m.role == "sync_standby"
                        && (m.state == "running" || m.state == "streaming")
                        && m.timeline == leader.timeline
                });
                leader.state == "running" && sync && running >= members
            },
        );
    }

    /// `kill -9` of the leader's postmaster and of its Patroni, as a machine dies; returns the
    /// node's name.
    pub fn kill_leader(&mut self) -> String {
        let leader = self.leader().expect("a leader to kill").name;
        let node = self.node_mut(&leader);
        let postmaster = postmaster_pid(&node.data_dir).expect("the leader's postmaster.pid");
        if let Some(mut patroni) = node.patroni.take() {
            let _ = patroni.kill();
            let _ = patroni.wait();
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(postmaster),
            nix::sys::signal::Signal::SIGKILL,
        );
        leader
    }

    /// Asks the leader to hand over to `candidate` (what `patronictl switchover` does).
    pub fn switchover(&self, candidate: &str) {
        let leader = self.leader().expect("a leader");
        let body = format!(
            r#"{{"leader": "{}", "candidate": "{candidate}"}}"#,
            leader.name
        );
        let port = self.node(&leader.name).rest_port;
        let answer = http(port, "POST", "/switchover", &body);
        assert!(
            answer.as_ref().is_some_and(|(status, _)| *status == 200),
            "switchover refused: {answer:?}"
        );
    }

    /// Turns synchronous replication on or off for the whole cluster (what
    /// `patronictl edit-config` does), and waits until the cluster runs that way.
    #[allow(dead_code)] // the benchmark's
    pub fn set_synchronous(&self, on: bool) {
        let leader = self.leader().expect("a leader");
        let body = format!(r#"{{"synchronous_mode": {on}}}"#);
        let answer = http(self.node(&leader.name).rest_port, "PATCH", "/config", &body);
        assert!(
            answer.as_ref().is_some_and(|(status, _)| *status == 200),
            "config refused: {answer:?}"
        );
        wait_for(
            "the synchronous mode to change",
            Duration::from_secs(60),
            || self.members().iter().any(|m| m.role == "sync_standby") == on,
        );
    }

    /// A node's own address, to reach it alone.
    pub fn node_url(&self, name: &str, user: &str, password: &str, database: &str) -> String {
        let port = self.node(name).pg_port;
        format!("postgresql://{user}:{password}@127.0.0.1:{port}/{database}")
    }

    /// The URL of every node for `user`: libpq finds the one that takes writes.
    pub fn url(&self, user: &str, password: &str, attrs: &str) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.pg_port))
            .collect();
        format!(
            "postgresql://{user}:{password}@{}/iap_credits?target_session_attrs={attrs}&connect_timeout=2",
            hosts.join(",")
        )
    }

    /// Waits until every running node has replayed the app's roles and database: libpq does
    /// not move on to the next host on "database does not exist".
    pub fn wait_replicated(&self) {
        use diesel::Connection;
        wait_for(
            "the app's database on every node",
            Duration::from_secs(60),
            || {
                self.nodes.iter().all(|n| {
                    diesel::PgConnection::establish(&self.node_url(
                        &n.name,
                        "iap_app",
                        APP_PASSWORD,
                        "iap_credits",
                    ))
                    .is_ok()
                })
            },
        );
    }

    /// What a node's Patroni wrote, for a failure's message.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let log = std::fs::read_to_string(n.home.join("patroni.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                format!(
                    "--- {}:\n{}",
                    n.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut patroni) = node.patroni.take() {
                let _ = patroni.kill();
                let _ = patroni.wait();
            }
            if let Some(pid) = postmaster_pid(&node.data_dir) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let _ = self.etcd.kill();
        let _ = self.etcd.wait();
        // The postmasters' children go with their parent; give them a moment.
        std::thread::sleep(Duration::from_millis(300));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nothing listens on now. (This file is also the benchmark's, so it has its own.)
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The `postgres` user's ids when this runs as root.
fn run_as() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let user = nix::unistd::User::from_name("postgres")
        .unwrap()
        .expect("a postgres system user (the Debian postgresql package makes it)");
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

/// The newest PostgreSQL server binaries here.
fn pg_bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries in /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("a PostgreSQL version with a postgres binary")
}

fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

pub fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One plain HTTP/1.0 call to a loopback port: `(status, body)`, or `None` when nothing
/// answers.
pub fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((status, body.to_string()))
}

//! `cargo bench --bench limits -- --patroni`: the charge bench on the Patroni cluster of
//! `deploy/ha/` (three PostgreSQL nodes and etcd on loopback, `tests/it/patroni.rs`), against the
//! same bench on one node, in one run:
//! 1. charges/s, 32 clients over 20 accounts: the app on the embedded single node; on the
//!    cluster with synchronous replication (the reference setting); on the same cluster with it
//!    turned off, which isolates what the synchronous standby costs;
//! 2. the failover: 16 clients charging with Idempotency-Keys (retrying on 503 with the same
//!    key) while the primary's postmaster and Patroni are killed: the time from the kill to the
//!    first 201, the longest gap, the 503s, and the acknowledged charges lost or doubled (0).

use std::collections::HashSet;

use super::*;
use crate::keyed_load;
use crate::patroni::{APP_PASSWORD, Cluster, OWNER_PASSWORD};

/// Clients of the failover phase (as the failover test).
const FAILOVER_CLIENTS: usize = 16;

pub fn run(duration: Duration) {
    println!(
        "charges on one node and on the Patroni cluster, {CLIENTS} clients over {SPREAD_ACCOUNTS} accounts, {} s a run",
        duration.as_secs()
    );
    let requests = Arc::new(AtomicU64::new(0));

    // 1a. One node: the app on its embedded PostgreSQL.
    let one_node = {
        let data = std::env::temp_dir().join(format!("iap-bench-one-{}", std::process::id()));
        std::fs::create_dir_all(&data).unwrap();
        let port = free_port();
        let server = start_server(&data, port).0;
        let pg =
            EmbeddedPostgres::start(&LaunchOptions::new(&data, None)).expect("join the cluster");
        let mut conn = PgConnection::establish(&pg.database_url(APP_DATABASE)).unwrap();
        let (spread, _) = charge_accounts(&mut conn);
        let url = format!("http://127.0.0.1:{port}/api/v1/charges");
        drive_http(&url, &spread.tokens, WARM_UP, &requests);
        let run = drive_http(&url, &spread.tokens, duration, &requests);
        drop(server);
        drop(pg);
        let _ = std::fs::remove_dir_all(&data);
        run
    };

    // 1b. The cluster, synchronous replication on, then off.
    let mut cluster = Cluster::start();
    cluster.wait_replicated();
    let data = std::env::temp_dir().join(format!("iap-bench-ha-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = start_on_cluster(&cluster, &data, port);
    let owner_url = cluster.url("iap_owner", OWNER_PASSWORD, "read-write");
    let mut conn = PgConnection::establish(&owner_url).unwrap();
    let (spread, _) = charge_accounts(&mut conn);
    let url = format!("{base}/api/v1/charges");
    drive_http(&url, &spread.tokens, WARM_UP, &requests);
    let synchronous = drive_http(&url, &spread.tokens, duration, &requests);
    cluster.set_synchronous(false);
    let asynchronous = drive_http(&url, &spread.tokens, duration, &requests);
    cluster.set_synchronous(true);
    cluster.wait_healthy(3, Duration::from_secs(60));

    // 2. The failover.
    let charged_before = charge_rows(&mut conn, &spread.ids);
    drop(conn);
    let failover = drive_through_failover(&base, &spread.tokens, &mut cluster);
    let mut conn = PgConnection::establish(&owner_url).unwrap();
    let (lost, doubled) = lost_and_doubled(&mut conn, &spread.ids, charged_before, &failover.acked);

    println!();
    println!("charges/s                                   rate       p50 ms    p99 ms   errors");
    for (name, run) in [
        ("one node (embedded)", &one_node),
        ("cluster, synchronous standby", &synchronous),
        ("cluster, asynchronous", &asynchronous),
    ] {
        println!(
            "  {name:<40} {:>7.0}/s  {:>8.1}  {:>8.1}  {:>7}",
            run.rate, run.p50, run.p99, run.errors
        );
    }
    println!(
        "  synchronous cluster vs one node: {:.2}x; vs asynchronous: {:.2}x",
        synchronous.rate / one_node.rate,
        synchronous.rate / asynchronous.rate
    );
    println!();
    println!(
        "failover (kill -9 of the primary's postmaster and Patroni, {FAILOVER_CLIENTS} clients with Idempotency-Keys):"
    );
    println!("  {} → {}", failover.old_leader, failover.new_leader);
    println!(
        "  kill → first charge answered 201: {:.1} s; longest gap between 201s: {:.1} s",
        failover.first_success.as_secs_f64(),
        failover.longest_gap.as_secs_f64()
    );
    println!(
        "  {} charges acknowledged, {} answers 503, {} other 5xx, {} unanswered; lost {lost}, doubled {doubled}",
        failover.acked.len(),
        failover.unavailable,
        failover.other_5xx,
        failover.unanswered
    );
    assert_eq!(
        (lost, doubled, failover.other_5xx),
        (0, 0, 0),
        "the failover lost, doubled or failed charges"
    );
    drop(server);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&data);
}

/// The app on the cluster's multi-host URLs.
fn start_on_cluster(cluster: &Cluster, data: &Path, port: u16) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_iap-credits"));
    command
        .env(
            "DATABASE_URL",
            cluster.url("iap_owner", OWNER_PASSWORD, "read-write"),
        )
        .env(
            "DATABASE_APP_URL",
            cluster.url("iap_app", APP_PASSWORD, "read-write"),
        )
        .env("IAP_DATA_DIR", data)
        .env("IAP_SECRET_KEY", "b".repeat(64))
        .env("IAP_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "error");
    run_until_serving(command)
}

fn charge_rows(conn: &mut PgConnection, ids: &[i64]) -> i64 {
    use iap_credits::platform::schema::ledger_entries;
    ledger_entries::table
        .filter(
            ledger_entries::account_id.eq_any(
                ids.iter()
                    .map(|id| iap_credits::kernel::ids::AccountId(*id)),
            ),
        )
        .filter(ledger_entries::kind.eq("charge"))
        .count()
        .get_result(conn)
        .unwrap()
}

/// Acknowledged charges missing from the ledger, and charge rows beyond those acknowledged.
fn lost_and_doubled(
    conn: &mut PgConnection,
    ids: &[i64],
    before: i64,
    acked: &[i64],
) -> (usize, i64) {
    use iap_credits::platform::schema::ledger_entries;
    let found: HashSet<i64> = acked
        .chunks(10_000)
        .flat_map(|chunk| {
            ledger_entries::table
                .filter(ledger_entries::id.eq_any(chunk))
                .select(ledger_entries::id)
                .load::<i64>(conn)
                .unwrap()
        })
        .collect();
    let lost = acked.iter().filter(|id| !found.contains(id)).count();
    let doubled = charge_rows(conn, ids) - before - acked.len() as i64;
    (lost, doubled)
}

struct Failover {
    old_leader: String,
    new_leader: String,
    first_success: Duration,
    longest_gap: Duration,
    acked: Vec<i64>,
    unavailable: usize,
    other_5xx: usize,
    unanswered: usize,
}

/// The failover test's keyed clients (`keyed_load`) while the primary is killed 3 s in; they go
/// on 4 s past the promotion.
fn drive_through_failover(base: &str, tokens: &[String], cluster: &mut Cluster) -> Failover {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (stop, bases, tokens) = (stop.clone(), vec![base.to_string()], tokens.to_vec());
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(keyed_load::charge_under_load(
                bases,
                tokens,
                FAILOVER_CLIENTS,
                "failover",
                stop,
            ))
        })
    };
    std::thread::sleep(Duration::from_secs(3));
    let killed_at = Instant::now();
    let old_leader = cluster.kill_leader();
    let deadline = Instant::now() + Duration::from_secs(60);
    let new_leader = loop {
        if let Some(leader) = cluster.leader().filter(|l| l.name != old_leader) {
            break leader.name;
        }
        assert!(Instant::now() < deadline, "no new leader within a minute");
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::Relaxed);
    let load = load.join().unwrap();
    Failover {
        old_leader,
        new_leader,
        first_success: load.first_success_after(killed_at).unwrap_or_default(),
        longest_gap: load.longest_gap_around(killed_at),
        acked: load.acked.iter().map(|(_, id, _, _)| *id).collect(),
        unavailable: load.unavailable,
        other_5xx: load
            .wrong
            .iter()
            .filter(|(status, _)| *status >= 500)
            .count(),
        unanswered: load.unanswered + load.timeouts,
    }
}

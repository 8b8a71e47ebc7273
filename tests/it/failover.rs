//! Losing the database server: a Patroni cluster (`deploy/ha/`) whose primary is killed, then
//! switched over, under load from 16 clients, with two app instances on the multi-host URL.
//! Every charge answered 201 is in the ledger once, nothing answered a 5xx but 503 (with
//! `Retry-After`), a checkout and an alert crossing the failover take effect once, and the
//! old primary comes back as a standby.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use iap_credits::domain::tenancy::Subscription;
use iap_credits::kernel::credits::Credits;
use serde_json::Value;

use crate::fixtures::{Customer, c, reload};
use crate::instances::{
    Instances, Jar, get, ledger_rows, order_starter_pack, pay_with_test_card, sign_in,
    start_instances_with,
};
use crate::keyed_load::{CLIENT_TIMEOUT, Load, charge_under_load, charge_until_answered};
use crate::mail::warn_me;
use crate::patroni::{APP_PASSWORD, Cluster, OWNER_PASSWORD};
use crate::smtp_sink::SmtpSink;

/// The owner's connection to whichever node is the primary now.
fn primary(cluster: &Cluster) -> PgConnection {
    let url = cluster.url("iap_owner", OWNER_PASSWORD, "read-write");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match PgConnection::establish(&url) {
            Ok(conn) => return conn,
            Err(e) => assert!(Instant::now() < deadline, "no primary: {e}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every charge answered 201 is one ledger row of the account, and the balance is the start
/// less exactly those charges.
fn assert_nothing_lost_or_doubled(
    conn: &mut PgConnection,
    account: &iap_credits::domain::ledger::IapAccount,
    start: Credits,
    load: &Load,
    charged_before: i64,
) {
    use iap_credits::platform::schema::ledger_entries;
    assert!(
        load.wrong.is_empty(),
        "answers other than 201 or 503: {:?}",
        load.wrong
    );
    assert_eq!(load.without_retry_after, 0, "503s without Retry-After");
    assert_eq!(
        load.timeouts, 0,
        "requests that waited past {CLIENT_TIMEOUT:?}"
    );
    let ids: Vec<i64> = load.acked.iter().map(|(_, id, _, _)| *id).collect();
    let found: i64 = ledger_entries::table
        .filter(ledger_entries::id.eq_any(&ids))
        .filter(ledger_entries::account_id.eq(account.id))
        .count()
        .get_result(conn)
        .unwrap();
    assert_eq!(
        found as usize,
        ids.len(),
        "acknowledged charges missing from the ledger"
    );
    let charges = ledger_rows(conn, account.id, "charge") - charged_before;
    assert_eq!(
        charges as usize,
        ids.len(),
        "charges in the ledger not acknowledged once"
    );
    let acked = Credits::from_units(ids.len() as i64 * 10_000);
    assert_eq!(
        reload(conn, account.id).balance,
        Credits::from_units(start.units() - acked.units())
    );
}

fn verify_ledger(cluster: &Cluster) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .arg("verify-ledger")
        .env(
            "DATABASE_URL",
            cluster.url("iap_owner", OWNER_PASSWORD, "read-write"),
        )
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("consistent"),
        "{said}"
    );
}

/// The app on the cluster: two instances on the multi-host URLs, as a deployment runs them.
fn start_app(cluster: &Cluster, sink: &SmtpSink) -> Instances {
    let env = [
        (
            "DATABASE_URL",
            cluster.url("iap_owner", OWNER_PASSWORD, "read-write"),
        ),
        (
            "DATABASE_APP_URL",
            cluster.url("iap_app", APP_PASSWORD, "read-write"),
        ),
        (
            "DATABASE_READ_URL",
            cluster.url("iap_app", APP_PASSWORD, "prefer-standby"),
        ),
        ("SMTP_URL", sink.url()),
    ];
    start_instances_with(2, None, &env)
}

#[test]
fn the_primary_dies_under_load_and_no_acknowledged_charge_is_lost_or_doubled() {
    let mut cluster = Cluster::start();
    cluster.wait_replicated();
    let sink = SmtpSink::start();
    let instances = start_app(&cluster, &sink);
    let bases = instances.bases.clone();
    let public = instances.public.clone();

    let mut conn = primary(&cluster);
    let shop = Customer::named(&mut conn, "Failover Shop", Subscription::None);
    let busy = shop.funded(&mut conn, "sms", "100000");
    let watched = Customer::new(&mut conn, Subscription::None).funded(&mut conn, "sms", "100");
    warn_me(&mut conn, watched.id, true, "50", "alerts@failover.test");
    let buyer = Customer::named(&mut conn, "Failover Buyer", Subscription::None);
    let bought = buyer.funded(&mut conn, "sms", "1");
    drop(conn);

    actix_web::rt::System::new().block_on(async {
        // A checkout page opened before the failover, paid during it.
        let jar = Jar::default();
        let signed_in = sign_in(&bases[0], &public, &jar, "admin@failover-buyer.test").await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        let checkout = order_starter_pack(&bases[0], &bases[0], &public, &jar, bought.id).await;
        let checkout_form = get(&bases[1], &checkout, &jar).await;

        // 1. Kill the primary (its postmaster and its Patroni) under load.
        let stop = Arc::new(AtomicBool::new(false));
        let load = actix_web::rt::spawn(charge_under_load(
            bases.clone(),
            vec![busy.token.clone()],
            16,
            "kill",
            stop.clone(),
        ));
        actix_web::rt::time::sleep(Duration::from_secs(3)).await;
        // An alert crossing: the charge that crosses the threshold, sent as the primary dies.
        let crossing = {
            let (bases, token) = (bases.clone(), watched.token.clone());
            actix_web::rt::spawn(async move {
                let client = awc::Client::builder().timeout(CLIENT_TIMEOUT).finish();
                let mut load = Load::default();
                charge_until_answered(&client, &bases, &token, "cross", "60", &mut load).await
            })
        };
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        let killed_at = Instant::now();
        let old_leader = cluster.kill_leader();
        // The checkout's payment, posted while there is no primary, and posted again on a
        // 503 as the page asks.
        let payment = {
            let (bases, public, jar, checkout, csrf) = (
                bases.clone(),
                public.clone(),
                jar.clone(),
                checkout.clone(),
                checkout_form.csrf(),
            );
            actix_web::rt::spawn(async move {
                let mut statuses = Vec::new();
                loop {
                    let paid = pay_with_test_card(
                        &bases[statuses.len() % 2],
                        &public,
                        &checkout,
                        &jar,
                        &csrf,
                    )
                    .await;
                    statuses.push(paid.status);
                    if paid.status != 503 {
                        return (statuses, paid.body);
                    }
                    assert!(paid.body.contains("switching over"), "{}", paid.body);
                    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
                }
            })
        };
        // While there is no primary: /readyz, pages and Odoo's protocol say so, with when to
        // come back.
        let unready = web_wait_async(|| {
            let base = bases[0].clone();
            async move {
                let r = awc::Client::default()
                    .get(format!("{base}/readyz"))
                    .send()
                    .await
                    .ok()?;
                (r.status() == 503).then(|| r.headers().get("retry-after").cloned())
            }
        })
        .await;
        assert!(
            unready.is_some(),
            "/readyz answered 503 without Retry-After"
        );
        let mut page = awc::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .finish()
            .get(format!("{}/iap/accounts", bases[1]))
            .insert_header(("Cookie", jar.header()))
            .send()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&page.body().await.unwrap()).into_owned();
        assert_eq!(page.status().as_u16(), 503, "{text}");
        assert!(page.headers().contains_key("retry-after"));
        assert!(text.contains("switching over"), "{text}");
        let mut odoo = awc::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .finish()
            .post(format!("{}/iap/1/balance", bases[0]))
            .send_json(
                &serde_json::json!({"jsonrpc": "2.0", "method": "call", "id": 1,
                "params": {"account_token": busy.token, "service_name": "sms",
                           "dbuuid": "8e2b6c4a-1d2f-11ef-9a3b-0242ac120002"}}),
            )
            .await
            .unwrap();
        assert!(odoo.headers().contains_key("retry-after"));
        let envelope: Value = odoo.json().await.unwrap();
        assert_eq!(
            envelope["error"]["data"]["name"], "odoo.exceptions.UserError",
            "{envelope}"
        );
        assert!(
            envelope["error"]["data"]["message"]
                .as_str()
                .unwrap()
                .contains("switching over"),
            "{envelope}"
        );
        let new_leader = web_wait(|| cluster.leader().filter(|l| l.name != old_leader)).await;
        // Load goes on for a while on the new primary.
        actix_web::rt::time::sleep(Duration::from_secs(4)).await;
        stop.store(true, Ordering::Relaxed);
        let load = load.await.unwrap();
        let first = load.first_success_after(killed_at);
        eprintln!(
            "failover: {} → {}; kill → first charge answered 201: {first:?}; longest gap {:?}; \
             {} charges acknowledged, {} answered 503, {} unanswered",
            old_leader,
            new_leader.name,
            load.longest_gap_around(killed_at),
            load.acked.len(),
            load.unavailable,
            load.unanswered,
        );
        assert!(
            first.is_some(),
            "no charge succeeded after the kill: {load:?}\n{}",
            cluster.logs()
        );
        let mut conn = primary(&cluster);
        assert_nothing_lost_or_doubled(&mut conn, &busy, c("100000"), &load, 0);

        // The checkout: credited once, whatever its 503s.
        let (statuses, body) = payment.await.unwrap();
        assert!(
            statuses.last().is_some_and(|s| *s < 400),
            "{statuses:?}: {body}"
        );
        eprintln!("checkout across the failover: answered {statuses:?}");
        assert_eq!(ledger_rows(&mut conn, bought.id, "purchase"), 1);
        assert_eq!(reload(&mut conn, bought.id).balance, c("11"));

        // The crossing charge: charged once, one alert email.
        let crossed = crossing.await.unwrap();
        assert_eq!(crossed.as_ref().map(|(s, _)| *s), Some(201), "{crossed:?}");
        assert_eq!(reload(&mut conn, watched.id).balance, c("40"));
        let alerts = || {
            sink.received()
                .into_iter()
                .filter(|m| m.rcpt_tos.iter().any(|r| r == "alerts@failover.test"))
                .count()
        };
        let deadline = Instant::now() + Duration::from_secs(40);
        while alerts() == 0 {
            assert!(Instant::now() < deadline, "no alert was sent");
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        }
        // Both instances' mail workers have looked at the outbox again since.
        actix_web::rt::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(alerts(), 1);
        drop(conn);

        // 2. The old primary comes back, rewound, as a standby.
        let back_at = Instant::now();
        cluster.start_node(&old_leader);
        web_wait(|| {
            cluster
                .members()
                .into_iter()
                .find(|m| m.name == old_leader)
                .filter(|m| {
                    m.state == "running"
                        && m.role != "leader"
                        && m.timeline.is_some()
                        && m.timeline == cluster.leader().and_then(|l| l.timeline)
                })
        })
        .await;
        cluster.wait_healthy(3, Duration::from_secs(60));
        eprintln!(
            "old primary {old_leader} a standby again after {:?}",
            back_at.elapsed()
        );

        // 3. A planned switchover under the same load.
        let before = {
            let mut conn = primary(&cluster);
            (
                reload(&mut conn, busy.id).balance,
                ledger_rows(&mut conn, busy.id, "charge"),
            )
        };
        let stop = Arc::new(AtomicBool::new(false));
        let load = actix_web::rt::spawn(charge_under_load(
            bases.clone(),
            vec![busy.token.clone()],
            16,
            "switch",
            stop.clone(),
        ));
        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
        let leader = cluster.leader().unwrap().name;
        let candidate = cluster
            .members()
            .into_iter()
            .find(|m| m.role == "sync_standby")
            .unwrap()
            .name;
        let switched_at = Instant::now();
        cluster.switchover(&candidate);
        web_wait(|| cluster.leader().filter(|l| l.name == candidate)).await;
        actix_web::rt::time::sleep(Duration::from_secs(4)).await;
        stop.store(true, Ordering::Relaxed);
        let load = load.await.unwrap();
        eprintln!(
            "switchover {leader} → {candidate}: first charge answered 201 after {:?}; longest \
             gap {:?}; {} acknowledged, {} answered 503, {} unanswered",
            load.first_success_after(switched_at),
            load.longest_gap_around(switched_at),
            load.acked.len(),
            load.unavailable,
            load.unanswered,
        );
        let mut conn = primary(&cluster);
        assert_nothing_lost_or_doubled(&mut conn, &busy, before.0, &load, before.1);
        cluster.wait_healthy(3, Duration::from_secs(60));
    });
    verify_ledger(&cluster);
    drop(instances);
}

/// `web_wait` for an async probe.
async fn web_wait_async<T, F: std::future::Future<Output = Option<T>>>(
    mut found: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = found().await {
            return value;
        }
        assert!(Instant::now() < deadline, "waited a minute");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `found` every 200 ms for up to a minute, without blocking the clients' runtime.
async fn web_wait<T>(mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(Instant::now() < deadline, "waited a minute");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

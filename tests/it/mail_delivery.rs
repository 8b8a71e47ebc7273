//! Delivering the outbox: SMTP outages with back-off, permanent refusals, two workers on one
//! outbox, the .eml file transport, messages that cannot be composed, bad mail settings.

use std::sync::{Arc, Barrier};

use chrono::{SubsecRound, Utc};
use diesel::prelude::*;
use iap_credits::domain::catalog;
use iap_credits::domain::mail::Mailer;
use iap_credits::domain::mail::outbox::{self, DeliveryRun, EmailStatus};
use iap_credits::domain::orders;
use iap_credits::domain::payments::Card;
use iap_credits::domain::payments::MockProvider;
use iap_credits::domain::tenancy::{self, Role};
use iap_credits::platform::schema::users;

use crate::harness::{TestDb, scratch_dir};
use crate::mail::{
    BASE, FROM, charge, database_name, deliver, outbox_of, smtp_mailer, warn_me, watched_account,
};
use crate::smtp_sink::SmtpSink;

#[test]
fn smtp_down_the_alert_waits_and_is_delivered_once_when_it_is_back() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let mut sink = SmtpSink::start();
    sink.stop();
    let mailer = smtp_mailer(&sink);
    let account = watched_account(&mut conn, "60", "50");
    charge(&mut conn, account.id, "20");

    let first_try = Utc::now().trunc_subsecs(6); // PostgreSQL keeps microseconds
    let run = outbox::deliver_due(&mut conn, &mailer, first_try, 100).unwrap();
    assert_eq!(run.deferred, 1);
    let waiting = &outbox_of(&mut conn, account.id)[0];
    assert_eq!(
        (waiting.status, waiting.attempts),
        (EmailStatus::Pending, 1)
    );
    assert!(waiting.last_error.is_some());
    assert_eq!(waiting.next_attempt_at - first_try, outbox::retry_delay(1));

    sink.resume();
    // Not due yet: nothing happens before the back-off has passed.
    assert_eq!(deliver(&mut conn, &mailer), DeliveryRun::default());
    let later = first_try + outbox::retry_delay(1);
    let run = outbox::deliver_due(&mut conn, &mailer, later, 100).unwrap();
    assert_eq!(run.sent, 1);
    let again = outbox::deliver_due(&mut conn, &mailer, later + outbox::retry_delay(5), 100);
    assert_eq!(again.unwrap(), DeliveryRun::default());
    assert_eq!(sink.received().len(), 1);
    let sent = &outbox_of(&mut conn, account.id)[0];
    assert_eq!((sent.status, sent.attempts), (EmailStatus::Sent, 2));
    assert_eq!(sent.last_error, None);
}

#[test]
fn retries_back_off_and_end_failed_for_the_operator() {
    assert_eq!(outbox::retry_delay(1).num_seconds(), 30);
    assert_eq!(outbox::retry_delay(2).num_seconds(), 60);
    assert_eq!(outbox::retry_delay(5).num_seconds(), 480);
    assert_eq!(outbox::retry_delay(8).num_seconds(), 3600);
    assert_eq!(outbox::retry_delay(100).num_seconds(), 3600);

    let db = TestDb::new();
    let mut conn = db.conn();
    let mut sink = SmtpSink::start();
    sink.stop();
    let mailer = smtp_mailer(&sink);
    let account = watched_account(&mut conn, "60", "50");
    charge(&mut conn, account.id, "20");
    let mut now = Utc::now();
    for _ in 0..outbox::MAX_ATTEMPTS {
        outbox::deliver_due(&mut conn, &mailer, now, 100).unwrap();
        now += outbox::retry_delay(outbox::MAX_ATTEMPTS);
    }
    let failed = &outbox_of(&mut conn, account.id)[0];
    assert_eq!(
        (failed.status, failed.attempts),
        (EmailStatus::Failed, outbox::MAX_ATTEMPTS)
    );
    assert!(failed.last_error.is_some());
    let listed = outbox::list(&mut conn, Some(EmailStatus::Failed), 10).unwrap();
    assert_eq!(listed.len(), 1);

    // The operator fixes SMTP and queues it again.
    sink.resume();
    assert!(outbox::retry_failed(&mut conn, failed.id).unwrap());
    assert!(
        !outbox::retry_failed(&mut conn, failed.id).unwrap(),
        "no longer failed"
    );
    assert_eq!(deliver(&mut conn, &mailer).sent, 1);
    assert_eq!(sink.received().len(), 1);
}

#[test]
fn a_refused_recipient_fails_at_once_without_retries() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let sink = SmtpSink::start_rejecting("nobody");
    let account = watched_account(&mut conn, "60", "50");
    warn_me(&mut conn, account.id, true, "50", "nobody@customer.test");
    charge(&mut conn, account.id, "20");
    let run = deliver(&mut conn, &smtp_mailer(&sink));
    assert_eq!(run.failed, 1);
    let failed = &outbox_of(&mut conn, account.id)[0];
    assert_eq!((failed.status, failed.attempts), (EmailStatus::Failed, 1));
    assert!(
        failed.last_error.as_deref().unwrap().contains("550"),
        "{failed:?}"
    );
    assert!(sink.received().is_empty());
}

#[test]
fn two_workers_never_send_the_same_message() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let sink = SmtpSink::start();
    let accounts: Vec<_> = (0..12)
        .map(|_| watched_account(&mut conn, "60", "50"))
        .collect();
    for account in &accounts {
        charge(&mut conn, account.id, "20");
    }
    let barrier = Arc::new(Barrier::new(2));
    let runs: Vec<DeliveryRun> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (barrier, db, sink) = (barrier.clone(), &db, &sink);
                s.spawn(move || {
                    let mut conn = db.conn();
                    barrier.wait();
                    deliver(&mut conn, &smtp_mailer(sink))
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(runs.iter().map(|r| r.sent).sum::<usize>(), 12, "{runs:?}");
    let mut ids: Vec<_> = sink.received().into_iter().map(|m| m.message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12);
}

/// An SMTP server that accepts a connection and says nothing until told to hang up: a worker
/// talking to it is mid-send for as long as the test likes.
struct StallingSmtp {
    port: u16,
    connected: std::sync::mpsc::Receiver<()>,
    hang_up: std::sync::mpsc::Sender<()>,
}

impl StallingSmtp {
    fn start() -> StallingSmtp {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (connected_tx, connected) = std::sync::mpsc::channel();
        let (hang_up, hang_up_rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let _ = connected_tx.send(());
            let _ = hang_up_rx.recv();
            drop(stream);
        });
        StallingSmtp {
            port,
            connected,
            hang_up,
        }
    }

    fn mailer(&self) -> Mailer {
        Mailer::smtp(&format!("smtp://127.0.0.1:{}", self.port), FROM, BASE).unwrap()
    }
}

#[test]
fn a_slow_smtp_server_holds_no_transaction_and_a_lapsed_lease_is_taken_over() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let sink = SmtpSink::start();
    let stalling = StallingSmtp::start();
    let account = watched_account(&mut conn, "60", "50");
    charge(&mut conn, account.id, "20");
    let id = outbox_of(&mut conn, account.id)[0].id;
    let now = Utc::now().trunc_subsecs(6);

    std::thread::scope(|s| {
        let (db, slow_mailer) = (&db, stalling.mailer());
        let slow_worker = s.spawn(move || {
            let mut conn = db.conn();
            outbox::deliver_due(&mut conn, &slow_mailer, now, 100)
        });
        stalling
            .connected
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the worker reached the SMTP server");

        // Mid-send: the worker's connection has no transaction open and the message no lock.
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let in_transaction = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND state LIKE 'idle in transaction%'",
        )
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n;
        assert_eq!(in_transaction, 0, "no transaction waits on the SMTP server");
        conn.transaction(|conn| {
            diesel::sql_query("SELECT id FROM email_outbox WHERE id = $1 FOR UPDATE NOWAIT")
                .bind::<diesel::sql_types::BigInt, _>(id)
                .execute(conn)
        })
        .expect("the message is not locked while it is being sent");
        let leased = &outbox_of(&mut conn, account.id)[0];
        assert_eq!(
            (leased.status, leased.attempts, leased.next_attempt_at),
            (EmailStatus::Pending, 1, now + outbox::lease())
        );

        // Another worker leaves it alone while the lease runs...
        assert_eq!(
            outbox::deliver_due(&mut conn, &smtp_mailer(&sink), now, 100).unwrap(),
            DeliveryRun::default()
        );
        // ...and takes it over once the lease has run out (the first worker died, say).
        let later = now + outbox::lease() + chrono::Duration::seconds(1);
        let run = outbox::deliver_due(&mut conn, &smtp_mailer(&sink), later, 100).unwrap();
        assert_eq!(run.sent, 1);

        // The first worker's attempt ends (the server hangs up): its outcome is not recorded
        // over the one that stands.
        stalling.hang_up.send(()).unwrap();
        assert_eq!(slow_worker.join().unwrap().unwrap(), DeliveryRun::default());
    });
    let sent = &outbox_of(&mut conn, account.id)[0];
    assert_eq!((sent.status, sent.attempts), (EmailStatus::Sent, 2));
    assert_eq!(sent.last_error, None);
    assert_eq!(sink.received().len(), 1);
}

#[test]
fn without_smtp_messages_are_written_as_eml_files() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let account = watched_account(&mut conn, "60", "50");
    charge(&mut conn, account.id, "20");
    let dir = scratch_dir("mail");
    let mailer = Mailer::files(dir.clone(), FROM, BASE).unwrap();
    assert!(mailer.describe().contains(".eml files"));
    assert_eq!(deliver(&mut conn, &mailer).sent, 1);
    let id = outbox_of(&mut conn, account.id)[0].id;
    let file = dir.join(format!("{id:06}-low-credit.eml"));
    let eml = std::fs::read_to_string(&file).unwrap();
    assert!(eml.contains("To: alerts@customer.test"), "{eml}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "readable by the app's user only");
    assert!(
        eml.contains("Subject: Low SMS credits for Customer"),
        "{eml}"
    );
    assert!(eml.contains("multipart/alternative"), "{eml}");
    assert!(eml.contains("text/html"), "{eml}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no partial files left"
    );
}

#[test]
fn receipts_without_a_buyer_are_cancelled_not_retried() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let account = watched_account(&mut conn, "60", "0");
    let name = database_name(&mut conn, account.database_id);
    let buyer = tenancy::create_user(
        &mut conn,
        &name,
        "gone@customer.test",
        "long enough",
        Role::Admin,
    )
    .unwrap();
    let pack = catalog::active_packs(&mut conn, account.service_id)
        .unwrap()
        .remove(0);
    let order = orders::create_order(
        &mut conn,
        account.database_id,
        account.id,
        pack.id,
        buyer.id,
    )
    .unwrap();
    let card = Card::parse("Ada", "4242424242424242", "12/39", "123").unwrap();
    orders::pay(
        &mut conn,
        account.database_id,
        order.id,
        &card,
        &MockProvider::default(),
    )
    .unwrap();
    diesel::delete(users::table.find(buyer.id))
        .execute(&mut db.owner_conn())
        .unwrap();
    let mailer = Mailer::files(scratch_dir("mail"), FROM, BASE).unwrap();
    assert_eq!(deliver(&mut conn, &mailer).cancelled, 1);
}

#[test]
fn bad_mail_settings_are_refused_clearly() {
    let bad_from = Mailer::files(scratch_dir("mail"), "not an address", BASE);
    assert!(
        bad_from
            .err()
            .unwrap()
            .to_string()
            .contains("IAP_MAIL_FROM")
    );
    let shown = Mailer::smtp("smtp://user:p@ss@mail.example.test:587", FROM, BASE).unwrap();
    assert_eq!(
        shown.describe(),
        "SMTP server smtp://mail.example.test:587",
        "no credentials"
    );
    let bad_url = Mailer::smtp("ftp://example.test", FROM, BASE);
    assert!(bad_url.err().unwrap().to_string().contains("SMTP_URL"));
}

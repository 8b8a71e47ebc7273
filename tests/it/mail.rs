//! Low-credit alerts and receipts: queued in the outbox with the change that causes them (one
//! alert per crossing, whatever the races), composed from the state of when they are sent.

use std::sync::{Arc, Barrier};

use chrono::Utc;
use diesel::prelude::*;
use iap_credits::domain::catalog;
use iap_credits::domain::ledger::accounts::{self, AlertSettings};
use iap_credits::domain::ledger::{self, Actor, GrantKind, IapAccount};
use iap_credits::domain::mail::Mailer;
use iap_credits::domain::mail::outbox::{self, DeliveryRun, EmailKind, EmailStatus, OutboxEmail};
use iap_credits::domain::orders::{self, PaymentResult};
use iap_credits::domain::payments::{Card, MockProvider};
use iap_credits::domain::tenancy::{self, Role, Subscription};
use iap_credits::kernel::credits::Credits;
use iap_credits::kernel::ids::{AccountId, DatabaseId};
use iap_credits::platform::schema::{email_outbox, iap_accounts};

use crate::fixtures::{Customer, c, reload};
use crate::harness::{TestDb, scratch_dir};
use crate::smtp_sink::SmtpSink;

pub const BASE: &str = "https://iap.example.test";
pub const FROM: &str = "IAP Credits <billing@iap.example.test>";

/// A new database with an SMS account holding `credits`, Warn Me on at `threshold`.
pub fn watched_account(conn: &mut PgConnection, credits: &str, threshold: &str) -> IapAccount {
    let account = Customer::new(conn, Subscription::None).funded(conn, "sms", credits);
    warn_me(conn, account.id, true, threshold, "alerts@customer.test");
    reload(conn, account.id)
}

pub fn warn_me(
    conn: &mut PgConnection,
    account_id: AccountId,
    on: bool,
    threshold: &str,
    email: &str,
) {
    let settings = AlertSettings {
        warn_me: on,
        threshold: c(threshold),
        warning_email: email.to_string(),
    };
    accounts::save_alert_settings(conn, account_id, &settings).unwrap();
}

pub fn charge(conn: &mut PgConnection, account_id: AccountId, credits: &str) {
    ledger::charge(conn, account_id, c(credits), "test", &Actor::cli()).unwrap();
}

pub fn outbox_of(conn: &mut PgConnection, account_id: AccountId) -> Vec<OutboxEmail> {
    email_outbox::table
        .filter(email_outbox::account_id.eq(account_id))
        .order(email_outbox::id)
        .select(OutboxEmail::as_select())
        .load(conn)
        .unwrap()
}

pub fn smtp_mailer(sink: &SmtpSink) -> Mailer {
    Mailer::smtp(&sink.url(), FROM, BASE).unwrap()
}

pub fn deliver(conn: &mut PgConnection, mailer: &Mailer) -> DeliveryRun {
    outbox::deliver_due(conn, mailer, Utc::now(), 100).unwrap()
}

#[test]
fn one_alert_per_crossing_however_many_debits_follow() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let sink = SmtpSink::start();
    let account = watched_account(&mut conn, "60", "50");
    charge(&mut conn, account.id, "5"); // 55: still above
    assert!(outbox_of(&mut conn, account.id).is_empty());
    charge(&mut conn, account.id, "10"); // 45: crossed
    charge(&mut conn, account.id, "5"); // 40
    charge(&mut conn, account.id, "2.5"); // 37.5
    let queued = outbox_of(&mut conn, account.id);
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].kind, queued[0].status),
        (EmailKind::LowCredit, EmailStatus::Pending)
    );

    let run = deliver(&mut conn, &smtp_mailer(&sink));
    assert_eq!(run.sent, 1);
    assert_eq!(
        deliver(&mut conn, &smtp_mailer(&sink)),
        DeliveryRun::default()
    );
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.rcpt_tos, ["alerts@customer.test"]);
    assert_eq!(mail.mail_from, "billing@iap.example.test");
    assert!(
        mail.subject.starts_with("Low SMS credits for Customer "),
        "{}",
        mail.subject
    );
    assert!(mail.subject.ends_with(": 37.5 left"), "{}", mail.subject);
    assert_eq!(mail.content_type, "multipart/alternative");
    let buy_link = format!("{BASE}/iap/accounts/{}/buy", account.id);
    let text = mail.text.as_deref().unwrap();
    assert!(text.contains(&buy_link), "{text}");
    assert!(text.contains("Available: 37.5 credits"), "{text}");
    assert!(text.contains("Threshold: 50 credits"), "{text}");
    // The run-out forecast: used today for the first time, too early to say.
    assert!(text.contains("Not enough history yet"), "{text}");
    let html = mail.html.as_deref().unwrap();
    assert!(html.contains(&format!("href=\"{buy_link}\"")), "{html}");

    let sent = &outbox_of(&mut conn, account.id)[0];
    assert_eq!(sent.status, EmailStatus::Sent);
    assert_eq!(sent.recipients.as_deref(), Some("alerts@customer.test"));
    assert_eq!(sent.attempts, 1);
}

#[test]
fn a_purchase_rearms_the_alert_and_sends_a_receipt() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let sink = SmtpSink::start();
    let account = watched_account(&mut conn, "60", "50");
    charge(&mut conn, account.id, "20"); // 40: first crossing
    assert_eq!(deliver(&mut conn, &smtp_mailer(&sink)).sent, 1);
    let name = database_name(&mut conn, account.database_id);
    let buyer = tenancy::create_user(
        &mut conn,
        &name,
        "buyer@customer.test",
        "long enough",
        Role::Admin,
    )
    .unwrap();
    let standard = catalog::active_packs(&mut conn, account.service_id)
        .unwrap()
        .into_iter()
        .find(|p| p.name == "Standard Pack")
        .unwrap();
    let order = orders::create_order(
        &mut conn,
        account.database_id,
        account.id,
        standard.id,
        buyer.id,
    )
    .unwrap();
    let card = Card::parse("Ada", "4242424242424242", "12/39", "123").unwrap();
    let paid = orders::pay(
        &mut conn,
        account.database_id,
        order.id,
        &card,
        &MockProvider::default(),
    )
    .unwrap();
    assert!(matches!(paid, PaymentResult::Paid { .. }));
    // 140 now: re-armed. Going below again is a second crossing.
    let rearmed: bool = iap_accounts::table
        .find(account.id)
        .select(iap_accounts::low_credit_alerted)
        .first(&mut conn)
        .unwrap();
    assert!(!rearmed);
    charge(&mut conn, account.id, "100"); // 40: a crossing within the hour of the first alert
    let alerts_queued = |conn: &mut PgConnection| {
        outbox_of(conn, account.id)
            .iter()
            .filter(|e| e.kind == EmailKind::LowCredit)
            .count()
    };
    assert_eq!(alerts_queued(&mut conn), 1, "at most one alert an hour");
    an_hour_passes(&mut conn, account.id);
    charge(&mut conn, account.id, "1"); // 39: the first debit after that hour alerts
    assert_eq!(alerts_queued(&mut conn), 2);

    let run = deliver(&mut conn, &smtp_mailer(&sink));
    assert_eq!(run.sent, 2, "the second alert and the receipt: {run:?}");
    let received = sink.received();
    let alerts: Vec<_> = received
        .iter()
        .filter(|m| m.subject.starts_with("Low SMS credits"))
        .collect();
    assert_eq!(alerts.len(), 2);
    let receipt = received
        .iter()
        .find(|m| m.subject.starts_with("Receipt"))
        .expect("a receipt");
    assert_eq!(receipt.rcpt_tos, ["buyer@customer.test"]);
    assert_eq!(
        receipt.subject,
        format!(
            "Receipt for your order IAP-{:06}: SMS Standard Pack",
            order.id
        )
    );
    let text = receipt.text.as_deref().unwrap();
    for expected in [
        format!("Order:    IAP-{:06}", order.id),
        "Pack:     Standard Pack".to_string(),
        "Credits:  100".to_string(),
        format!("Amount:   {} (card ending 4242)", standard.price()),
        format!("{BASE}/orders/{}", order.id),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in {text}");
    }
    // Paying again (a re-posted form) queues no second receipt.
    orders::pay(
        &mut conn,
        account.database_id,
        order.id,
        &card,
        &MockProvider::default(),
    )
    .unwrap();
    assert_eq!(
        deliver(&mut conn, &smtp_mailer(&sink)),
        DeliveryRun::default()
    );
}

/// Moves the account's alerts an hour and a minute into the past, as if that time had passed.
fn an_hour_passes(conn: &mut PgConnection, account_id: iap_credits::kernel::ids::AccountId) {
    diesel::sql_query(
        "UPDATE email_outbox SET created_at = created_at - interval '61 minutes', \
         closed_at = closed_at - interval '61 minutes' WHERE account_id = $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(account_id.0)
    .execute(conn)
    .unwrap();
}

pub fn database_name(conn: &mut PgConnection, database_id: DatabaseId) -> String {
    iap_credits::platform::schema::databases::table
        .find(database_id)
        .select(iap_credits::platform::schema::databases::name)
        .first(conn)
        .unwrap()
}

#[test]
fn an_alert_waiting_while_credits_recover_is_not_sent() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let account = watched_account(&mut conn, "60", "50");
    charge(&mut conn, account.id, "20");
    ledger::grant(
        &mut conn,
        account.id,
        c("30"),
        GrantKind::Adjustment,
        "goodwill",
        &Actor::cli(),
    )
    .unwrap();
    let mailer = Mailer::files(scratch_dir("mail"), FROM, BASE).unwrap();
    let run = deliver(&mut conn, &mailer);
    assert_eq!(run.cancelled, 1);
    let email = &outbox_of(&mut conn, account.id)[0];
    assert_eq!(email.status, EmailStatus::Cancelled);
    assert!(email.last_error.as_deref().unwrap().contains("back above"));
}

#[test]
fn concurrent_debits_crossing_together_give_one_alert() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let account = watched_account(&mut conn, "100", "50");
    let barrier = Arc::new(Barrier::new(20));
    std::thread::scope(|s| {
        for _ in 0..20 {
            let (barrier, db) = (barrier.clone(), &db);
            s.spawn(move || {
                let mut conn = db.conn();
                barrier.wait();
                charge(&mut conn, account.id, "5");
            });
        }
    });
    let account = accounts::by_id(&mut conn, account.id).unwrap().unwrap();
    assert_eq!(account.balance, Credits::ZERO);
    assert_eq!(outbox_of(&mut conn, account.id).len(), 1);
}

#[test]
fn a_rolled_back_debit_leaves_no_alert() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let account = watched_account(&mut conn, "60", "50");
    let result: Result<(), diesel::result::Error> = conn.transaction(|conn| {
        charge(conn, account.id, "20");
        assert_eq!(
            outbox_of(conn, account.id).len(),
            1,
            "queued with the debit"
        );
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(result.is_err());
    assert!(outbox_of(&mut conn, account.id).is_empty());
    let account = accounts::by_id(&mut conn, account.id).unwrap().unwrap();
    assert_eq!(account.balance, c("60"));
    // Still armed: the next real crossing alerts.
    charge(&mut conn, account.id, "20");
    assert_eq!(outbox_of(&mut conn, account.id).len(), 1);
}

#[test]
fn holds_count_as_debits_for_the_threshold() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let account = watched_account(&mut conn, "60", "50");
    let hold =
        ledger::authorize(&mut conn, account.id, c("15"), None, "sms", &Actor::cli()).unwrap();
    assert_eq!(
        outbox_of(&mut conn, account.id).len(),
        1,
        "available went to 45"
    );
    ledger::capture(&mut conn, account.id, hold.id, None, &Actor::cli()).unwrap();
    assert_eq!(outbox_of(&mut conn, account.id).len(), 1);
}

#[test]
fn saving_warn_me_while_below_alerts_once_and_later_settings_apply() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let account = watched_account(&mut conn, "10", "0");
    assert!(
        outbox_of(&mut conn, account.id).is_empty(),
        "10 is not below 0"
    );
    warn_me(&mut conn, account.id, true, "50", "first@customer.test");
    assert_eq!(outbox_of(&mut conn, account.id).len(), 1, "at once");
    // Saved again with another address: still one alert, sent to the address of now.
    warn_me(
        &mut conn,
        account.id,
        true,
        "40",
        "second@customer.test, third@customer.test",
    );
    assert_eq!(outbox_of(&mut conn, account.id).len(), 1);
    let sink = SmtpSink::start();
    assert_eq!(deliver(&mut conn, &smtp_mailer(&sink)).sent, 1);
    // One message per recipient: no one sees the other addresses.
    let mut received: Vec<Vec<String>> = sink.received().into_iter().map(|m| m.rcpt_tos).collect();
    received.sort();
    assert_eq!(
        received,
        [vec!["second@customer.test"], vec!["third@customer.test"]]
    );

    // Toggling the settings within the hour queues nothing more (at most one alert an hour)…
    warn_me(&mut conn, account.id, false, "40", "second@customer.test");
    warn_me(&mut conn, account.id, true, "40", "second@customer.test");
    assert_eq!(outbox_of(&mut conn, account.id).len(), 1);
    // …after it, on again while below alerts again; off before it is sent cancels it.
    an_hour_passes(&mut conn, account.id);
    warn_me(&mut conn, account.id, false, "40", "second@customer.test");
    warn_me(&mut conn, account.id, true, "40", "second@customer.test");
    warn_me(&mut conn, account.id, false, "40", "second@customer.test");
    let run = deliver(&mut conn, &smtp_mailer(&sink));
    assert_eq!((run.sent, run.cancelled), (0, 1));
    assert_eq!(sink.received().len(), 2);
}

/// The seed's "Low-credit notification" through the pages: Warn Me saved on the Account
/// Information page, then two SMS sent from a contact → exactly one alert.
#[actix_web::test]
async fn warn_me_and_two_sms_from_the_pages_send_exactly_one_alert() {
    use crate::fixtures::{contact_id, sms_balance};
    use crate::harness::TestApp;

    let app = TestApp::new().with_demo();
    let browser = app.browser();
    browser.sign_in("admin@demo.test", "demo-password").await;
    let (account_id, balance) = sms_balance(&app, &browser).await;
    assert_eq!(balance, Credits::whole(10));
    let account_page = format!("/iap/accounts/{account_id}");
    let saved = browser
        .submit(
            &account_page,
            &format!("{account_page}/alerts"),
            &[
                ("warn_me", "on"),
                ("threshold", "9.9"),
                ("warning_email", "ops@demo.test"),
            ],
        )
        .await;
    assert!(saved.body.contains("Saved."));
    let lucille = contact_id(&browser, "Lucille Dupont").await;
    let (form, action) = (
        format!("/contacts/{lucille}/sms?to=mobile"),
        format!("/contacts/{lucille}/sms"),
    );
    for message in ["Your order has shipped.", "It arrives tomorrow."] {
        let sent = browser
            .submit(&form, &action, &[("to", "mobile"), ("message", message)])
            .await;
        assert_eq!(sent.status, actix_web::http::StatusCode::SEE_OTHER);
    }
    assert_eq!(sms_balance(&app, &browser).await.1, c("9.848"));

    let sink = SmtpSink::start();
    let mut conn = app.db.conn();
    let run = deliver(&mut conn, &smtp_mailer(&sink));
    assert_eq!(run.sent, 1, "{run:?}");
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt_tos, ["ops@demo.test"]);
    assert_eq!(
        received[0].subject,
        "Low SMS credits for Demo Company: 9.848 left"
    );
    let text = received[0].text.as_deref().unwrap();
    assert!(
        text.contains(&format!("{BASE}/iap/accounts/{account_id}/buy")),
        "{text}"
    );
}

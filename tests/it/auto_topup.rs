//! Automatic top-up: one order per crossing of the trigger whatever races, paid by the worker
//! with the saved card, declines retried then switched off, the monthly cap, the settings'
//! checks, and removing the card.

use std::sync::{Arc, Barrier};

use chrono::{Duration, DurationRound, Utc};
use diesel::prelude::*;
use iap_credits::domain::catalog;
use iap_credits::domain::ledger::{self, Actor, IapAccount};
use iap_credits::domain::mail::compose::{self, Composed};
use iap_credits::domain::orders::{self, Order, OrderStatus};
use iap_credits::domain::payments::methods::{self, PaymentMethod};
use iap_credits::domain::payments::mock::SAVED_THEN_DECLINED_CARD;
use iap_credits::domain::payments::{Card, MockProvider};
use iap_credits::domain::tenancy::Subscription;
use iap_credits::domain::topup::{self, Cap, TopupErrors, TopupFields, TopupRun, TopupSettings};
use iap_credits::kernel::ids::PackId;
use iap_credits::platform::schema::{email_outbox, orders as orders_table};

use crate::fixtures::{Customer, assert_consistent, c, reload, spend};
use crate::harness::TestDb;

fn pack_id(conn: &mut PgConnection, account: &IapAccount, name: &str) -> PackId {
    crate::fixtures::pack_named(conn, account, name).id
}

fn saved_card(conn: &mut PgConnection, customer: &Customer, number: &str) -> PaymentMethod {
    let card = Card::parse("Ada Lovelace", number, "12/39", "123").unwrap();
    methods::save(
        conn,
        &MockProvider::default(),
        customer.database_id,
        Some(customer.admin_id),
        &card,
    )
    .unwrap()
    .unwrap()
}

/// A customer's SMS account with `credits`, topping up the Standard Pack (100 credits) below
/// `below`, with a card of `number` and `cap`.
fn topping_up(
    conn: &mut PgConnection,
    credits: &str,
    below: &str,
    number: &str,
    cap: Cap,
) -> (Customer, IapAccount, PaymentMethod) {
    let customer = Customer::new(conn, Subscription::None);
    let account = customer.funded(conn, "sms", credits);
    let card = saved_card(conn, &customer, number);
    let settings = TopupSettings {
        enabled: true,
        below: c(below),
        pack_id: pack_id(conn, &account, "Standard Pack"),
        cap,
        payment_method_id: Some(card.id),
    };
    topup::save(
        conn,
        customer.database_id,
        account.id,
        Some(customer.admin_id),
        &settings,
    )
    .unwrap()
    .unwrap();
    (customer, account, card)
}

fn auto_orders(conn: &mut PgConnection, account: &IapAccount) -> Vec<Order> {
    let mut orders = orders::auto::recent(conn, account.id, 100).unwrap();
    orders.reverse();
    orders
}

fn emails(conn: &mut PgConnection, kind: &str) -> i64 {
    email_outbox::table
        .filter(email_outbox::kind.eq(kind))
        .count()
        .get_result(conn)
        .unwrap()
}

fn emails_of_account(conn: &mut PgConnection, account: &IapAccount, kind: &str) -> i64 {
    email_outbox::table
        .filter(email_outbox::kind.eq(kind))
        .filter(email_outbox::account_id.eq(account.id))
        .count()
        .get_result(conn)
        .unwrap()
}

/// `n` threads each charging `each` at once.
fn race(db: &TestDb, account: &IapAccount, n: usize, each: &str) {
    let barrier = Arc::new(Barrier::new(n));
    std::thread::scope(|s| {
        for _ in 0..n {
            let barrier = barrier.clone();
            let mut conn = db.conn();
            let id = account.id;
            s.spawn(move || {
                barrier.wait();
                ledger::charge(&mut conn, id, c(each), "use", &Actor::cli()).unwrap();
            });
        }
    });
}

#[test]
fn one_top_up_per_crossing_even_with_32_concurrent_debits() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let (_, account, _) = topping_up(conn, "200", "100", "4242424242424242", Cap::TopUps(5));
    let provider = MockProvider::default();

    // 32 × 5 = 160: from 200 to 40, across 100 once.
    race(&db, &account, 32, "5");
    assert_eq!(reload(conn, account.id).balance, c("40"));
    let ordered = auto_orders(conn, &account);
    assert_eq!(ordered.len(), 1, "{ordered:?}");
    assert_eq!(ordered[0].status, OrderStatus::Pending);
    assert_eq!(ordered[0].credits, c("100"));

    let run = topup::pay_due(conn, &provider, Utc::now(), 20).unwrap();
    assert_eq!(run.paid, 1);
    assert_eq!(reload(conn, account.id).balance, c("140"));
    // Paid once: a second run finds nothing.
    assert_eq!(
        topup::pay_due(conn, &provider, Utc::now() + Duration::hours(1), 20).unwrap(),
        TopupRun::default()
    );
    assert_eq!(reload(conn, account.id).balance, c("140"));
    assert_eq!(emails_of_account(conn, &account, "receipt"), 0); // receipts are by order
    let receipts: i64 = email_outbox::table
        .filter(email_outbox::kind.eq("receipt"))
        .filter(email_outbox::order_id.eq(ordered[0].id))
        .count()
        .get_result(conn)
        .unwrap();
    assert_eq!(receipts, 1);

    // Staying below orders nothing more; crossing again orders the second one.
    race(&db, &account, 32, "2");
    assert_eq!(reload(conn, account.id).balance, c("76"));
    assert_eq!(auto_orders(conn, &account).len(), 2);
    spend(conn, &account, "10");
    assert_eq!(
        auto_orders(conn, &account).len(),
        2,
        "still below: no new order"
    );
    assert_consistent(conn);
}

#[test]
fn a_pending_top_up_covers_the_next_crossing() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let (customer, account, _) = topping_up(conn, "120", "100", "4242424242424242", Cap::TopUps(5));
    spend(conn, &account, "30"); // 90: ordered
    // Back above by an adjustment, then below again before the worker ran: still one order.
    customer.funded(conn, "sms", "20");
    spend(conn, &account, "30");
    assert_eq!(auto_orders(conn, &account).len(), 1);
}

#[test]
fn declines_are_retried_later_and_the_third_in_a_row_switches_it_off() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let (customer, account, _) =
        topping_up(conn, "150", "100", SAVED_THEN_DECLINED_CARD, Cap::TopUps(5));
    let provider = MockProvider::default();
    spend(conn, &account, "60");
    // Microseconds, as PostgreSQL keeps them.
    let now = Utc::now()
        .duration_trunc(Duration::microseconds(1))
        .unwrap();

    let run = topup::pay_due(conn, &provider, now, 20).unwrap();
    assert_eq!(run.declined, 1);
    let order = &auto_orders(conn, &account)[0];
    assert_eq!(order.status, OrderStatus::Pending);
    let retry = order.next_attempt_at.unwrap();
    assert!(
        retry >= now + Duration::minutes(5) && retry < now + Duration::minutes(6),
        "{retry} vs {now}"
    );
    assert_eq!(emails_of_account(conn, &account, "auto_topup_declined"), 1);
    // Not before its time.
    assert_eq!(
        topup::pay_due(conn, &provider, now + Duration::minutes(1), 20).unwrap(),
        TopupRun::default()
    );
    // The admins' message says what happened and when it is tried again.
    let declined_email = compose::auto_topup_declined(conn, "http://x", account.id, order.id);
    let Ok(Composed::Ready(email)) = declined_email else {
        panic!("{declined_email:?}")
    };
    assert_eq!(email.to.len(), 1);
    assert!(
        email.to[0]
            .to_string()
            .contains(&customer.name.to_lowercase().replace(' ', "-"))
    );
    assert!(
        email.text.contains("was declined: Your card was declined."),
        "{}",
        email.text
    );
    assert!(
        email.text.contains("We will try again at"),
        "{}",
        email.text
    );

    let run = topup::pay_due(conn, &provider, now + Duration::minutes(6), 20).unwrap();
    assert_eq!(run.declined, 1);
    let retry = auto_orders(conn, &account)[0].next_attempt_at.unwrap();
    assert!(
        retry >= now + Duration::minutes(36),
        "30 minutes after the second"
    );
    assert!(topup::find(conn, account.id).unwrap().unwrap().enabled);

    let run = topup::pay_due(conn, &provider, now + Duration::minutes(40), 20).unwrap();
    assert_eq!(run.declined, 1);
    let order = &auto_orders(conn, &account)[0];
    assert_eq!(order.status, OrderStatus::Declined);
    let settings = topup::find(conn, account.id).unwrap().unwrap();
    assert!(!settings.enabled);
    assert_eq!(settings.stopped_reason.as_deref(), Some("declined"));
    assert_eq!(emails_of_account(conn, &account, "auto_topup_declined"), 2);
    assert_eq!(emails_of_account(conn, &account, "auto_topup_stopped"), 1);
    let stopped = compose::auto_topup_stopped(conn, "http://x", account.id).unwrap();
    let Composed::Ready(email) = stopped else {
        panic!("{stopped:?}")
    };
    assert!(
        email
            .text
            .contains("is off: the card was declined 3 times in a row"),
        "{}",
        email.text
    );
    // Nothing was charged or credited; spending further orders nothing.
    assert_eq!(reload(conn, account.id).balance, c("90"));
    spend(conn, &account, "50");
    assert_eq!(auto_orders(conn, &account).len(), 1);
    assert_consistent(conn);
}

#[test]
fn the_monthly_cap_switches_it_off_instead_of_ordering_more() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let provider = MockProvider::default();
    // At most one top-up a month.
    let (_, account, _) = topping_up(conn, "150", "100", "4242424242424242", Cap::TopUps(1));
    spend(conn, &account, "60");
    assert_eq!(
        topup::pay_due(conn, &provider, Utc::now(), 20)
            .unwrap()
            .paid,
        1
    );
    assert_eq!(reload(conn, account.id).balance, c("190"));
    spend(conn, &account, "100");
    assert_eq!(auto_orders(conn, &account).len(), 1);
    let settings = topup::find(conn, account.id).unwrap().unwrap();
    assert!(!settings.enabled);
    assert_eq!(settings.stopped_reason.as_deref(), Some("cap"));
    assert_eq!(emails_of_account(conn, &account, "auto_topup_stopped"), 1);

    // An amount: 150.00 EUR allows one Standard Pack (95.00 EUR), not two.
    let (_, account, _) = topping_up(conn, "150", "100", "4242424242424242", Cap::Amount(15_000));
    spend(conn, &account, "60");
    topup::pay_due(conn, &provider, Utc::now(), 20).unwrap();
    spend(conn, &account, "100");
    assert_eq!(auto_orders(conn, &account).len(), 1);
    assert_eq!(
        topup::find(conn, account.id)
            .unwrap()
            .unwrap()
            .stopped_reason
            .as_deref(),
        Some("cap")
    );
    let usage = orders::auto::month_usage(conn, account.id, Utc::now()).unwrap();
    assert_eq!(usage, (1, 9_500));
}

#[test]
fn turning_it_on_below_the_trigger_orders_the_first_top_up_at_once() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let (_, account, _) = topping_up(conn, "5", "100", "4242424242424242", Cap::TopUps(3));
    assert_eq!(auto_orders(conn, &account).len(), 1);
    assert_eq!(
        topup::pay_due(conn, &MockProvider::default(), Utc::now(), 20)
            .unwrap()
            .paid,
        1
    );
    assert_eq!(reload(conn, account.id).balance, c("105"));
}

#[test]
fn settings_are_checked_against_the_account_and_the_database() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let customer = Customer::new(conn, Subscription::None);
    let account = customer.funded(conn, "sms", "10");
    let other = Customer::new(conn, Subscription::None);
    let others_card = saved_card(conn, &other, "4242424242424242");
    let snailmail = customer.account(conn, "snailmail");
    let fields = |below: &str, pack: PackId, cap: &str, card: &str| TopupFields {
        enabled: true,
        below: below.into(),
        pack_id: pack.to_string(),
        cap_kind: "count".into(),
        cap_count: cap.into(),
        cap_amount: String::new(),
        payment_method_id: card.into(),
    };
    let sms_pack = pack_id(conn, &account, "Standard Pack");
    let errors = TopupSettings::parse(&fields("0", sms_pack, "0", "")).unwrap_err();
    assert!(errors.below.is_some() && errors.cap.is_some() && errors.card.is_some());
    assert!(TopupSettings::parse(&fields("abc", sms_pack, "101", "x")).is_err());

    // Another service's pack, another database's card: refused, nothing saved.
    let other_pack = catalog::active_packs(conn, snailmail.service_id).unwrap()[0].id;
    let settings =
        TopupSettings::parse(&fields("5", other_pack, "2", &others_card.id.to_string())).unwrap();
    let refused = topup::save(conn, customer.database_id, account.id, None, &settings)
        .unwrap()
        .unwrap_err();
    assert!(refused.pack.is_some(), "{refused:?}");
    assert!(refused.card.is_some(), "{refused:?}");
    assert!(topup::find(conn, account.id).unwrap().is_none());

    // An amount below one pack can never top up.
    let card = saved_card(conn, &customer, "4242424242424242");
    let settings = TopupSettings {
        enabled: true,
        below: c("5"),
        pack_id: sms_pack,
        cap: Cap::Amount(5_000),
        payment_method_id: Some(card.id),
    };
    let refused = topup::save(conn, customer.database_id, account.id, None, &settings)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        refused,
        TopupErrors {
            cap: Some("The limit is less than one Standard Pack pack (95.00 EUR).".into()),
            ..TopupErrors::default()
        }
    );
    // Another database's account does not exist.
    assert!(topup::save(conn, other.database_id, account.id, None, &settings).is_err());
}

#[test]
fn removing_the_card_switches_the_top_up_off_and_drops_its_pending_order() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let (customer, account, card) =
        topping_up(conn, "150", "100", "4242424242424242", Cap::TopUps(5));
    spend(conn, &account, "60");
    let provider = MockProvider::default();
    let removed = topup::remove_card(conn, &provider, customer.database_id, card.id).unwrap();
    assert_eq!(removed.unwrap().id, card.id);
    let settings = topup::find(conn, account.id).unwrap().unwrap();
    assert!(!settings.enabled);
    assert_eq!(settings.stopped_reason.as_deref(), Some("card_removed"));
    assert!(
        methods::of_database(conn, customer.database_id)
            .unwrap()
            .is_empty()
    );
    let run = topup::pay_due(conn, &provider, Utc::now(), 20).unwrap();
    assert_eq!(run.dropped, 1);
    assert_eq!(auto_orders(conn, &account)[0].status, OrderStatus::Expired);
    assert_eq!(reload(conn, account.id).balance, c("90"));
    assert!(emails(conn, "auto_topup_stopped") >= 1);
    // Saving the same card twice keeps one.
    let a = saved_card(conn, &customer, "4242424242424242");
    let b = saved_card(conn, &customer, "4242424242424242");
    assert_eq!(a.id, b.id);
    let _ = orders_table::table;
}

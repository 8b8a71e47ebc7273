//! Two-phase refunds: the credits are taken back and the refund recorded before the provider
//! is called, outside any transaction; its answer is recorded in a second transaction, and the
//! reconciler finishes what a crash at any step left — money returned once, credits never lost.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{Duration, Utc};
use diesel::prelude::*;
use iap_credits::domain::orders::refunds::{
    self, REFUND_TIMEOUT_SECONDS, RefundError, RefundStatus, reconcile_refunds,
};
use iap_credits::domain::orders::{self, Order, OrderStatus};
use iap_credits::domain::payments::{
    Card, MockProvider, PaymentOutcome, PaymentProvider, RefundOutcome,
};
use iap_credits::kernel::credits::Credits;
use iap_credits::kernel::money::Price;

use crate::fixtures::{self, Customer, assert_consistent, c, reload};
use crate::harness::TestDb;

/// What the provider does when asked for a refund.
#[derive(Clone, Copy, PartialEq)]
enum Refunds {
    /// The process dies before the refund reaches the provider.
    CrashBefore,
    /// The provider returns the money, then the process dies before recording it.
    CrashAfter,
    /// The provider refuses.
    Refuse,
    /// Checks that no row of the order is locked while the provider is called.
    CheckNothingLocked,
}

/// The test-mode provider, with a refund step that fails as told and counts the refunds that
/// really reached it.
struct Provider {
    real: MockProvider,
    mode: Refunds,
    refunds_reached: AtomicU32,
    database_url: String,
    locked: Mutex<Option<bool>>,
}

impl Provider {
    fn new(mode: Refunds, db: &TestDb) -> Provider {
        Provider {
            real: MockProvider::default(),
            mode,
            refunds_reached: AtomicU32::new(0),
            database_url: db.url.clone(),
            locked: Mutex::new(None),
        }
    }
}

impl PaymentProvider for Provider {
    fn charge(&self, amount: &Price, card: &Card, key: &str) -> PaymentOutcome {
        self.real.charge(amount, card, key)
    }

    fn lookup(&self, key: &str) -> Option<PaymentOutcome> {
        self.real.lookup(key)
    }

    fn save_card(&self, card: &Card) -> Result<String, String> {
        self.real.save_card(card)
    }

    fn charge_saved(&self, amount: &Price, token: &str, key: &str) -> PaymentOutcome {
        self.real.charge_saved(amount, token, key)
    }

    fn remove_card(&self, token: &str) {
        self.real.remove_card(token)
    }

    fn refund(&self, amount: &Price, reference: &str, key: &str) -> RefundOutcome {
        match self.mode {
            Refunds::CrashBefore => panic!("the process died before the refund left"),
            Refunds::Refuse => RefundOutcome::Refused {
                message: "The card was closed.".into(),
            },
            Refunds::CrashAfter => {
                self.refunds_reached.fetch_add(1, Ordering::SeqCst);
                let _ = self.real.refund(amount, reference, key);
                panic!("the process died after the provider refunded");
            }
            Refunds::CheckNothingLocked => {
                // Another connection may lock the order and the account at once: the refund's
                // own transaction is over before the provider is called.
                let mut other = PgConnection::establish(&self.database_url).unwrap();
                let free = diesel::sql_query(
                    "SELECT 1 FROM orders, iap_accounts WHERE iap_accounts.id = orders.account_id \
                     FOR UPDATE NOWAIT",
                )
                .execute(&mut other)
                .is_ok();
                *self.locked.lock().unwrap() = Some(!free);
                self.refunds_reached.fetch_add(1, Ordering::SeqCst);
                self.real.refund(amount, reference, key)
            }
        }
    }

    fn lookup_refund(&self, key: &str) -> Option<RefundOutcome> {
        self.real.lookup_refund(key)
    }
}

/// A paid Standard Pack (100 credits, 95.00 EUR) of a new customer, bought through `provider`.
fn paid_order(conn: &mut PgConnection, provider: &dyn PaymentProvider) -> (Customer, Order) {
    let (customer, order) = crate::payments::standard_pack_order(conn);
    let card = Card::parse("Ada", "4242424242424242", "12/39", "123").unwrap();
    orders::pay(conn, customer.database_id, order.id, &card, provider).unwrap();
    let order = orders::find(conn, customer.database_id, order.id)
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::Paid);
    (customer, order)
}

fn after_the_timeout() -> chrono::DateTime<Utc> {
    Utc::now() + Duration::seconds(REFUND_TIMEOUT_SECONDS + 5)
}

fn status_of(conn: &mut PgConnection, customer: &Customer, order: &Order) -> OrderStatus {
    orders::find(conn, customer.database_id, order.id)
        .unwrap()
        .unwrap()
        .status
}

#[test]
fn the_provider_is_called_with_nothing_locked() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let ops = fixtures::operator(&mut conn);
    let provider = Provider::new(Refunds::CheckNothingLocked, &db);
    let (customer, order) = paid_order(&mut conn, &provider);
    let refund =
        refunds::refund_order(&mut conn, &ops, &provider, order.id, c("40"), "unused").unwrap();
    assert_eq!(
        *provider.locked.lock().unwrap(),
        Some(false),
        "rows locked during the call"
    );
    assert_eq!(refund.status, RefundStatus::Succeeded);
    assert!(refund.provider_reference.is_some());
    assert_eq!(refund.amount().to_string(), "38.00 EUR");
    assert_eq!(
        status_of(&mut conn, &customer, &order),
        OrderStatus::PartlyRefunded
    );
    assert_eq!(reload(&mut conn, order.account_id).balance, c("60"));
    assert_consistent(&mut conn);
}

#[test]
fn a_crash_after_the_provider_refunded_is_finished_once_by_the_reconciler() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let ops = fixtures::operator(&mut conn);
    let provider = Provider::new(Refunds::CrashAfter, &db);
    let (customer, order) = paid_order(&mut conn, &provider);
    let crashed = catch_unwind(AssertUnwindSafe(|| {
        refunds::refund_order(&mut conn, &ops, &provider, order.id, c("100"), "all of it")
    }));
    assert!(crashed.is_err());
    // Committed before the call: the credits are out (they cannot be spent meanwhile) and the
    // refund is pending; the order is still paid.
    assert_eq!(reload(&mut conn, order.account_id).balance, Credits::ZERO);
    let state = refunds::refund_state(&mut conn, &order).unwrap();
    assert_eq!(state.refunds.len(), 1);
    assert_eq!(state.refunds[0].status, RefundStatus::Pending);
    assert_eq!(
        state.refundable,
        Credits::ZERO,
        "no second refund of the same credits"
    );
    assert_eq!(status_of(&mut conn, &customer, &order), OrderStatus::Paid);
    // Too early: its request might still be running.
    assert_eq!(
        reconcile_refunds(&mut conn, &provider, Utc::now()).unwrap(),
        0
    );
    // Later the provider says it refunded: recorded, once, without refunding again.
    assert_eq!(
        reconcile_refunds(&mut conn, &provider, after_the_timeout()).unwrap(),
        1
    );
    assert_eq!(
        reconcile_refunds(&mut conn, &provider, after_the_timeout()).unwrap(),
        0
    );
    assert_eq!(provider.refunds_reached.load(Ordering::SeqCst), 1);
    let state = refunds::refund_state(&mut conn, &order).unwrap();
    assert_eq!(state.refunds[0].status, RefundStatus::Succeeded);
    assert_eq!(
        status_of(&mut conn, &customer, &order),
        OrderStatus::Refunded
    );
    assert_eq!(reload(&mut conn, order.account_id).balance, Credits::ZERO);
    assert_consistent(&mut conn);
}

#[test]
fn a_crash_before_the_provider_saw_it_is_sent_again_by_the_reconciler() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let ops = fixtures::operator(&mut conn);
    let crashing = Provider::new(Refunds::CrashBefore, &db);
    let (customer, order) = paid_order(&mut conn, &crashing);
    let crashed = catch_unwind(AssertUnwindSafe(|| {
        refunds::refund_order(&mut conn, &ops, &crashing, order.id, c("25"), "partly")
    }));
    assert!(crashed.is_err());
    assert_eq!(reload(&mut conn, order.account_id).balance, c("75"));
    // The restarted app's provider never saw the key: the reconciler sends it.
    let restarted = Provider::new(Refunds::CheckNothingLocked, &db);
    assert_eq!(
        reconcile_refunds(&mut conn, &restarted, after_the_timeout()).unwrap(),
        1
    );
    assert_eq!(restarted.refunds_reached.load(Ordering::SeqCst), 1);
    let state = refunds::refund_state(&mut conn, &order).unwrap();
    assert_eq!(state.refunds[0].status, RefundStatus::Succeeded);
    assert_eq!(
        status_of(&mut conn, &customer, &order),
        OrderStatus::PartlyRefunded
    );
    assert_eq!(reload(&mut conn, order.account_id).balance, c("75"));
    assert_consistent(&mut conn);
}

#[test]
fn a_refused_refund_gives_the_credits_back_and_can_be_tried_again() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let ops = fixtures::operator(&mut conn);
    let refusing = Provider::new(Refunds::Refuse, &db);
    let (customer, order) = paid_order(&mut conn, &refusing);
    let refused = refunds::refund_order(&mut conn, &ops, &refusing, order.id, c("100"), "all");
    assert!(
        matches!(&refused, Err(RefundError::Provider(m)) if m == "The card was closed."),
        "{refused:?}"
    );
    assert_eq!(
        reload(&mut conn, order.account_id).balance,
        c("100"),
        "credits given back"
    );
    assert_eq!(status_of(&mut conn, &customer, &order), OrderStatus::Paid);
    let state = refunds::refund_state(&mut conn, &order).unwrap();
    assert_eq!(state.refunds[0].status, RefundStatus::Failed);
    assert_eq!(state.refunded, Credits::ZERO);
    assert_eq!(state.refundable, c("100"));
    assert_consistent(&mut conn);
    // Another try through a provider that accepts: the whole order, once.
    let working = Provider::new(Refunds::CheckNothingLocked, &db);
    let refund =
        refunds::refund_order(&mut conn, &ops, &working, order.id, c("100"), "all").unwrap();
    assert_eq!(refund.amount().to_string(), "95.00 EUR");
    assert_eq!(
        status_of(&mut conn, &customer, &order),
        OrderStatus::Refunded
    );
    assert_eq!(reload(&mut conn, order.account_id).balance, Credits::ZERO);
    assert_consistent(&mut conn);
}

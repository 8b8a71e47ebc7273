//! Two-phase payments: the attempt is committed before the provider is called, the credits in a
//! second transaction, and the reconciler finishes what a crash at any step left — never a
//! charge without its credits, never credits twice.

use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{Duration, Utc};
use diesel::prelude::*;
use iap_credits::domain::orders::payment::{AttemptStatus, attempts_of};
use iap_credits::domain::orders::{self, Order, OrderStatus, PaymentResult, reconcile_payments};
use iap_credits::domain::payments::{
    Card, MockProvider, PaymentOutcome, PaymentProvider, RefundOutcome,
};
use iap_credits::domain::tenancy::Subscription;
use iap_credits::kernel::credits::Credits;
use iap_credits::kernel::money::Price;
use iap_credits::platform::schema::email_outbox;

use crate::fixtures::{Customer, assert_consistent, c, reload};
use crate::harness::TestDb;

/// A provider whose process dies (a panic) during the call: before the real provider saw it,
/// or after it charged the card.
struct CrashingProvider {
    real: MockProvider,
    after_charging: bool,
}

impl PaymentProvider for CrashingProvider {
    fn charge(&self, amount: &Price, card: &Card, key: &str) -> PaymentOutcome {
        if self.after_charging {
            let _ = self.real.charge(amount, card, key);
        }
        panic!("the process died during the payment");
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
        self.real.refund(amount, reference, key)
    }

    fn lookup_refund(&self, key: &str) -> Option<RefundOutcome> {
        self.real.lookup_refund(key)
    }
}

fn card() -> Card {
    Card::parse("Ada", "4242424242424242", "12/39", "123").unwrap()
}

/// An order of the SMS Standard Pack (100 credits) of a new customer.
pub fn standard_pack_order(conn: &mut PgConnection) -> (Customer, Order) {
    let customer = Customer::new(conn, Subscription::None);
    let account = customer.account(conn, "sms");
    let pack = iap_credits::domain::catalog::active_packs(conn, account.service_id)
        .unwrap()
        .into_iter()
        .find(|p| p.name == "Standard Pack")
        .unwrap();
    let order = orders::create_order(
        conn,
        customer.database_id,
        account.id,
        pack.id,
        customer.admin_id,
    )
    .unwrap();
    (customer, order)
}

fn receipts(conn: &mut PgConnection) -> i64 {
    email_outbox::table
        .filter(email_outbox::kind.eq("receipt"))
        .count()
        .get_result(conn)
        .unwrap()
}

fn after_the_timeout() -> chrono::DateTime<Utc> {
    Utc::now() + Duration::seconds(orders::payment::ATTEMPT_TIMEOUT_SECONDS + 5)
}

#[test]
fn a_crash_after_the_card_was_charged_is_credited_once_by_the_reconciler() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let (customer, order) = standard_pack_order(&mut conn);
    let real = MockProvider::default();
    let crashing = CrashingProvider {
        real: real.clone(),
        after_charging: true,
    };
    let crashed = catch_unwind(AssertUnwindSafe(|| {
        orders::pay(
            &mut conn,
            customer.database_id,
            order.id,
            &card(),
            &crashing,
        )
    }));
    assert!(crashed.is_err());
    // The attempt was committed before the call; nothing is credited yet.
    let attempts = attempts_of(&mut conn, order.id).unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, AttemptStatus::Started);
    assert_eq!(reload(&mut conn, order.account_id).balance, Credits::ZERO);
    // Too early for the reconciler: its request might still be running.
    assert_eq!(reconcile_payments(&mut conn, &real, Utc::now()).unwrap(), 0);
    // Later, it asks the provider: charged, so credited — once.
    assert_eq!(
        reconcile_payments(&mut conn, &real, after_the_timeout()).unwrap(),
        1
    );
    assert_eq!(reload(&mut conn, order.account_id).balance, c("100"));
    let paid = orders::find(&mut conn, customer.database_id, order.id)
        .unwrap()
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    assert_eq!(receipts(&mut conn), 1);
    assert_eq!(
        reconcile_payments(&mut conn, &real, after_the_timeout()).unwrap(),
        0
    );
    // Paying again (a second tab) charges and credits nothing more.
    let again = orders::pay(&mut conn, customer.database_id, order.id, &card(), &real).unwrap();
    assert!(matches!(again, PaymentResult::AlreadyPaid(_)));
    assert_eq!(reload(&mut conn, order.account_id).balance, c("100"));
    assert_consistent(&mut conn);
}

#[test]
fn a_crash_before_the_provider_was_called_charges_nothing_and_the_order_stays_open() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let (customer, order) = standard_pack_order(&mut conn);
    let real = MockProvider::default();
    let crashing = CrashingProvider {
        real: real.clone(),
        after_charging: false,
    };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        orders::pay(
            &mut conn,
            customer.database_id,
            order.id,
            &card(),
            &crashing,
        )
    }));
    assert_eq!(
        reconcile_payments(&mut conn, &real, after_the_timeout()).unwrap(),
        1
    );
    let attempts = attempts_of(&mut conn, order.id).unwrap();
    assert_eq!(attempts[0].status, AttemptStatus::Failed);
    assert_eq!(reload(&mut conn, order.account_id).balance, Credits::ZERO);
    // The order can be paid.
    let paid = orders::pay(&mut conn, customer.database_id, order.id, &card(), &real).unwrap();
    assert!(matches!(paid, PaymentResult::Paid { .. }));
    assert_eq!(reload(&mut conn, order.account_id).balance, c("100"));
    assert_eq!(receipts(&mut conn), 1);
    assert_consistent(&mut conn);
}

#[test]
fn an_approved_charge_the_account_cannot_hold_goes_back_to_the_card() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let (customer, order) = standard_pack_order(&mut conn);
    // Fill the account up to 50 credits below the largest balance an account can hold.
    let most = 1_000
        * iap_credits::kernel::credits::MAX_CREDITS
        * iap_credits::kernel::credits::UNITS_PER_CREDIT;
    iap_credits::domain::ledger::grant(
        &mut conn,
        order.account_id,
        Credits::from_units(most - c("50").units()),
        iap_credits::domain::ledger::GrantKind::Adjustment,
        "test: nearly full",
        &iap_credits::domain::ledger::Actor::cli(),
    )
    .unwrap();
    let provider = MockProvider::default();
    let result = orders::pay(
        &mut conn,
        customer.database_id,
        order.id,
        &card(),
        &provider,
    )
    .unwrap();
    match result {
        PaymentResult::Declined { message, .. } => {
            assert!(
                message.contains("cannot hold these credits: refunded"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    let attempts = attempts_of(&mut conn, order.id).unwrap();
    assert_eq!(attempts[0].status, AttemptStatus::Refunded);
    let still = orders::find(&mut conn, customer.database_id, order.id)
        .unwrap()
        .unwrap();
    assert_eq!(still.status, OrderStatus::Pending);
    assert_eq!(receipts(&mut conn), 0);
    assert_consistent(&mut conn);
}

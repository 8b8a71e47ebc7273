//! The operator's tools without HTTP: dashboard figures against hand-computed ones, refunds
//! (limits, money, races, audit) and adjustments.

use std::sync::{Arc, Barrier};

use chrono::Utc;
use diesel::prelude::*;
use iap_credits::domain::audit::{self, AuditFilter};
use iap_credits::domain::catalog;
use iap_credits::domain::ledger::{self, Actor, accounts};
use iap_credits::domain::orders::refunds::{self, RefundError};
use iap_credits::domain::orders::{self, Order, OrderStatus};
use iap_credits::domain::payments::MockProvider;
use iap_credits::domain::tenancy::Subscription;
use iap_credits::kernel::credits::Credits;
use iap_credits::kernel::period::Period;
use iap_credits::read_models::operator_dashboard as stats;

use crate::fixtures::{self, Customer, c, spend};
use crate::harness::TestDb;

fn refundable(conn: &mut PgConnection, order: &Order) -> Credits {
    let order = orders::find(conn, order.database_id, order.id)
        .unwrap()
        .unwrap();
    refunds::refund_state(conn, &order).unwrap().refundable
}

#[test]
fn the_dashboard_figures_match_the_hand_computed_ones() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let alpha = Customer::named(&mut conn, "Alpha", Subscription::None);
    let beta = Customer::named(&mut conn, "Beta", Subscription::None);
    let alpha_sms = alpha.account(&mut conn, "sms");
    let beta_mail = beta.account(&mut conn, "snailmail");
    alpha.buy(&mut conn, &alpha_sms, "Standard Pack"); // 100 credits, 95.00 EUR
    let starter = alpha.buy(&mut conn, &alpha_sms, "Starter Pack"); // 10 credits, 10.00 EUR
    beta.buy(&mut conn, &beta_mail, "Starter Pack"); // 10 credits, 15.00 EUR
    spend(&mut conn, &alpha_sms, "12.5");
    let hold =
        ledger::authorize(&mut conn, alpha_sms.id, c("2"), None, "sms", &Actor::cli()).unwrap();
    ledger::capture(
        &mut conn,
        alpha_sms.id,
        hold.id,
        Some(c("1.5")),
        &Actor::cli(),
    )
    .unwrap();
    spend(&mut conn, &beta_mail, "3");
    let ops = fixtures::operator(&mut conn);
    refunds::refund_order(
        &mut conn,
        &ops,
        &MockProvider::default(),
        starter.id,
        c("4"),
        "asked",
    )
    .unwrap();
    // An order nobody paid, and an account below its threshold.
    let pack = catalog::active_packs(&mut conn, beta_mail.service_id)
        .unwrap()
        .remove(0);
    let waiting = orders::create_order(
        &mut conn,
        beta.database_id,
        beta_mail.id,
        pack.id,
        beta.admin_id,
    )
    .unwrap();
    diesel::update(iap_credits::platform::schema::iap_accounts::table.find(beta_mail.id))
        .set(iap_credits::platform::schema::iap_accounts::threshold.eq(c("10")))
        .execute(&mut conn)
        .unwrap();

    let today = Utc::now().date_naive();
    let d = stats::dashboard(&mut conn, Period::last_days(7, today)).unwrap();
    assert_eq!(d.currencies.len(), 1);
    let eur = &d.currencies[0];
    assert_eq!(
        (
            eur.currency.as_str(),
            eur.orders,
            eur.gross_minor,
            eur.refunded_minor
        ),
        ("EUR", 3, 9_500 + 1_000 + 1_500, 400)
    );
    assert_eq!(eur.net().to_string(), "116.00 EUR");

    let sms = d.services.iter().find(|s| s.service == "SMS").unwrap();
    assert_eq!(
        (
            sms.orders,
            sms.credits_sold,
            sms.credits_refunded,
            sms.credits_consumed
        ),
        (2, c("110"), c("4"), c("14"))
    );
    assert_eq!(sms.revenue_text(), "105.00 EUR");
    let mail = d
        .services
        .iter()
        .find(|s| s.service == "Snailmail")
        .unwrap();
    assert_eq!(
        (mail.credits_sold, mail.credits_consumed),
        (c("10"), c("3"))
    );
    assert_eq!(d.days.len(), 2, "two services active today");
    assert!(d.days.iter().all(|day| day.day == today));
    assert_eq!(d.daily_consumed["SMS"].last(), Some(&c("14")));
    assert_eq!(d.daily_consumed["SMS"].len(), 7);
    assert_eq!(d.daily_revenue_minor["EUR"].last(), Some(&12_000));

    let top: Vec<_> = d
        .top_consumers
        .iter()
        .map(|t| (t.database.as_str(), t.service.as_str(), t.consumed))
        .collect();
    assert_eq!(
        top,
        [("Alpha", "SMS", c("14")), ("Beta", "Snailmail", c("3"))]
    );
    assert_eq!(d.below_threshold.len(), 1);
    assert_eq!(d.below_threshold[0].available, c("7"));
    assert_eq!(d.pending_orders.len(), 1);
    assert_eq!(d.pending_orders[0].order_id, waiting.id);

    // A period before all of it is empty.
    let earlier = Period::new(
        today - chrono::Duration::days(40),
        today - chrono::Duration::days(10),
    )
    .unwrap();
    let empty = stats::dashboard(&mut conn, earlier).unwrap();
    assert!(empty.currencies.is_empty() && empty.services.is_empty());
}

#[test]
fn the_accounts_below_their_threshold_are_listed_latest_first_and_leave_when_refilled() {
    use iap_credits::platform::schema::iap_accounts;
    let db = TestDb::new();
    let mut conn = db.conn();
    let set_threshold = |conn: &mut PgConnection, account: &ledger::IapAccount, credits: &str| {
        diesel::update(iap_accounts::table.find(account.id))
            .set(iap_accounts::threshold.eq(c(credits)))
            .execute(conn)
            .unwrap();
    };
    let below = |conn: &mut PgConnection| -> Vec<String> {
        let today = Utc::now().date_naive();
        stats::dashboard(conn, Period::last_days(7, today))
            .unwrap()
            .below_threshold
            .iter()
            .map(|a| format!("{} {}", a.database, a.available))
            .collect()
    };
    let alpha =
        Customer::named(&mut conn, "Alpha", Subscription::None).funded(&mut conn, "sms", "20");
    let beta =
        Customer::named(&mut conn, "Beta", Subscription::None).funded(&mut conn, "sms", "20");
    // A threshold set above the balance puts the account on the list; one below does not.
    set_threshold(&mut conn, &alpha, "25");
    set_threshold(&mut conn, &beta, "5");
    assert_eq!(below(&mut conn), ["Alpha 20.0000"]);
    // A charge that crosses it adds Beta, the latest, first; one that does not changes nothing.
    spend(&mut conn, &beta, "14");
    assert_eq!(below(&mut conn), ["Alpha 20.0000"]);
    spend(&mut conn, &beta, "2");
    assert_eq!(below(&mut conn), ["Beta 4.0000", "Alpha 20.0000"]);
    let since = |conn: &mut PgConnection| -> Vec<chrono::DateTime<Utc>> {
        let today = Utc::now().date_naive();
        stats::dashboard(conn, Period::last_days(7, today))
            .unwrap()
            .below_threshold
            .iter()
            .map(|a| a.below_since)
            .collect()
    };
    let first = since(&mut conn);
    // Spending more while below keeps the time it went below.
    spend(&mut conn, &beta, "1");
    assert_eq!(since(&mut conn), first);
    // Refilled to the threshold: off the list. A threshold of 0 (Warn Me off) is never below.
    ledger::grant(
        &mut conn,
        alpha.id,
        c("5"),
        ledger::GrantKind::Adjustment,
        "refill",
        &Actor::cli(),
    )
    .unwrap();
    set_threshold(&mut conn, &beta, "0");
    assert!(below(&mut conn).is_empty());
    // A hold counts: it takes from the available credits.
    ledger::authorize(&mut conn, alpha.id, c("1"), None, "hold", &Actor::cli()).unwrap();
    assert_eq!(below(&mut conn), ["Alpha 24.0000"]);
}

#[test]
fn a_fully_used_pack_has_nothing_to_refund_a_partly_used_one_its_unused_part() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let ops = fixtures::operator(&mut conn);
    let who = Customer::named(&mut conn, "Gamma", Subscription::None);
    let sms = who.account(&mut conn, "sms");
    let starter = who.buy(&mut conn, &sms, "Starter Pack");
    spend(&mut conn, &sms, "10");
    assert_eq!(refundable(&mut conn, &starter), Credits::ZERO);
    let refused = refunds::refund_order(
        &mut conn,
        &ops,
        &MockProvider::default(),
        starter.id,
        c("1"),
        "sorry",
    );
    assert!(matches!(refused, Err(RefundError::TooMuch(z)) if z == Credits::ZERO));

    let standard = who.buy(&mut conn, &sms, "Standard Pack");
    spend(&mut conn, &sms, "30");
    assert_eq!(refundable(&mut conn, &standard), c("70"));
    let too_much = refunds::refund_order(
        &mut conn,
        &ops,
        &MockProvider::default(),
        standard.id,
        c("70.0001"),
        "x",
    );
    assert!(matches!(too_much, Err(RefundError::TooMuch(r)) if r == c("70")));
    let blank = refunds::refund_order(
        &mut conn,
        &ops,
        &MockProvider::default(),
        standard.id,
        c("1"),
        " ",
    );
    assert!(matches!(blank, Err(RefundError::MissingReason)));

    let refund = refunds::refund_order(
        &mut conn,
        &ops,
        &MockProvider::default(),
        standard.id,
        c("70"),
        "unused",
    )
    .unwrap();
    assert_eq!(refund.amount().to_string(), "66.50 EUR", "70% of 95.00");
    let order = orders::find(&mut conn, who.database_id, standard.id)
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::PartlyRefunded);
    assert_eq!(refundable(&mut conn, &standard), Credits::ZERO);
    let account = accounts::by_id(&mut conn, sms.id).unwrap().unwrap();
    assert_eq!(account.balance, Credits::ZERO);
    let report = ledger::verify::verify_ledger(&mut conn).unwrap();
    assert!(report.is_consistent());

    // The audit log says who, what and why.
    let entries = audit::list(
        &mut conn,
        &AuditFilter {
            subject: format!("order:{}", standard.id),
            ..AuditFilter::default()
        },
        10,
    )
    .unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(
        (
            entry.operator_email.as_str(),
            entry.action.as_str(),
            entry.reason.as_deref()
        ),
        ("ops@platform.test", "order.refund", Some("unused"))
    );
    assert_eq!(entry.before.as_ref().unwrap()["status"], "paid");
    assert_eq!(entry.after.as_ref().unwrap()["status"], "partly_refunded");
    assert_eq!(entry.after.as_ref().unwrap()["refund_amount"], "66.50 EUR");
    // Append-only.
    assert!(
        diesel::sql_query("DELETE FROM audit_log")
            .execute(&mut conn)
            .is_err()
    );
}

#[test]
fn credits_are_spent_oldest_first_so_trial_and_older_packs_go_first() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let ops = fixtures::operator(&mut conn);
    let who = Customer::named(&mut conn, "Delta", Subscription::Enterprise); // 10 trial SMS credits
    let sms = who.account(&mut conn, "sms");
    assert_eq!(sms.balance, c("10"));
    let first = who.buy(&mut conn, &sms, "Standard Pack"); // 100
    let second = who.buy(&mut conn, &sms, "Starter Pack"); // 10
    spend(&mut conn, &sms, "50"); // the 10 trial credits, then 40 of the first pack
    assert_eq!(refundable(&mut conn, &first), c("60"));
    assert_eq!(refundable(&mut conn, &second), c("10"));
    // Refunding the second pack leaves the first one's figure alone.
    refunds::refund_order(
        &mut conn,
        &ops,
        &MockProvider::default(),
        second.id,
        c("10"),
        "dup",
    )
    .unwrap();
    assert_eq!(refundable(&mut conn, &first), c("60"));
    let order = orders::find(&mut conn, who.database_id, second.id)
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::Refunded);
    // A full refund in steps returns exactly the price.
    let a = refunds::refund_order(
        &mut conn,
        &ops,
        &MockProvider::default(),
        first.id,
        c("30"),
        "a",
    )
    .unwrap();
    let b = refunds::refund_order(
        &mut conn,
        &ops,
        &MockProvider::default(),
        first.id,
        c("30"),
        "b",
    )
    .unwrap();
    assert_eq!(a.amount_minor + b.amount_minor, 9_500 * 60 / 100);
}

#[test]
fn concurrent_refunds_of_one_order_take_its_credits_back_once() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let ops = fixtures::operator(&mut conn);
    let who = Customer::named(&mut conn, "Epsilon", Subscription::None);
    let sms = who.account(&mut conn, "sms");
    let order = who.buy(&mut conn, &sms, "Standard Pack");
    let barrier = Arc::new(Barrier::new(6));
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let (barrier, db, ops) = (barrier.clone(), &db, ops.clone());
                s.spawn(move || {
                    let mut conn = db.conn();
                    barrier.wait();
                    refunds::refund_order(
                        &mut conn,
                        &ops,
                        &MockProvider::default(),
                        order.id,
                        c("100"),
                        "x",
                    )
                    .is_ok()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|ok| **ok).count(), 1);
    let account = accounts::by_id(&mut conn, sms.id).unwrap().unwrap();
    assert_eq!(account.balance, Credits::ZERO);
}

#[test]
fn adjustments_never_go_below_zero_and_are_audited() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let ops = fixtures::operator(&mut conn);
    let who = Customer::named(&mut conn, "Zeta", Subscription::None);
    let sms = who.account(&mut conn, "sms");
    use iap_credits::domain::ledger::adjustments;
    adjustments::adjust_by_operator(&mut conn, &ops, sms.id, c("5").units(), "goodwill").unwrap();
    let hold = ledger::authorize(&mut conn, sms.id, c("2"), None, "sms", &Actor::cli()).unwrap();
    let too_much =
        adjustments::adjust_by_operator(&mut conn, &ops, sms.id, -c("3.5").units(), "fix");
    assert!(
        matches!(too_much, Err(ledger::LedgerError::InsufficientCredits { available, .. }) if available == c("3")),
        "held credits cannot be removed"
    );
    let no_reason = adjustments::adjust_by_operator(&mut conn, &ops, sms.id, -c("1").units(), "  ");
    assert!(matches!(no_reason, Err(ledger::LedgerError::MissingReason)));
    adjustments::adjust_by_operator(&mut conn, &ops, sms.id, -c("3").units(), "duplicate grant")
        .unwrap();
    ledger::cancel(&mut conn, sms.id, hold.id, &Actor::cli()).unwrap();
    let account = accounts::by_id(&mut conn, sms.id).unwrap().unwrap();
    assert_eq!(account.balance, c("2"));
    let entries = audit::list(
        &mut conn,
        &AuditFilter {
            action: "account.".into(),
            ..AuditFilter::default()
        },
        10,
    )
    .unwrap();
    assert_eq!(entries.len(), 2, "refused adjustments leave no audit entry");
    assert_eq!(entries[0].reason.as_deref(), Some("duplicate grant"));
    assert_eq!(entries[0].before.as_ref().unwrap()["available"], "3.0000");
    assert_eq!(entries[0].after.as_ref().unwrap()["balance"], "2.0000");
    assert_eq!(entries[0].subject, format!("account:{}", sms.id));
}

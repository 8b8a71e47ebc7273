//! The ledger's operations against real PostgreSQL: trial credits, charges, holds, expiry,
//! constraints, the verifier and idempotency.

use std::time::Duration;

use diesel::prelude::*;
use iap_credits::domain::ledger::idempotency::{self, Outcome, StoredResponse};
use iap_credits::domain::ledger::verify::verify_ledger;
use iap_credits::domain::ledger::{
    self, Actor, EntryKind, HoldStatus, IapAccount, LedgerError, accounts, entries,
};
use iap_credits::domain::tenancy::Subscription;
use iap_credits::kernel::credits::Credits;

use crate::fixtures::{Customer, assert_consistent, c, expire_hold_now, reload, sms_account};
use crate::harness::TestDb;

/// A new customer's account of `service`.
fn account(conn: &mut PgConnection, subscription: Subscription, service: &str) -> IapAccount {
    Customer::new(conn, subscription).account(conn, service)
}

/// A new customer's SMS account holding `credits`.

#[test]
fn eligible_databases_get_trial_credits_once() {
    let db = TestDb::new();
    let mut conn = db.conn();
    for subscription in [
        Subscription::Enterprise,
        Subscription::Demo,
        Subscription::Educational,
        Subscription::OneAppFree,
    ] {
        let a = account(&mut conn, subscription, "sms");
        assert_eq!(a.balance, c("10"), "{subscription}");
        let again = accounts::get_or_create(&mut conn, a.database_id, a.service_id).unwrap();
        assert_eq!((again.id, again.balance), (a.id, c("10")));
        let history = entries::history(&mut conn, a.id, None, 10).unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].kind, EntryKind::Trial);
    }
    let none = account(&mut conn, Subscription::None, "sms");
    assert_eq!(none.balance, Credits::ZERO);
    assert!(
        entries::history(&mut conn, none.id, None, 10)
            .unwrap()
            .is_empty()
    );
    assert!(none.token.len() >= 43);
    assert_consistent(&mut conn);
}

#[test]
fn a_charge_beyond_the_available_credits_is_refused_and_changes_nothing() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let a = sms_account(&mut conn, "1.5");
    let entry =
        ledger::charge(&mut conn, a.id, c("0.0425"), "SMS to BE", &Actor::api(a.id)).unwrap();
    assert_eq!(entry.amount, Credits::from_units(-425));
    assert_eq!(entry.balance_after, c("1.4575"));
    match ledger::charge(&mut conn, a.id, c("2"), "too much", &Actor::api(a.id)) {
        Err(LedgerError::InsufficientCredits {
            account_id,
            service_slug,
            available,
            requested,
        }) => {
            assert_eq!((account_id, service_slug.as_str()), (a.id, "sms"));
            assert_eq!((available, requested), (c("1.4575"), c("2")));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        ledger::charge(&mut conn, a.id, Credits::ZERO, "", &Actor::cli()),
        Err(LedgerError::ZeroAmount)
    ));
    assert_eq!(reload(&mut conn, a.id).balance, c("1.4575"));
    assert_eq!(
        entries::history(&mut conn, a.id, None, 10).unwrap().len(),
        2
    );
    assert_consistent(&mut conn);
}

#[test]
fn a_hold_reserves_then_capture_posts_part_and_releases_the_rest() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let a = sms_account(&mut conn, "10");
    let hold =
        ledger::authorize(&mut conn, a.id, c("4"), None, "3 SMS", &Actor::api(a.id)).unwrap();
    let ttl = hold.expires_at - hold.created_at;
    assert!(
        (599..=601).contains(&ttl.num_seconds()),
        "default 10 minutes: {ttl}"
    );
    let held = reload(&mut conn, a.id);
    assert_eq!(
        (held.balance, held.reserved, held.available()),
        (c("10"), c("4"), c("6"))
    );
    assert!(matches!(
        ledger::charge(&mut conn, a.id, c("6.0001"), "", &Actor::cli()),
        Err(LedgerError::InsufficientCredits { .. })
    ));
    assert!(matches!(
        ledger::capture(&mut conn, a.id, hold.id, Some(c("4.0001")), &Actor::cli()),
        Err(LedgerError::CaptureExceedsHold { .. })
    ));
    let (hold, written) =
        ledger::capture(&mut conn, a.id, hold.id, Some(c("2.5")), &Actor::cli()).unwrap();
    assert_eq!(
        (hold.status, hold.captured),
        (HoldStatus::Captured, c("2.5"))
    );
    let kinds: Vec<EntryKind> = written.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EntryKind::Capture, EntryKind::Release]);
    let after = reload(&mut conn, a.id);
    assert_eq!((after.balance, after.reserved), (c("7.5"), Credits::ZERO));
    assert!(matches!(
        ledger::capture(&mut conn, a.id, hold.id, None, &Actor::cli()),
        Err(LedgerError::HoldClosed(HoldStatus::Captured))
    ));
    assert!(matches!(
        ledger::cancel(&mut conn, a.id, hold.id, &Actor::cli()),
        Err(LedgerError::HoldClosed(HoldStatus::Captured))
    ));
    assert_consistent(&mut conn);
}

#[test]
fn cancel_releases_everything_and_is_harmless_twice() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let a = sms_account(&mut conn, "5");
    let hold = ledger::authorize(
        &mut conn,
        a.id,
        c("5"),
        Some(Duration::from_secs(60)),
        "",
        &Actor::cli(),
    )
    .unwrap();
    assert_eq!(reload(&mut conn, a.id).available(), Credits::ZERO);
    assert_eq!(
        ledger::cancel(&mut conn, a.id, hold.id, &Actor::cli())
            .unwrap()
            .status,
        HoldStatus::Cancelled
    );
    assert_eq!(
        ledger::cancel(&mut conn, a.id, hold.id, &Actor::cli())
            .unwrap()
            .status,
        HoldStatus::Cancelled
    );
    assert!(matches!(
        ledger::capture(&mut conn, a.id, hold.id, None, &Actor::cli()),
        Err(LedgerError::HoldClosed(HoldStatus::Cancelled))
    ));
    let after = reload(&mut conn, a.id);
    assert_eq!((after.balance, after.reserved), (c("5"), Credits::ZERO));
    // Another account cannot touch this hold.
    let other = sms_account(&mut conn, "1");
    assert!(matches!(
        ledger::cancel(&mut conn, other.id, hold.id, &Actor::cli()),
        Err(LedgerError::HoldNotFound)
    ));
    assert!(matches!(
        ledger::authorize(
            &mut conn,
            a.id,
            c("1"),
            Some(Duration::from_secs(181 * 86_400)),
            "",
            &Actor::cli()
        ),
        Err(LedgerError::InvalidExpiry)
    ));
    assert_consistent(&mut conn);
}

#[test]
fn an_expired_hold_is_released_and_cannot_be_captured() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let a = sms_account(&mut conn, "3");
    let hold = ledger::authorize(&mut conn, a.id, c("2"), None, "", &Actor::cli()).unwrap();
    expire_hold_now(&mut conn, hold.id);
    assert!(matches!(
        ledger::capture(&mut conn, a.id, hold.id, None, &Actor::cli()),
        Err(LedgerError::HoldExpired)
    ));
    let after = reload(&mut conn, a.id);
    assert_eq!((after.balance, after.reserved), (c("3"), Credits::ZERO));
    let newest = &entries::history(&mut conn, a.id, None, 1).unwrap()[0];
    assert_eq!(
        (newest.kind, newest.hold_id),
        (EntryKind::Expiry, Some(hold.id))
    );

    // The sweeper releases holds of accounts nobody touches.
    let hold = ledger::authorize(&mut conn, a.id, c("1"), None, "", &Actor::cli()).unwrap();
    expire_hold_now(&mut conn, hold.id);
    assert_eq!(reload(&mut conn, a.id).reserved, c("1"), "not yet swept");
    assert_eq!(ledger::expire_due_holds(&mut conn).unwrap(), 1);
    assert_eq!(reload(&mut conn, a.id).reserved, Credits::ZERO);
    assert_eq!(ledger::expire_due_holds(&mut conn).unwrap(), 0);
    assert_consistent(&mut conn);
}

#[test]
fn adjustments_need_a_reason_and_never_go_below_zero() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let a = sms_account(&mut conn, "2");
    assert!(matches!(
        ledger::adjust(&mut conn, a.id, -10_000, " ", &Actor::cli()),
        Err(LedgerError::MissingReason)
    ));
    assert!(matches!(
        ledger::adjust(&mut conn, a.id, -20_001, "too far", &Actor::cli()),
        Err(LedgerError::InsufficientCredits { .. })
    ));
    let entry = ledger::adjust(&mut conn, a.id, -20_000, "to zero", &Actor::cli()).unwrap();
    assert_eq!(entry.balance_after, Credits::ZERO);
    assert_consistent(&mut conn);
}

#[test]
fn the_database_itself_forbids_negative_balances_and_ledger_edits() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let a = sms_account(&mut conn, "1");
    let id = a.id.to_string();
    for statement in [
        format!("UPDATE iap_accounts SET balance = -1, reserved = 0 WHERE id = {id}"),
        format!("UPDATE iap_accounts SET reserved = -1 WHERE id = {id}"),
        format!("UPDATE iap_accounts SET reserved = balance + 1 WHERE id = {id}"),
        format!("UPDATE ledger_entries SET amount = 0 WHERE account_id = {id}"),
        format!("DELETE FROM ledger_entries WHERE account_id = {id}"),
        "TRUNCATE ledger_entries CASCADE".to_string(),
    ] {
        assert!(
            diesel::sql_query(&statement).execute(&mut conn).is_err(),
            "{statement}"
        );
    }
    assert_consistent(&mut conn);
}

#[test]
fn verify_ledger_finds_a_balance_changed_behind_its_back() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let a = sms_account(&mut conn, "5");
    assert_consistent(&mut conn);
    diesel::sql_query(format!(
        "UPDATE iap_accounts SET balance = balance + 1 WHERE id = {}",
        a.id
    ))
    .execute(&mut conn)
    .unwrap();
    let report = verify_ledger(&mut conn).unwrap();
    assert_eq!(report.discrepancies.len(), 1);
    assert_eq!(report.discrepancies[0].account_id, a.id);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .arg("verify-ledger")
        .envs(db.env())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inconsistent for 1 of"));
}

#[test]
fn an_idempotency_key_has_one_effect_and_refuses_another_request() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let a = sms_account(&mut conn, "10");
    let run = |conn: &mut PgConnection, request: &str| {
        idempotency::run_once(conn, "test", "key-1", request, |conn| {
            let entry = ledger::charge(conn, a.id, c("1"), "", &Actor::cli())?;
            Ok::<_, LedgerError>(StoredResponse {
                status: 201,
                body: entry.balance_after.to_string(),
            })
        })
        .unwrap()
    };
    let first = run(&mut conn, "charge 1");
    assert_eq!(
        first,
        Outcome::Fresh(StoredResponse {
            status: 201,
            body: "9.0000".into()
        })
    );
    assert_eq!(
        run(&mut conn, "charge 1"),
        Outcome::Replayed(StoredResponse {
            status: 201,
            body: "9.0000".into()
        })
    );
    assert_eq!(run(&mut conn, "charge 2"), Outcome::Conflict);
    assert_eq!(reload(&mut conn, a.id).balance, c("9"));
}

#[test]
fn the_past_is_written_in_order_and_never_below_zero() {
    use chrono::{Duration as Days, Utc};
    use iap_credits::domain::ledger::history::{self, PastEntry};
    use iap_credits::domain::metering::{self, JobStatus};
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let sms = iap_credits::domain::catalog::service_by_slug(&mut conn, "sms")
        .unwrap()
        .unwrap();
    let start = Utc::now() - Days::days(10);
    let opened = history::open_account_at(&mut conn, customer.database_id, sms.id, start)
        .unwrap()
        .unwrap();
    // Only into an account that has no past yet.
    assert!(
        history::open_account_at(&mut conn, customer.database_id, sms.id, start)
            .unwrap()
            .is_none()
    );
    let entry = |days: i64, kind: EntryKind, amount: &str| {
        PastEntry::posted(
            start + Days::days(days),
            kind,
            // Signed: "-1.25" is 1.25 credits out.
            amount
                .strip_prefix('-')
                .map_or_else(|| c(amount), |out| Credits::from_units(-c(out).units())),
            None,
            "system:test".into(),
            "past".into(),
        )
    };
    let rows = |conn: &mut PgConnection| -> i64 {
        iap_credits::platform::schema::ledger_entries::table
            .count()
            .get_result(conn)
            .unwrap()
    };
    // A charge the balance cannot cover on the way refuses the whole history.
    let short = [
        entry(1, EntryKind::Adjustment, "5"),
        entry(2, EntryKind::Charge, "-6"),
        entry(3, EntryKind::Adjustment, "10"),
    ];
    assert!(matches!(
        history::write_past(&mut conn, &opened, &short),
        Err(LedgerError::InsufficientCredits { .. })
    ));
    // So does a history out of order.
    let shuffled = [
        entry(2, EntryKind::Adjustment, "5"),
        entry(1, EntryKind::Charge, "-1"),
    ];
    assert!(history::write_past(&mut conn, &opened, &shuffled).is_err());
    assert_eq!(rows(&mut conn), 0);
    assert_eq!(reload(&mut conn, opened.id).balance, Credits::ZERO);

    let fine = [
        entry(1, EntryKind::Adjustment, "5"),
        entry(2, EntryKind::Charge, "-1.25"),
        entry(3, EntryKind::Charge, "-0.75"),
    ];
    let written = history::write_past(&mut conn, &opened, &fine).unwrap();
    assert_eq!(written.balance, c("3"));
    assert_eq!(written.entry_ids.len(), 3);
    assert_eq!(reload(&mut conn, opened.id).balance, c("3"));
    let last = entries::history(&mut conn, opened.id, None, 10).unwrap();
    assert_eq!(last[0].balance_after, c("3"));
    assert_eq!(
        last[0].created_at.date_naive(),
        (start + Days::days(3)).date_naive()
    );

    // A paid service's past use: held, then captured in full, its job done.
    let used = |days: i64, price: &str| history::PastUse {
        at: start + Days::days(days),
        finished_at: start + Days::days(days) + Days::seconds(15),
        price: c(price),
        actor: "system:test".into(),
        description: "past use".into(),
    };
    let jobs = metering::history::done_in_past(&mut conn, &opened, &[used(4, "2")]).unwrap();
    history::write_past(&mut conn, &opened, &jobs[0].entries).unwrap();
    let account = reload(&mut conn, opened.id);
    assert_eq!((account.balance, account.reserved), (c("1"), Credits::ZERO));
    let last = entries::history(&mut conn, opened.id, None, 2).unwrap();
    assert_eq!(
        last.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EntryKind::Capture, EntryKind::Hold]
    );
    assert_eq!(last[0].hold_id, last[1].hold_id);
    assert_eq!(last[1].reserved_after, c("2"));
    let job = metering::jobs::find(&mut conn, jobs[0].job_id)
        .unwrap()
        .unwrap();
    assert_eq!((job.status, job.used), (JobStatus::Done, Some(c("2"))));
    // A use the balance cannot hold is refused, and nothing of it stays.
    let refused: Result<(), LedgerError> = conn.transaction(|conn| {
        let jobs = metering::history::done_in_past(conn, &opened, &[used(5, "1.5")])
            .map_err(|_| LedgerError::HoldNotFound)?;
        history::write_past(conn, &opened, &jobs[0].entries).map(drop)
    });
    assert!(matches!(
        refused,
        Err(LedgerError::InsufficientCredits { .. })
    ));
    assert_eq!(rows(&mut conn), 5);
    assert_consistent(&mut conn);
}

//! The ledger's operations against real PostgreSQL: trial credits, charges, holds, expiry,
//! constraints, the verifier, idempotency, races and a model-based property test.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use diesel::prelude::*;
use iap_credits::catalog;
use iap_credits::credits::Credits;
use iap_credits::ledger::idempotency::{self, Outcome, StoredResponse};
use iap_credits::ledger::verify::verify_ledger;
use iap_credits::ledger::{
    self, Actor, EntryKind, GrantKind, HoldStatus, IapAccount, LedgerError, accounts, entries,
};
use iap_credits::tenancy::{self, Subscription};

use crate::harness::TestDb;

fn c(text: &str) -> Credits {
    Credits::parse(text).unwrap()
}

/// A new customer database with its account for `service`.
fn account(conn: &mut PgConnection, subscription: Subscription, service: &str) -> IapAccount {
    let name = format!("Customer {}", rand::random::<u32>());
    let db = tenancy::create_database(conn, &name, subscription).unwrap();
    let service = catalog::service_by_slug(conn, service).unwrap().unwrap();
    accounts::get_or_create(conn, db.id, service.id).unwrap()
}

fn reload(conn: &mut PgConnection, id: i64) -> IapAccount {
    accounts::by_id(conn, id).unwrap().unwrap()
}

fn funded(conn: &mut PgConnection, credits: &str) -> IapAccount {
    let a = account(conn, Subscription::None, "sms");
    ledger::grant(
        conn,
        a.id,
        c(credits),
        GrantKind::Adjustment,
        "test funds",
        &Actor::cli(),
    )
    .unwrap();
    reload(conn, a.id)
}

fn assert_consistent(conn: &mut PgConnection) {
    let report = verify_ledger(conn).unwrap();
    assert!(report.is_consistent(), "{:?}", report.discrepancies);
}

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
    let a = funded(&mut conn, "1.5");
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
    let a = funded(&mut conn, "10");
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
    let a = funded(&mut conn, "5");
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
    let other = funded(&mut conn, "1");
    assert!(matches!(
        ledger::cancel(&mut conn, other.id, hold.id, &Actor::cli()),
        Err(LedgerError::HoldNotFound)
    ));
    assert!(matches!(
        ledger::authorize(
            &mut conn,
            a.id,
            c("1"),
            Some(Duration::from_secs(31 * 86_400)),
            "",
            &Actor::cli()
        ),
        Err(LedgerError::InvalidExpiry)
    ));
    assert_consistent(&mut conn);
}

fn expire_now(conn: &mut PgConnection, hold_id: i64) {
    diesel::sql_query("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind::<diesel::sql_types::BigInt, _>(hold_id)
        .execute(conn)
        .unwrap();
}

#[test]
fn an_expired_hold_is_released_and_cannot_be_captured() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let a = funded(&mut conn, "3");
    let hold = ledger::authorize(&mut conn, a.id, c("2"), None, "", &Actor::cli()).unwrap();
    expire_now(&mut conn, hold.id);
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
    expire_now(&mut conn, hold.id);
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
    let a = funded(&mut conn, "2");
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
    let a = funded(&mut conn, "1");
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
    let a = funded(&mut conn, "5");
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
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inconsistent for 1 of"));
}

#[test]
fn an_idempotency_key_has_one_effect_and_refuses_another_request() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let a = funded(&mut conn, "10");
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
fn concurrent_retries_with_one_key_have_one_effect() {
    let db = TestDb::new();
    let a = funded(&mut db.conn(), "100");
    let barrier = Arc::new(Barrier::new(16));
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let barrier = barrier.clone();
                let mut conn = db.conn();
                s.spawn(move || {
                    barrier.wait();
                    idempotency::run_once(&mut conn, "test", "same", "charge 1", |conn| {
                        ledger::charge(conn, a.id, c("1"), "", &Actor::cli())?;
                        Ok::<_, LedgerError>(StoredResponse {
                            status: 201,
                            body: String::new(),
                        })
                    })
                    .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let fresh = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Fresh(_)))
        .count();
    assert_eq!(fresh, 1, "{outcomes:?}");
    assert_eq!(reload(&mut db.conn(), a.id).balance, c("99"));
}

#[test]
fn racing_charges_and_holds_never_overspend() {
    let db = TestDb::new();
    let a = funded(&mut db.conn(), "20");
    let threads = 40;
    let barrier = Arc::new(Barrier::new(threads));
    let outcomes: Vec<(bool, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let barrier = barrier.clone();
                let mut conn = db.conn();
                s.spawn(move || {
                    barrier.wait();
                    let is_charge = i % 2 == 0;
                    let result = if is_charge {
                        ledger::charge(&mut conn, a.id, c("1"), "race", &Actor::cli()).map(|_| ())
                    } else {
                        ledger::authorize(&mut conn, a.id, c("1"), None, "race", &Actor::cli())
                            .map(|_| ())
                    };
                    match result {
                        Ok(()) => (is_charge, true),
                        Err(LedgerError::InsufficientCredits { .. }) => (is_charge, false),
                        Err(e) => panic!("{e}"),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let charged = outcomes
        .iter()
        .filter(|(charge, ok)| *charge && *ok)
        .count() as i64;
    let held = outcomes
        .iter()
        .filter(|(charge, ok)| !*charge && *ok)
        .count() as i64;
    assert_eq!(charged + held, 20, "exactly the funded ones succeed");
    let after = reload(&mut db.conn(), a.id);
    assert_eq!(after.balance, Credits::whole(20 - charged));
    assert_eq!(after.reserved, Credits::whole(held));
    assert_eq!(after.available(), Credits::ZERO);
    assert_consistent(&mut db.conn());
}

mod model {
    //! A simple in-memory model of one account, and random sequences of operations applied
    //! to it and to the database alike.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    pub enum Op {
        Grant(i64),
        Charge(i64),
        Authorize(i64),
        Capture(usize, Option<i64>),
        Cancel(usize),
        Expire(usize),
        Debit(i64),
    }

    fn units() -> impl Strategy<Value = i64> {
        prop_oneof![1i64..=50_000, Just(10_000), Just(1)]
    }

    pub fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            units().prop_map(Op::Grant),
            units().prop_map(Op::Charge),
            units().prop_map(Op::Authorize),
            (0usize..8, proptest::option::of(0i64..=60_000)).prop_map(|(i, c)| Op::Capture(i, c)),
            (0usize..8).prop_map(Op::Cancel),
            (0usize..8).prop_map(Op::Expire),
            units().prop_map(Op::Debit),
        ]
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum St {
        Active { due: bool },
        Captured,
        Cancelled,
        Expired,
    }

    #[derive(Default, Debug)]
    struct Model {
        balance: i64,
        reserved: i64,
        holds: Vec<(i64, i64, St)>, // (id, amount, status)
    }

    impl Model {
        fn available(&self) -> i64 {
            self.balance - self.reserved
        }
        /// What every operation does first: release due holds.
        fn touch(&mut self) {
            for h in &mut self.holds {
                if h.2 == (St::Active { due: true }) {
                    h.2 = St::Expired;
                    self.reserved -= h.1;
                }
            }
        }
    }

    /// The outcome's name, to compare errors between model and database.
    fn name<T>(r: &Result<T, LedgerError>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(LedgerError::InsufficientCredits { .. }) => "insufficient",
            Err(LedgerError::HoldExpired) => "expired",
            Err(LedgerError::HoldClosed(_)) => "closed",
            Err(LedgerError::CaptureExceedsHold { .. }) => "exceeds",
            Err(LedgerError::ZeroAmount) => "zero",
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    pub fn run(db: &TestDb, ops: &[Op]) {
        let mut conn = db.conn();
        let a = account(&mut conn, Subscription::None, "sms");
        let mut m = Model::default();
        let actor = Actor::cli();
        for op in ops {
            let (got, want): (&str, &str) = match op {
                Op::Grant(u) => {
                    m.touch();
                    m.balance += u;
                    (
                        name(&ledger::grant(
                            &mut conn,
                            a.id,
                            Credits::from_units(*u),
                            GrantKind::Adjustment,
                            "model",
                            &actor,
                        )),
                        "ok",
                    )
                }
                Op::Charge(u) | Op::Debit(u) => {
                    m.touch();
                    let want = if m.available() >= *u {
                        m.balance -= u;
                        "ok"
                    } else {
                        "insufficient"
                    };
                    let got = match op {
                        Op::Charge(_) => name(&ledger::charge(
                            &mut conn,
                            a.id,
                            Credits::from_units(*u),
                            "",
                            &actor,
                        )),
                        _ => name(&ledger::adjust(&mut conn, a.id, -u, "model", &actor)),
                    };
                    (got, want)
                }
                Op::Authorize(u) => {
                    m.touch();
                    let result = ledger::authorize(
                        &mut conn,
                        a.id,
                        Credits::from_units(*u),
                        None,
                        "",
                        &actor,
                    );
                    let want = if m.available() >= *u {
                        m.reserved += u;
                        m.holds.push((
                            result.as_ref().map(|h| h.id).unwrap_or(-1),
                            *u,
                            St::Active { due: false },
                        ));
                        "ok"
                    } else {
                        "insufficient"
                    };
                    (name(&result), want)
                }
                Op::Capture(..) | Op::Cancel(_) | Op::Expire(_) if m.holds.is_empty() => continue,
                Op::Capture(i, amount) => {
                    m.touch();
                    let idx = i % m.holds.len();
                    let (id, held, st) = m.holds[idx];
                    let want = match st {
                        St::Active { .. } => match amount {
                            Some(c) if *c > held => "exceeds",
                            _ => {
                                let c = amount.unwrap_or(held);
                                m.balance -= c;
                                m.reserved -= held;
                                m.holds[idx].2 = St::Captured;
                                "ok"
                            }
                        },
                        St::Expired => "expired",
                        St::Captured | St::Cancelled => "closed",
                    };
                    (
                        name(&ledger::capture(
                            &mut conn,
                            a.id,
                            id,
                            amount.map(Credits::from_units),
                            &actor,
                        )),
                        want,
                    )
                }
                Op::Cancel(i) => {
                    m.touch();
                    let idx = i % m.holds.len();
                    let (id, held, st) = m.holds[idx];
                    let want = match st {
                        St::Active { .. } => {
                            m.reserved -= held;
                            m.holds[idx].2 = St::Cancelled;
                            "ok"
                        }
                        St::Expired | St::Cancelled => "ok",
                        St::Captured => "closed",
                    };
                    (name(&ledger::cancel(&mut conn, a.id, id, &actor)), want)
                }
                Op::Expire(i) => {
                    let idx = i % m.holds.len();
                    if let St::Active { .. } = m.holds[idx].2 {
                        m.holds[idx].2 = St::Active { due: true };
                        expire_now(&mut conn, m.holds[idx].0);
                    }
                    ("ok", "ok")
                }
            };
            assert_eq!(got, want, "after {op:?}; model {m:?}");
            let row = reload(&mut conn, a.id);
            assert_eq!(
                (row.balance.units(), row.reserved.units()),
                (m.balance, m.reserved),
                "after {op:?}"
            );
        }
        assert_consistent(&mut conn);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn the_database_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..40)) {
            let db = TestDb::new();
            run(&db, &ops);
        }
    }
}

//! The ledger under concurrency and at random: retries of one key racing, charges and holds
//! racing for the same credits, and a model-based property test of random operation sequences.

use std::sync::{Arc, Barrier};

use iap_credits::domain::ledger::idempotency::{self, Outcome, StoredResponse};
use iap_credits::domain::ledger::{self, Actor, GrantKind, LedgerError};
use iap_credits::domain::tenancy::Subscription;
use iap_credits::kernel::credits::Credits;
use iap_credits::kernel::ids::HoldId;

use crate::fixtures::{Customer, assert_consistent, c, expire_hold_now, reload, sms_account};
use crate::harness::TestDb;

/// A new customer's SMS account holding `credits`.

#[test]
fn concurrent_retries_with_one_key_have_one_effect() {
    let db = TestDb::new();
    let a = sms_account(&mut db.conn(), "100");
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
    let a = sms_account(&mut db.conn(), "20");
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
        holds: Vec<(HoldId, i64, St)>, // (id, amount, status)
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
        let a = Customer::new(&mut conn, Subscription::None).account(&mut conn, "sms");
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
                            result.as_ref().map(|h| h.id).unwrap_or(HoldId(-1)),
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
                        expire_hold_now(&mut conn, m.holds[idx].0);
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

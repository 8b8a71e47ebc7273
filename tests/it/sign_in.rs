//! Sign-in throttling: each attempt is counted before its password is checked, per client
//! address (locked out with back-off) and per account (locked briefly), whatever the races.

use std::sync::{Arc, Barrier};

use chrono::{Duration, SubsecRound, Utc};
use iap_credits::domain::auth::sign_in::{self, SignInError};
use iap_credits::domain::auth::throttle::{self, ACCOUNT_FAILURES, ADDRESS_FAILURES};
use iap_credits::domain::tenancy::{Role, Subscription};

use crate::fixtures::{Customer, PASSWORD};
use crate::harness::TestDb;

#[test]
fn forty_parallel_guesses_get_five_password_checks() {
    let db = TestDb::new();
    let customer = Customer::named(&mut db.conn(), "Target", Subscription::None);
    customer.user(&mut db.conn(), "victim@target.test", Role::Admin);
    let barrier = Arc::new(Barrier::new(40));
    let results: Vec<Result<(), SignInError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..40)
            .map(|_| {
                let (barrier, db) = (barrier.clone(), &db);
                s.spawn(move || {
                    let mut conn = db.conn();
                    barrier.wait();
                    sign_in::sign_in(&mut conn, "203.0.113.9", "victim@target.test", "guess")
                        .map(drop)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let checked = results
        .iter()
        .filter(|r| matches!(r, Err(SignInError::InvalidCredentials)))
        .count();
    let throttled = results
        .iter()
        .filter(|r| matches!(r, Err(SignInError::Throttled(_))))
        .count();
    assert_eq!((checked, throttled), (ADDRESS_FAILURES as usize, 35));
}

#[test]
fn an_address_is_locked_out_longer_each_time_and_an_account_only_briefly() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let now = Utc::now().trunc_subsecs(6); // PostgreSQL keeps microseconds
    let attempt = |conn: &mut diesel::PgConnection, address: &str, at| {
        throttle::reserve_attempt(conn, address, "owner@example.test", at).unwrap()
    };
    // One address: five attempts, then a minute's lockout; five more, then two minutes.
    for _ in 0..ADDRESS_FAILURES {
        assert!(attempt(&mut conn, "198.51.100.1", now).is_ok());
    }
    let until = attempt(&mut conn, "198.51.100.1", now).unwrap_err();
    assert_eq!(until, now + Duration::minutes(1));
    let later = now + Duration::seconds(61);
    for _ in 0..ADDRESS_FAILURES - 1 {
        assert!(attempt(&mut conn, "198.51.100.1", later).is_ok());
    }
    // The account's tenth attempt (from anywhere) is still checked and locks it, briefly.
    assert!(attempt(&mut conn, "198.51.100.2", later).is_ok());
    let account_locked = attempt(&mut conn, "198.51.100.3", later);
    assert_eq!(account_locked, Err(later + Duration::minutes(1)));
    assert_eq!(ACCOUNT_FAILURES, 2 * ADDRESS_FAILURES);
    let much_later = later + Duration::seconds(61);
    assert!(attempt(&mut conn, "198.51.100.1", much_later).is_ok());
    let until = attempt(&mut conn, "198.51.100.1", much_later).unwrap_err();
    assert_eq!(until, much_later + Duration::minutes(2), "twice as long");
    // A refused attempt counts nowhere: the address whose attempt the account refused still
    // has all its five.
    for _ in 0..ADDRESS_FAILURES {
        assert!(attempt(&mut conn, "198.51.100.3", much_later).is_ok());
    }
    assert!(attempt(&mut conn, "198.51.100.3", much_later).is_err());
    // Quiet keys are forgotten after a day.
    assert!(throttle::purge(&mut conn, now + Duration::days(2)).unwrap() >= 2);
}

#[test]
fn the_right_password_forgives_the_account_but_not_the_address() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::named(&mut conn, "Owner", Subscription::None);
    customer.user(&mut conn, "me@owner.test", Role::User);
    let typo = |conn: &mut diesel::PgConnection, email: &str| {
        sign_in::sign_in(conn, "192.0.2.1", email, "typo")
    };
    for _ in 0..3 {
        assert!(matches!(
            typo(&mut conn, "me@owner.test"),
            Err(SignInError::InvalidCredentials)
        ));
    }
    sign_in::sign_in(&mut conn, "192.0.2.1", "me@owner.test", PASSWORD).unwrap();
    // The success took back only its own attempt: the address keeps its three failures, so the
    // fifth attempt in all is checked and locks it out.
    assert!(matches!(
        typo(&mut conn, "nobody@owner.test"),
        Err(SignInError::InvalidCredentials)
    ));
    assert!(matches!(
        typo(&mut conn, "nobody@owner.test"),
        Err(SignInError::InvalidCredentials)
    ));
    assert!(matches!(
        sign_in::sign_in(&mut conn, "192.0.2.1", "me@owner.test", PASSWORD),
        Err(SignInError::Throttled(_))
    ));
    // An email longer than any address can be is refused without a look.
    let long = format!("{}@owner.test", "a".repeat(250));
    assert!(matches!(
        sign_in::sign_in(&mut conn, "192.0.2.9", &long, "x"),
        Err(SignInError::InvalidCredentials)
    ));
}

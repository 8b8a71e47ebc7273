//! The hold batcher (Odoo's authorize → capture, group-committed): authorizations that arrive
//! together on one account never hold more than it has, each has its own hold, transaction
//! token and ledger row; captures close each hold once (a second capture of a hold in the same
//! batch finds it captured), post what they take and release the rest; a hold whose time is up
//! is released inside the batch before anything is decided; and what the batch cannot decide
//! (an unknown token, another service's or database's token) is declined to the one-at-a-time
//! path, untouched.

use std::collections::HashSet;
use std::time::Duration;

use diesel::prelude::*;
use iap_credits::domain::catalog;
use iap_credits::domain::ledger::batch::holds::{Authorization, Capture, HoldBatcher, Settled};
use iap_credits::domain::ledger::{self, Actor, HoldStatus, IapAccount, LedgerError};
use iap_credits::domain::provider_keys;
use iap_credits::domain::tenancy::Subscription;
use iap_credits::kernel::credits::Credits;
use iap_credits::kernel::ids::HoldId;
use iap_credits::odoo::transactions;

use crate::fixtures::{Customer, assert_consistent, c, expire_hold_now, reload};
use crate::harness::TestDb;

/// A provider key of the service: (its fingerprint, its id).
fn key_of(conn: &mut PgConnection, slug: &str) -> (String, i64) {
    let service = catalog::service_by_slug(conn, slug).unwrap().unwrap();
    let made = provider_keys::create(conn, service.id, "batch test").unwrap();
    (
        provider_keys::fingerprint(&made.key).unwrap(),
        made.record.id,
    )
}

fn authorization(account: &IapAccount, key: &str, credits: &str) -> Authorization {
    Authorization {
        account_token: account.token.clone(),
        dbuuid: None,
        amount: c(credits),
        ttl: Duration::from_secs(3600),
        description: " batch test ".into(),
        key: key.to_string(),
        transaction: transactions::new_token(),
    }
}

fn capture(transaction: &str, key: &str, credits: &str) -> Capture {
    Capture {
        transaction: transaction.to_string(),
        key: key.to_string(),
        amount: c(credits),
    }
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "({sql})"
    )))
    .get_result(conn)
    .unwrap()
}

#[actix_web::test]
async fn authorizations_together_hold_no_more_than_the_account_has_and_captures_close_each_once() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let account = customer.funded(&mut conn, "sms", "25");
    let other = Customer::new(&mut conn, Subscription::None).funded(&mut conn, "sms", "3");
    let (key, key_id) = key_of(&mut conn, "sms");
    let batcher = HoldBatcher::start(db.pool());

    // 40 of 1 credit on 25 credits, and 5 of 1 on the other account, all at once.
    let calls: Vec<Authorization> = (0..40)
        .map(|_| authorization(&account, &key, "1"))
        .chain((0..5).map(|_| authorization(&other, &key, "1")))
        .collect();
    let settled =
        futures_util::future::join_all(calls.iter().cloned().map(|a| batcher.authorize(a))).await;
    let (mut held, mut refused) = (Vec::new(), 0);
    for (call, outcome) in calls.iter().zip(settled) {
        match outcome {
            Settled::Done(Ok(hold)) => held.push((call.clone(), hold)),
            Settled::Done(Err(LedgerError::InsufficientCredits {
                available,
                requested,
                service_slug,
                ..
            })) => {
                assert_eq!((available, requested), (Credits::ZERO, c("1")));
                assert_eq!(service_slug, "sms");
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        (held.len(), refused),
        (28, 17),
        "25 + 3 held, the rest refused"
    );
    let (account_now, other_now) = (reload(&mut conn, account.id), reload(&mut conn, other.id));
    assert_eq!(
        (account_now.balance, account_now.reserved),
        (c("25"), c("25"))
    );
    assert_eq!((other_now.balance, other_now.reserved), (c("3"), c("3")));
    // Each hold: its own, its transaction token naming it, its ledger row naming it.
    let ids: HashSet<HoldId> = held.iter().map(|(_, h)| *h).collect();
    assert_eq!(ids.len(), 28);
    for (call, hold) in &held {
        let transaction = transactions::find(&mut conn, &call.transaction)
            .unwrap()
            .unwrap();
        assert_eq!(
            (transaction.hold_id, transaction.provider_key_id),
            (*hold, key_id)
        );
        let found = ledger::holds::find(&mut conn, transaction.account_id, *hold)
            .unwrap()
            .unwrap();
        assert_eq!((found.amount, found.status), (c("1"), HoldStatus::Active));
        assert_eq!(found.description, "batch test");
        let rows = count(
            &mut conn,
            &format!(
                "SELECT count(*) FROM ledger_entries WHERE kind = 'hold' AND hold_id = {hold}"
            ),
        );
        assert_eq!(rows, 1);
    }
    assert_consistent(&mut conn);

    // Capture every hold of the first account, all at once: 1 credit of the even ones, 0 of
    // the odd ones (all released); the first three twice, 2 credits of the fourth (too much).
    // And, declined: a token no authorization answered, and one of another key's.
    let mine: Vec<&str> = held
        .iter()
        .filter(|(call, _)| call.account_token == account.token)
        .map(|(call, _)| call.transaction.as_str())
        .collect();
    let mut captures: Vec<Capture> = mine
        .iter()
        .enumerate()
        .map(|(i, t)| capture(t, &key, if i % 2 == 0 { "1" } else { "0" }))
        .collect();
    captures[3].amount = c("2");
    captures.extend(mine[..3].iter().map(|t| capture(t, &key, "1")));
    captures.push(capture(&transactions::new_token(), &key, "1"));
    let (another_key, _) = key_of(&mut conn, "sms");
    captures.push(capture(mine[4], &another_key, "1"));
    let settled =
        futures_util::future::join_all(captures.iter().cloned().map(|c| batcher.capture(c))).await;
    let mut posted = 0;
    for (i, (call, outcome)) in captures.iter().zip(settled).enumerate() {
        match (i, outcome) {
            (3, Settled::Done(Err(LedgerError::CaptureExceedsHold { held }))) => {
                assert_eq!(held, c("1"))
            }
            (25..=27, Settled::Done(Err(LedgerError::HoldClosed(HoldStatus::Captured)))) => {}
            (28..=29, Settled::Declined) => {}
            (0..=24, Settled::Done(Ok(()))) => posted += call.amount.units(),
            (i, other) => panic!("capture {i}: {other:?}"),
        }
    }
    let account_now = reload(&mut conn, account.id);
    assert_eq!(
        (account_now.balance, account_now.reserved),
        (Credits::from_units(25 * 10_000 - posted), c("1")),
        "what was captured is spent, the rest released; the fourth hold still held"
    );
    assert_eq!(posted, 13 * 10_000, "1 credit of each even one");
    let captured = count(
        &mut conn,
        "SELECT count(*) FROM holds WHERE status = 'captured'",
    );
    assert_eq!(captured, 24);
    assert_consistent(&mut conn);
}

#[actix_web::test]
async fn a_due_hold_is_released_in_the_batch_and_what_it_cannot_decide_is_declined() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let account = customer.funded(&mut conn, "sms", "5");
    let (key, _) = key_of(&mut conn, "sms");
    let batcher = HoldBatcher::start(db.pool());

    // All 5 credits held by a hold whose time is up: the batch releases it, then holds 4.
    let due = ledger::authorize(&mut conn, account.id, c("5"), None, "due", &Actor::cli()).unwrap();
    expire_hold_now(&mut conn, due.id);
    let call = authorization(&account, &key, "4");
    let Settled::Done(Ok(hold)) = batcher.authorize(call.clone()).await else {
        panic!("the due hold should have been released first");
    };
    let expired = ledger::holds::find(&mut conn, account.id, due.id)
        .unwrap()
        .unwrap();
    assert_eq!(expired.status, HoldStatus::Expired);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM ledger_entries WHERE kind = 'expiry'"
        ),
        1
    );
    // Its time runs out too: capturing it now is too late, and it is released.
    expire_hold_now(&mut conn, hold);
    assert!(matches!(
        batcher.capture(capture(&call.transaction, &key, "4")).await,
        Settled::Done(Err(LedgerError::HoldExpired))
    ));
    let now = reload(&mut conn, account.id);
    assert_eq!((now.balance, now.reserved), (c("5"), Credits::ZERO));

    // Declined, and nothing written: a token unknown here, another service's key, another
    // database's dbuuid, a revoked key.
    let before = count(&mut conn, "SELECT count(*) FROM holds");
    let unknown = Authorization {
        account_token: format!("{:032x}", rand::random::<u128>()),
        ..authorization(&account, &key, "1")
    };
    let other_service = authorization(&account, &key_of(&mut conn, "snailmail").0, "1");
    diesel::update(iap_credits::platform::schema::databases::table.find(customer.database_id))
        .set(
            iap_credits::platform::schema::databases::dbuuid
                .eq("8e2b6c4a-1d2f-11ef-9a3b-0242ac120002"),
        )
        .execute(&mut db.owner_conn())
        .unwrap();
    let other_database = Authorization {
        dbuuid: Some("0f0f0f0f-1d2f-11ef-9a3b-0242ac120002".into()),
        ..authorization(&account, &key, "1")
    };
    let (revoked, revoked_id) = key_of(&mut conn, "sms");
    diesel::update(iap_credits::platform::schema::provider_keys::table.find(revoked_id))
        .set(iap_credits::platform::schema::provider_keys::revoked_at.eq(diesel::dsl::now))
        .execute(&mut db.owner_conn())
        .unwrap();
    let revoked = authorization(&account, &revoked, "1");
    let same_database = Authorization {
        dbuuid: Some("8e2b6c4a-1d2f-11ef-9a3b-0242ac120002".into()),
        ..authorization(&account, &key, "1")
    };
    for call in [unknown, other_service, other_database, revoked] {
        assert!(matches!(batcher.authorize(call).await, Settled::Declined));
    }
    assert_eq!(count(&mut conn, "SELECT count(*) FROM holds"), before);
    assert!(matches!(
        batcher.authorize(same_database).await,
        Settled::Done(Ok(_))
    ));
    assert_consistent(&mut conn);
}

/// A hold is found open before its account is locked; if a cancel closes it in between, the
/// batch writes nothing and its calls go one at a time (the capture is then refused there).
#[actix_web::test]
async fn a_hold_closed_while_the_batch_waited_for_its_account_undoes_the_batch() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let account = Customer::new(&mut conn, Subscription::None).funded(&mut conn, "sms", "10");
    let (key, _) = key_of(&mut conn, "sms");
    let batcher = HoldBatcher::start(db.pool());
    let call = authorization(&account, &key, "4");
    let Settled::Done(Ok(hold)) = batcher.authorize(call.clone()).await else {
        panic!("held");
    };
    // Another hold keeps credits reserved, so a capture written on stale figures would pass
    // the table's own checks.
    let Settled::Done(Ok(_)) = batcher.authorize(authorization(&account, &key, "4")).await else {
        panic!("held");
    };
    let mut other = db.conn();
    let captured = other.transaction(|other| {
        // The account locked by someone else: the batch finds the hold open, then waits.
        diesel::sql_query("SELECT id FROM iap_accounts WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::BigInt, _>(account.id)
            .execute(other)?;
        let capture_call = capture(&call.transaction, &key, "4");
        let batcher = batcher.clone();
        let capturing = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(batcher.capture(capture_call))
        });
        let mut waiting = false;
        for _ in 0..200 {
            waiting = count(
                &mut conn,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
            ) > 0;
            if waiting {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(waiting, "the batch should wait for the account's lock");
        ledger::cancel(other, account.id, hold, &Actor::cli()).unwrap();
        Ok::<_, diesel::result::Error>(capturing)
    });
    let outcome = captured.unwrap().join().unwrap();
    assert!(matches!(outcome, Settled::Declined), "{outcome:?}");
    let now = reload(&mut conn, account.id);
    assert_eq!((now.balance, now.reserved), (c("10"), c("4")));
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM ledger_entries WHERE kind = 'capture'"
        ),
        0
    );
    assert_consistent(&mut conn);
}

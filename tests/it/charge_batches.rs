//! The group commit's two paths in one batch: accounts debited whole by one statement, and
//! accounts locked and decided charge by charge (too few credits for all, an idempotency key,
//! a hold whose time ran out, an unknown token). Whatever the path, each charge has its own
//! ledger row, the rows of an account chain from one balance to the next in arrival order, and
//! the answers say the balance each charge left.

use std::collections::HashMap;

use diesel::prelude::*;
use iap_credits::api::answers::charge_renderer;
use iap_credits::domain::ledger::batch::{ChargeAnswer, ChargeBatcher, ChargeRequest};
use iap_credits::domain::ledger::{self, Actor, LedgerError};
use iap_credits::domain::tenancy::Subscription;
use iap_credits::kernel::credits::Credits;
use iap_credits::platform::schema::ledger_entries;

use crate::fixtures::{Customer, assert_consistent, c, expire_hold_now, reload};
use crate::harness::TestDb;

/// What a charge came to: the balance it left, or why it was refused.
#[derive(Debug, PartialEq)]
enum Came {
    Charged(Credits),
    Stored(u16),
    TooFew,
    UnknownToken,
}

fn request(token: &str, credits: &str, key: Option<&str>) -> ChargeRequest {
    ChargeRequest {
        token: token.to_string(),
        amount: c(credits),
        description: "batch test".into(),
        idempotency: key.map(|k| (k.to_string(), format!("{token}:{credits}"))),
    }
}

#[actix_web::test]
async fn one_batch_debits_whole_accounts_and_decides_the_others_one_by_one() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = |conn: &mut PgConnection, credits: &str| {
        Customer::new(conn, Subscription::None).funded(conn, "sms", credits)
    };
    let plenty = customer(&mut conn, "1000");
    let scarce = customer(&mut conn, "10.5");
    let keyed = customer(&mut conn, "100");
    let held = customer(&mut conn, "5");
    let hold =
        ledger::authorize(&mut conn, held.id, c("5"), None, "expiring", &Actor::cli()).unwrap();
    expire_hold_now(&mut conn, hold.id);

    // 40 + 20 + 12 + 3 + 4 charges sent together, interleaved, so that batches mix them.
    let mut requests = Vec::new();
    for i in 0..40 {
        requests.push(request(&plenty.token, "1", None));
        if i < 20 {
            requests.push(request(&scarce.token, "1", None));
        }
        if i < 12 {
            // Keys k0..k9, and k0 and k1 sent a second time: 10 effects.
            let key = format!("k{}", if i < 10 { i } else { i - 10 });
            requests.push(request(&keyed.token, "2", Some(&key)));
        }
        if i < 3 {
            requests.push(request(&held.token, "1", None));
        }
        if i < 4 {
            requests.push(request(&format!("unknown{i:0>40}"), "1", None));
        }
    }
    let batcher = ChargeBatcher::start(db.pool(), charge_renderer("http://test".into()));
    let sent: Vec<(String, bool)> = requests
        .iter()
        .map(|r| (r.token.clone(), r.idempotency.is_some()))
        .collect();
    let answers =
        futures_util::future::join_all(requests.into_iter().map(|r| batcher.charge(r))).await;

    let mut came: HashMap<String, Vec<Came>> = HashMap::new();
    for ((token, _), (answer, _)) in sent.iter().zip(answers) {
        let outcome = match answer {
            Ok(ChargeAnswer::Fresh(result)) => match *result {
                Ok(charged) => {
                    assert_eq!(charged.account.balance, charged.entry.balance_after);
                    Came::Charged(charged.account.balance)
                }
                Err(LedgerError::InsufficientCredits { .. }) => Came::TooFew,
                Err(LedgerError::UnknownToken) => Came::UnknownToken,
                Err(e) => panic!("{e}"),
            },
            Ok(ChargeAnswer::Stored { response, .. }) => Came::Stored(response.status),
            Ok(ChargeAnswer::Conflict) => panic!("no key was reused with another request"),
            Err(e) => panic!("{e}"),
        };
        came.entry(token.clone()).or_default().push(outcome);
    }
    let count = |token: &str, f: fn(&Came) -> bool| came[token].iter().filter(|o| f(o)).count();

    // Plenty: every charge, each leaving a different balance, down to 960.
    assert_eq!(count(&plenty.token, |o| matches!(o, Came::Charged(_))), 40);
    let mut left: Vec<Credits> = came[&plenty.token]
        .iter()
        .filter_map(|o| match o {
            Came::Charged(b) => Some(*b),
            _ => None,
        })
        .collect();
    left.sort();
    left.dedup();
    assert_eq!(
        left.len(),
        40,
        "each answer has the balance its own charge left"
    );
    assert_eq!(reload(&mut conn, plenty.id).balance, c("960"));

    // Scarce: exactly 10 of 20, the rest refused, 0.5 left.
    assert_eq!(count(&scarce.token, |o| matches!(o, Came::Charged(_))), 10);
    assert_eq!(count(&scarce.token, |o| *o == Came::TooFew), 10);
    assert_eq!(reload(&mut conn, scarce.id).balance, c("0.5"));

    // Keyed: 10 keys, 10 effects; the 2 repeats answered from the store with the same 201.
    let effects = count(&keyed.token, |o| {
        matches!(o, Came::Charged(_) | Came::Stored(201))
    });
    assert_eq!(effects, 12);
    assert_eq!(reload(&mut conn, keyed.id).balance, c("80"));

    // The expired hold is released first, so its 5 credits pay the 3 charges.
    assert_eq!(count(&held.token, |o| matches!(o, Came::Charged(_))), 3);
    let held_now = reload(&mut conn, held.id);
    assert_eq!((held_now.balance, held_now.reserved), (c("2"), c("0")));

    assert_eq!(
        count(&format!("unknown{:0>40}", 0), |o| *o == Came::UnknownToken),
        1
    );

    // Each account's rows chain from one balance to the next, in id order.
    for account in [&plenty, &scarce, &keyed, &held] {
        let rows: Vec<(i64, i64)> = ledger_entries::table
            .filter(ledger_entries::account_id.eq(account.id))
            .order(ledger_entries::id)
            .select((ledger_entries::amount, ledger_entries::balance_after))
            .load(&mut conn)
            .unwrap();
        let mut balance = 0;
        for (amount, after) in rows {
            balance += amount;
            assert_eq!(after, balance, "rows of account {} chain", account.id);
        }
    }
    assert_consistent(&mut conn);
}

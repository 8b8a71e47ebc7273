//! The daily rollups that pages read instead of the ledger: equal to what they sum after every
//! kind of write (charges one by one and batched through the API, holds and captures, purchases,
//! refunds), and `verify-ledger` names a day that differs.

use chrono::Utc;
use diesel::prelude::*;
use iap_credits::domain::ledger::verify::verify_ledger;
use iap_credits::domain::ledger::{self, Actor};
use iap_credits::domain::orders::refunds;
use iap_credits::domain::payments::MockProvider;
use iap_credits::domain::tenancy::Subscription;
use iap_credits::platform::schema::{ledger_daily, sales_daily};

use crate::fixtures::{self, Customer, c, spend};
use crate::harness::{TestApp, TestDb};

#[test]
fn the_rollups_equal_the_ledger_orders_and_refunds_and_verify_names_a_day_that_differs() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let customer = Customer::new(conn, Subscription::None);
    let account = customer.funded(conn, "sms", "50");
    let order = customer.buy(conn, &account, "Standard Pack");
    spend(conn, &account, "2.5");
    spend(conn, &account, "1");
    let hold = ledger::authorize(conn, account.id, c("4"), None, "", &Actor::cli()).unwrap();
    ledger::capture(conn, account.id, hold.id, Some(c("3")), &Actor::cli()).unwrap();
    let ops = fixtures::operator(conn);
    refunds::refund_order(
        conn,
        &ops,
        &MockProvider::default(),
        order.id,
        c("10"),
        "asked",
    )
    .unwrap();

    let today = Utc::now().date_naive();
    let (spent, count, bought): (i64, i64, i64) = ledger_daily::table
        .find((account.id, today))
        .select((
            ledger_daily::spent,
            ledger_daily::spent_count,
            ledger_daily::bought,
        ))
        .first(conn)
        .unwrap();
    // 2.5 + 1 charged, 3 captured; 100 bought.
    assert_eq!((spent, count, bought), (65_000, 3, 1_000_000));
    let (orders, revenue, refunded, refunded_minor): (i64, i64, i64, i64) = sales_daily::table
        .filter(sales_daily::account_id.eq(account.id))
        .select((
            sales_daily::orders,
            sales_daily::revenue_minor,
            sales_daily::refunds,
            sales_daily::refunded_minor,
        ))
        .first(conn)
        .unwrap();
    assert_eq!((orders, revenue, refunded), (1, 9_500, 1));
    assert_eq!(refunded_minor, 950, "10 of 100 credits of a 95.00 pack");
    assert!(verify_ledger(conn).unwrap().is_consistent());

    // A rollup that drifted is named, day and account (as the schema's owner could make it).
    let mut owner = db.owner_conn();
    diesel::sql_query("UPDATE ledger_daily SET spent = spent + 1 WHERE account_id = $1")
        .bind::<diesel::sql_types::BigInt, _>(account.id)
        .execute(&mut owner)
        .unwrap();
    diesel::sql_query("UPDATE sales_daily SET revenue_minor = 1 WHERE account_id = $1")
        .bind::<diesel::sql_types::BigInt, _>(account.id)
        .execute(&mut owner)
        .unwrap();
    let report = verify_ledger(conn).unwrap();
    assert!(!report.is_consistent());
    let named: Vec<(String, i64)> = report
        .rollup_mismatches
        .iter()
        .map(|m| (m.rollup.clone(), m.account_id.0))
        .collect();
    assert_eq!(
        named,
        [
            ("ledger_daily".to_string(), account.id.0),
            ("sales_daily".to_string(), account.id.0)
        ]
    );
    assert!(report.discrepancies.is_empty(), "the balances are right");
}

#[actix_web::test]
async fn batched_api_charges_roll_up_once_each() {
    let app = TestApp::new();
    let account = fixtures::funded_account(&app, "1000");
    let mut handles = Vec::new();
    for i in 0..40 {
        let (app, token) = (&app, account.token.clone());
        handles.push(async move {
            let key = format!("k{i}");
            app.api(
                "POST",
                "/api/v1/charges",
                Some(&token),
                Some(&key),
                Some(r#"{"credits":"0.5"}"#),
            )
            .await
        });
    }
    for (status, _) in futures_util::future::join_all(handles).await {
        assert_eq!(status.as_u16(), 201);
    }
    let conn = &mut app.db.conn();
    let (spent, count): (i64, i64) = ledger_daily::table
        .find((account.id, Utc::now().date_naive()))
        .select((ledger_daily::spent, ledger_daily::spent_count))
        .first(conn)
        .unwrap();
    assert_eq!((spent, count), (200_000, 40));
    assert!(verify_ledger(conn).unwrap().is_consistent());
}

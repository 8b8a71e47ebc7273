//! The run-out forecast on the accounts' pages, read from the ledger in two queries.

use std::collections::BTreeMap;

use iap_credits::domain::ledger::forecast::{self, Forecast};
use iap_credits::domain::tenancy::{Role, Subscription};

use crate::fixtures::{Customer, PASSWORD, c, spend};
use crate::harness::{TestApp, TestDb};

#[test]
fn the_forecast_reads_the_ledgers_daily_use() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let account = customer.funded(&mut conn, "sms", "100");
    let quiet = customer.account(&mut conn, "lead-generation");
    spend(&mut conn, &account, "6");
    spend(&mut conn, &account, "4");
    let now = chrono::Utc::now();
    let accounts = [(account.id, c("90")), (quiet.id, c("20"))];
    // Today: too young to say.
    let today = forecast::forecasts(&mut conn, &accounts, now).unwrap();
    assert_eq!(today[&account.id], Forecast::NotEnoughHistory);
    assert_eq!(today[&quiet.id], Forecast::NotEnoughHistory);
    // Eight days on: the 10 credits of that day set the pace.
    let later = now + chrono::Duration::days(8);
    let found = forecast::forecasts(&mut conn, &accounts, later).unwrap();
    let mut spent = BTreeMap::new();
    spent.insert(now.date_naive(), c("10").units());
    let expected = forecast::forecast(&spent, Some(now.date_naive()), c("90"), later.date_naive());
    assert!(matches!(expected, Forecast::Lasts { .. }), "{expected:?}");
    assert_eq!(found[&account.id], expected);
    // Forty days on: nothing in the window.
    let much_later = now + chrono::Duration::days(40);
    let found = forecast::forecasts(&mut conn, &accounts, much_later).unwrap();
    assert_eq!(found[&account.id], Forecast::NoRecentUse);
}

#[actix_web::test]
async fn the_pages_say_the_forecast() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let customer = Customer::named(&mut conn, "Forecasters", Subscription::None);
    customer.user(&mut conn, "fran@forecasters.test", Role::User);
    let account = customer.funded(&mut conn, "sms", "50");
    spend(&mut conn, &account, "5");
    let browser = app.browser();
    browser.sign_in("fran@forecasters.test", PASSWORD).await;
    let page = browser.get(&format!("/iap/accounts/{}", account.id)).await;
    assert!(
        page.body
            .contains("<dd id=\"forecast\">Not enough history yet"),
        "{}",
        page.body
    );
    assert!(page.body.contains("exponentially weighted average"));
    let list = browser.get("/iap/accounts").await;
    assert!(
        list.body
            .contains("<td class=\"forecast\">Not enough history yet")
    );
    // A sparkline a service, its label with the exact total.
    assert!(
        list.body.contains(
            "aria-label=\"Credits spent per day, last 30 days: 5 in all\" class=\"sparkline\""
        ),
        "{}",
        list.body
    );
    // The usage chart and its exact figures: today, 5 spent.
    assert!(
        page.body
            .contains("aria-label=\"Credits spent and bought per day, last 90 days\"")
    );
    let today = chrono::Utc::now().date_naive();
    assert!(
        page.body.contains(&format!(
            "<th scope=\"row\">{today}</th><td class=\"num\">5</td><td class=\"num\">0</td>"
        )),
        "{}",
        page.body
    );
    // An account with no use says so instead of an empty chart.
    let idle = customer.account(&mut conn, "snailmail");
    let page = browser.get(&format!("/iap/accounts/{}", idle.id)).await;
    assert!(
        page.body
            .contains("Nothing was spent or bought in the last 90 days.")
    );
}

#[test]
fn daily_usage_has_every_day_of_the_range() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let account = customer.funded(&mut conn, "sms", "20");
    spend(&mut conn, &account, "1.5");
    spend(&mut conn, &account, "2");
    let today = chrono::Utc::now().date_naive();
    let days = iap_credits::domain::ledger::usage::daily(
        &mut conn,
        account.id,
        today - chrono::Duration::days(89),
        today,
    )
    .unwrap();
    assert_eq!(days.len(), 90);
    assert_eq!(days[0].day, today - chrono::Duration::days(89));
    let last = days.last().unwrap();
    assert_eq!(
        (last.day, last.spent, last.bought),
        (today, c("3.5"), c("0"))
    );
    assert!(days[..89].iter().all(|d| d.spent == c("0")));
}

#[actix_web::test]
async fn the_customer_downloads_the_account_ledger_as_csv() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let customer = Customer::named(&mut conn, "Exporters", Subscription::None);
    customer.user(&mut conn, "xena@exporters.test", Role::User);
    let account = customer.funded(&mut conn, "sms", "12");
    iap_credits::domain::ledger::charge(
        &mut conn,
        account.id,
        c("2"),
        "=HYPERLINK(\"http://evil.example\")",
        &iap_credits::domain::ledger::Actor::cli(),
    )
    .unwrap();
    let browser = app.browser();
    browser.sign_in("xena@exporters.test", PASSWORD).await;
    let page = browser.get(&format!("/iap/accounts/{}", account.id)).await;
    assert!(
        page.body
            .contains(&format!("/iap/accounts/{}/ledger.csv", account.id))
    );
    let csv = browser
        .get(&format!("/iap/accounts/{}/ledger.csv", account.id))
        .await;
    assert_eq!(csv.status, actix_web::http::StatusCode::OK);
    assert!(csv.header("content-type").starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines[0],
        "id,created_at,kind,amount,reserved_change,balance_after,reserved_after,hold_id,order_id,actor,description"
    );
    assert_eq!(lines.len(), 3, "{}", csv.body);
    assert!(
        lines[2].contains("'=HYPERLINK"),
        "a formula is escaped: {}",
        lines[2]
    );
    // Another database's account is not there.
    let other = Customer::named(&mut conn, "Not Exporters", Subscription::None);
    let theirs = other.funded(&mut conn, "sms", "1");
    let refused = browser
        .get(&format!("/iap/accounts/{}/ledger.csv", theirs.id))
        .await;
    assert_eq!(refused.status, actix_web::http::StatusCode::NOT_FOUND);
}

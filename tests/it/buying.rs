//! Buying credits: Buy Credits page, orders, the mock checkout and its test cards, the
//! receipt, and fulfilment exactly once whatever is clicked twice.

use std::sync::{Arc, Barrier};

use actix_web::http::StatusCode;
use iap_credits::domain::ledger::accounts;
use iap_credits::domain::orders::{self, PaymentResult};
use iap_credits::domain::payments::{Card, MockProvider};
use iap_credits::kernel::credits::Credits;
use iap_credits::platform::schema::{ledger_entries, orders as orders_table};

use diesel::prelude::*;

use crate::fixtures;
use crate::harness::{Browser, TestApp};

async fn admin(app: &TestApp) -> Browser<'_> {
    let browser = app.browser();
    assert_eq!(
        browser
            .sign_in("admin@demo.test", "demo-password")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    browser
}

/// The SMS account's id, via View My Services.
async fn sms_account(browser: &Browser<'_>) -> iap_credits::kernel::ids::AccountId {
    let list = browser.get("/iap/accounts").await.body;
    let end = list.find("\">SMS</a>").unwrap();
    let start = list[..end].rfind("/iap/accounts/").unwrap() + "/iap/accounts/".len();
    list[start..end].parse().unwrap()
}

/// Clicks Buy on `pack` of the Buy Credits page; returns the checkout path.
async fn buy(
    browser: &Browser<'_>,
    account: iap_credits::kernel::ids::AccountId,
    pack: &str,
) -> String {
    let page = browser.get(&format!("/iap/accounts/{account}/buy")).await;
    let at = page
        .body
        .find(&format!("aria-label=\"Buy {pack}\""))
        .unwrap();
    let form = &page.body[..at];
    let id_at =
        form.rfind("name=\"pack_id\" value=\"").unwrap() + "name=\"pack_id\" value=\"".len();
    let pack_id = &form[id_at..id_at + form[id_at..].find('"').unwrap()];
    let created = browser
        .submit(
            &format!("/iap/accounts/{account}/buy"),
            &format!("/iap/accounts/{account}/buy"),
            &[("pack_id", pack_id)],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    created.location().to_string()
}

async fn pay(browser: &Browser<'_>, checkout: &str, number: &str) -> crate::harness::Page {
    browser
        .submit(
            checkout,
            checkout,
            &[
                ("holder", "Ada Lovelace"),
                ("number", number),
                ("expiry", "12/39"),
                ("cvc", "123"),
            ],
        )
        .await
}

fn balance(app: &TestApp, account: iap_credits::kernel::ids::AccountId) -> Credits {
    accounts::by_id(&mut app.db.conn(), account)
        .unwrap()
        .unwrap()
        .balance
}

#[actix_web::test]
async fn buying_the_standard_pack_adds_exactly_100_credits() {
    let app = TestApp::new().with_demo();
    let browser = admin(&app).await;
    let account = sms_account(&browser).await;
    let before = balance(&app, account);

    let page = browser.get(&format!("/iap/accounts/{account}/buy")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<h1>Buy Credits for SMS</h1>"));
    for pack in [
        "Starter Pack",
        "Standard Pack",
        "Advanced Pack",
        "Expert Pack",
    ] {
        assert!(
            page.body
                .contains(&format!("aria-label=\"Buy {pack}\">Buy</button>")),
            "{pack}"
        );
    }

    let checkout = buy(&browser, account, "Standard Pack").await;
    let page = browser.get(&checkout).await;
    assert!(page.body.contains("Test mode"));
    for label in ["Cardholder name", "Card number", "Expiry (MM/YY)", "CVC"] {
        assert!(page.body.contains(&format!(">{label}</label>")), "{label}");
    }
    assert!(page.body.contains("Pay 95.00 EUR"));

    let paid = pay(&browser, &checkout, "4242 4242 4242 4242").await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER);
    let receipt = browser.get(paid.location()).await;
    assert!(receipt.body.contains("your credits are available"));
    assert!(receipt.body.contains("Standard Pack"));
    assert!(receipt.body.contains("card ending 4242"));
    assert!(
        receipt.body.contains("<strong>110</strong> credits"),
        "10 trial + 100"
    );
    assert_eq!(
        balance(&app, account),
        Credits::whole(before.units() / 10_000 + 100)
    );

    // Refresh, back button and re-submit: no second credit.
    let again = pay(&browser, &checkout, "4242 4242 4242 4242").await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert!(
        browser
            .get(&checkout)
            .await
            .body
            .contains("This order is already paid.")
    );
    assert_eq!(balance(&app, account), Credits::whole(110));
    let info = browser.get(&format!("/iap/accounts/{account}")).await;
    assert!(info.body.contains("<strong class=\"balance\">110</strong>"));
    let history = browser.get("/orders").await;
    assert!(history.body.contains("Standard Pack") && history.body.contains("paid"));
}

#[actix_web::test]
async fn declined_cards_leave_the_order_open_and_the_balance_unchanged() {
    let app = TestApp::new().with_demo();
    let browser = admin(&app).await;
    let account = sms_account(&browser).await;
    let checkout = buy(&browser, account, "Starter Pack").await;
    // Every decline reads the same: why the bank declined is not a card tester's to learn.
    for card in ["4000 0000 0000 0002", "4000 0000 0000 9995"] {
        let page = pay(&browser, &checkout, card).await;
        assert_eq!(page.status, StatusCode::PAYMENT_REQUIRED);
        assert!(page.body.contains("Your card was declined."), "{card}");
        assert!(!page.body.contains("insufficient funds."), "{card}");
        assert!(page.body.contains("value=\"Ada Lovelace\""), "values kept");
        let digits = card.replace(' ', "");
        assert!(
            page.body.contains("id=\"number\" name=\"number\" inputmode=\"numeric\" autocomplete=\"cc-number\" value=\"\""),
            "a card number never comes back in a page: {}",
            page.body
        );
        assert!(
            page.body
                .contains(&format!("the card ending {}", &digits[12..]))
        );
        assert_eq!(balance(&app, account), Credits::whole(10));
    }
    // Another card then works on the same order.
    assert_eq!(
        pay(&browser, &checkout, "4242424242424242").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(balance(&app, account), Credits::whole(20));
}

#[actix_web::test]
async fn bad_card_details_are_explained_next_to_their_fields() {
    let app = TestApp::new().with_demo();
    let browser = admin(&app).await;
    let account = sms_account(&browser).await;
    let checkout = buy(&browser, account, "Starter Pack").await;
    let page = browser
        .submit(
            &checkout,
            &checkout,
            &[
                ("holder", ""),
                ("number", "4242 4242 4242 4241"),
                ("expiry", "01/20"),
                ("cvc", "12"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("id=\"holder-error\""));
    assert!(page.body.contains("This card number is not valid"));
    assert!(page.body.contains("This card has expired."));
    assert!(page.body.contains("id=\"cvc-error\""));
    assert!(
        !page.body.contains("4242 4242 4242 4241") && !page.body.contains("4242424242424241"),
        "a mistyped number is most of a real one: never echoed"
    );
    assert_eq!(balance(&app, account), Credits::whole(10));
}

#[test]
fn concurrent_confirmations_of_one_order_credit_it_once() {
    let app = TestApp::new().with_demo();
    let mut conn = app.db.conn();
    let demo = iap_credits::domain::tenancy::find_database(&mut conn, "Demo Company")
        .unwrap()
        .unwrap();
    let sms = iap_credits::domain::catalog::service_by_slug(&mut conn, "sms")
        .unwrap()
        .unwrap();
    let account = accounts::get_or_create(&mut conn, demo.id, sms.id).unwrap();
    let pack = iap_credits::domain::catalog::active_packs(&mut conn, sms.id)
        .unwrap()
        .remove(1);
    let user: iap_credits::kernel::ids::UserId = iap_credits::platform::schema::users::table
        .select(iap_credits::platform::schema::users::id)
        .first(&mut conn)
        .unwrap();
    let order = orders::create_order(&mut conn, demo.id, account.id, pack.id, user).unwrap();
    let card = Card::parse("Ada", "4242424242424242", "12/39", "123").unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let results: Vec<PaymentResult> = std::thread::scope(|s| {
        (0..8)
            .map(|_| {
                let (barrier, card, db) = (barrier.clone(), card.clone(), &app.db);
                s.spawn(move || {
                    let mut conn = db.conn();
                    barrier.wait();
                    orders::pay(
                        &mut conn,
                        demo.id,
                        order.id,
                        &card,
                        &MockProvider::default(),
                    )
                    .unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect()
    });
    let paid = results
        .iter()
        .filter(|r| matches!(r, PaymentResult::Paid { .. }))
        .count();
    let already = results
        .iter()
        .filter(|r| matches!(r, PaymentResult::AlreadyPaid(_)))
        .count();
    assert_eq!((paid, already), (1, 7));
    assert_eq!(balance(&app, account.id), Credits::whole(110));
    let purchases: i64 = ledger_entries::table
        .filter(ledger_entries::order_id.eq(order.id))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(purchases, 1);
    // Even a second purchase row written by hand is refused by the database.
    let forged = diesel::sql_query(format!(
        "INSERT INTO ledger_entries (account_id, kind, amount, balance_after, reserved_after, order_id, actor) \
         VALUES ({}, 'purchase', 1000000, 2100000, 0, {}, 'test')",
        account.id, order.id
    ))
    .execute(&mut conn);
    assert!(forged.is_err());
}

#[actix_web::test]
async fn an_expired_order_cannot_be_paid() {
    let app = TestApp::new().with_demo();
    let browser = admin(&app).await;
    let account = sms_account(&browser).await;
    let checkout = buy(&browser, account, "Starter Pack").await;
    diesel::update(orders_table::table)
        .set(orders_table::expires_at.eq(chrono::Utc::now() - chrono::Duration::minutes(1)))
        .execute(&mut app.db.owner_conn())
        .unwrap();
    let page = pay(&browser, &checkout, "4242424242424242").await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("This order expired."));
    assert_eq!(balance(&app, account), Credits::whole(10));
    assert_eq!(
        orders::expire_stale_orders(&mut app.db.conn()).unwrap(),
        0,
        "already marked"
    );
}

#[actix_web::test]
async fn only_admins_buy_and_only_their_own_orders() {
    let app = TestApp::new().with_demo();
    let browser = admin(&app).await;
    let account = sms_account(&browser).await;
    let checkout = buy(&browser, account, "Starter Pack").await;

    let user = app.browser();
    user.sign_in("user@demo.test", "demo-password").await;
    assert_eq!(
        user.get(&format!("/iap/accounts/{account}/buy"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(user.get(&checkout).await.status, StatusCode::FORBIDDEN);
    assert_eq!(user.get("/orders").await.status, StatusCode::FORBIDDEN);

    let rival = fixtures::signed_in(
        &app,
        "Rival",
        iap_credits::domain::tenancy::Subscription::None,
        "boss@rival.example",
        iap_credits::domain::tenancy::Role::Admin,
    )
    .await;
    assert_eq!(rival.get(&checkout).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        rival
            .get(&format!("/iap/accounts/{account}/buy"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let order_path = checkout.replace("/checkout/", "/orders/");
    assert_eq!(rival.get(&order_path).await.status, StatusCode::NOT_FOUND);
    let page = pay(&rival, "/iap/accounts", "4242424242424242").await;
    assert_eq!(
        page.status,
        StatusCode::NOT_FOUND,
        "posting to /iap/accounts is not a checkout"
    );
    let page = rival
        .submit(
            "/iap/accounts",
            &checkout,
            &[
                ("holder", "X"),
                ("number", "4242424242424242"),
                ("expiry", "12/39"),
                ("cvc", "123"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(balance(&app, account), Credits::whole(10));
}

/// How many payment attempts reached the provider.
fn attempts(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    iap_credits::platform::schema::payment_attempts::table
        .count()
        .get_result(&mut app.db.conn())
        .unwrap()
}

#[actix_web::test]
async fn card_testing_is_stopped_an_order_closes_after_three_declines_and_attempts_are_throttled() {
    let app = TestApp::new().with_demo();
    let browser = admin(&app).await;
    let account = sms_account(&browser).await;
    let declined = "4000 0000 0000 0002";
    // Three declines close the order: the next card is not tried on it.
    let first = buy(&browser, account, "Starter Pack").await;
    for _ in 0..3 {
        assert_eq!(
            pay(&browser, &first, declined).await.status,
            StatusCode::PAYMENT_REQUIRED
        );
    }
    let closed = pay(&browser, &first, "4242 4242 4242 4242").await;
    assert_eq!(closed.status, StatusCode::CONFLICT);
    assert!(
        closed
            .body
            .contains("Cards were declined 3 times on this order"),
        "{}",
        closed.body
    );
    assert_eq!(attempts(&app), 3);
    assert_eq!(balance(&app, account), Credits::whole(10));

    // New orders, card after card from the same address: ten attempts, then none reaches the
    // provider until the lockout is over, whatever the card.
    let mut sent = 3;
    let mut throttled = None;
    for _ in 0..4 {
        let order = buy(&browser, account, "Starter Pack").await;
        for _ in 0..3 {
            let page = pay(&browser, &order, declined).await;
            if page.status == StatusCode::TOO_MANY_REQUESTS {
                throttled = Some(order.clone());
                break;
            }
            sent += 1;
        }
        if throttled.is_some() {
            break;
        }
    }
    assert_eq!(
        sent,
        iap_credits::domain::auth::throttle::CHECKOUT_ATTEMPTS as i64
    );
    assert_eq!(attempts(&app), sent);
    let order = throttled.expect("throttled");
    let refused = pay(&browser, &order, "4242 4242 4242 4242").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        refused
            .body
            .contains("Too many card attempts: nothing was sent to the bank")
    );
    assert_eq!(attempts(&app), sent, "nothing sent");
    // From another address, the account's own count still holds.
    let elsewhere = app.browser_from("198.51.100.7");
    elsewhere.copy_cookies_of(&browser);
    assert_eq!(
        pay(&elsewhere, &order, "4242 4242 4242 4242").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(balance(&app, account), Credits::whole(10));
}

#[actix_web::test]
async fn buying_from_a_prompt_offers_the_way_back_to_what_asked_for_credits() {
    use crate::fixtures::{Customer, PASSWORD};
    use iap_credits::domain::tenancy::Subscription;
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let customer = Customer::named(&mut conn, "Payables", Subscription::None);
    let browser = app.browser();
    browser.sign_in("admin@payables.test", PASSWORD).await;
    let pdf = crate::sample_bills::pdf(&crate::sample_bills::sample(&mut conn, 9));
    let uploaded = browser
        .upload("/bills", "/bills", &[], ("file", "bill.pdf", &pdf))
        .await;
    let bill = uploaded.location().to_string();
    let short = browser
        .submit(&bill, &format!("{bill}/digitize"), &[])
        .await;
    let prompt = browser.get(short.location()).await;
    let account = customer.account(&mut conn, "documents-digitization").id;
    let link = format!("/iap/accounts/{account}/buy?back={bill}");
    assert!(
        prompt.body.contains(&format!("href=\"{link}\"")),
        "{}",
        prompt.body
    );
    assert_eq!(browser.get(&link).await.status, StatusCode::OK);
    let checkout = buy(&browser, account, "Starter Pack").await;
    let paid = pay(&browser, &checkout, "4242 4242 4242 4242").await;
    let receipt = browser.get(paid.location()).await;
    assert!(
        receipt
            .body
            .contains(&format!("href=\"{bill}\">Back to the bill</a>")),
        "{}",
        receipt.body
    );
    // Only a path of this site is ever offered.
    let elsewhere = browser
        .get(&format!("/iap/accounts/{account}/buy?back=//evil.example/"))
        .await;
    assert_eq!(elsewhere.status, StatusCode::OK);
    let checkout = buy(&browser, account, "Starter Pack").await;
    let paid = pay(&browser, &checkout, "4242 4242 4242 4242").await;
    let receipt = browser.get(paid.location()).await;
    assert!(!receipt.body.contains("evil.example"));
}

//! The pages of saved cards and automatic top-up: "Save this card" at checkout, Payment
//! methods (add, list, remove), and the "Top up automatically" form of Account Information.

use actix_web::http::StatusCode;
use chrono::Utc;
use iap_credits::domain::catalog;
use iap_credits::domain::orders;
use iap_credits::domain::payments::MockProvider;
use iap_credits::domain::payments::methods;
use iap_credits::domain::tenancy::{Role, Subscription};
use iap_credits::domain::topup;
use iap_credits::kernel::ids::AccountId;

use crate::fixtures::{Customer, PASSWORD, c, reload, spend};
use crate::harness::{Browser, TestApp};

/// A customer with an SMS account of `credits`, and its admin signed in.
async fn admin_with_sms<'a>(
    app: &'a TestApp,
    name: &str,
    credits: &str,
) -> (Customer, AccountId, Browser<'a>) {
    let mut conn = app.db.conn();
    let customer = Customer::named(&mut conn, name, Subscription::None);
    let account = if credits == "0" {
        customer.account(&mut conn, "sms")
    } else {
        customer.funded(&mut conn, "sms", credits)
    };
    let browser = app.browser();
    let email = format!("admin@{}.test", name.to_lowercase().replace(' ', "-"));
    assert_eq!(
        browser.sign_in(&email, PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    (customer, account.id, browser)
}

fn card_fields(number: &str) -> Vec<(&str, &str)> {
    vec![
        ("holder", "Ada Lovelace"),
        ("number", number),
        ("expiry", "12/39"),
        ("cvc", "123"),
    ]
}

#[actix_web::test]
async fn ticking_save_this_card_at_checkout_keeps_only_its_token() {
    let app = TestApp::new();
    let (customer, account, browser) = admin_with_sms(&app, "Saver", "0").await;
    let pack_id = {
        let conn = &mut app.db.conn();
        let a = reload(conn, account);
        catalog::active_packs(conn, a.service_id).unwrap()[0]
            .id
            .to_string()
    };
    let buy = format!("/iap/accounts/{account}/buy");
    let created = browser.submit(&buy, &buy, &[("pack_id", &pack_id)]).await;
    let checkout = created.location().to_string();
    let page = browser.get(&checkout).await;
    assert!(page.body.contains("Save this card for automatic top-ups"));
    let mut fields = card_fields("4242 4242 4242 4242");
    fields.push(("save_card", "on"));
    let paid = browser.submit(&checkout, &checkout, &fields).await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.body);
    assert!(
        paid.location().ends_with("?card=saved"),
        "{}",
        paid.location()
    );
    let receipt = browser.get(paid.location()).await;
    assert!(
        receipt
            .body
            .contains("The card is saved for automatic top-ups")
    );

    let cards = methods::of_database(&mut app.db.conn(), customer.database_id).unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].last4, "4242");
    assert!(cards[0].provider_token.starts_with("mock_pm_ok_"));
    let page = browser.get("/settings/payment-methods").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Visa ending 4242, expires 12/39"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("4242424242424242"));
    assert!(
        !page.body.contains(&cards[0].provider_token),
        "the token stays out of pages"
    );

    // Without the tick, nothing more is kept.
    let created = browser.submit(&buy, &buy, &[("pack_id", &pack_id)]).await;
    let checkout = created.location().to_string();
    let paid = browser
        .submit(&checkout, &checkout, &card_fields("5555 5555 5555 4444"))
        .await;
    assert!(!paid.location().contains("card="));
    assert_eq!(
        methods::of_database(&mut app.db.conn(), customer.database_id)
            .unwrap()
            .len(),
        1
    );
    // Settings leads there.
    assert!(
        browser
            .get("/settings")
            .await
            .body
            .contains("/settings/payment-methods")
    );
}

#[actix_web::test]
async fn payment_methods_adds_checks_and_removes_cards_of_its_own_database_only() {
    let app = TestApp::new();
    let (customer, _, browser) = admin_with_sms(&app, "Cards", "10").await;
    let page = "/settings/payment-methods";
    let bad = browser
        .submit(page, page, &card_fields("4242 4242 4242 4241"))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("This card number is not valid"));
    assert!(
        bad.body.contains("value=\"Ada Lovelace\""),
        "the typed name is kept"
    );
    let refused = browser
        .submit(page, page, &card_fields("4000 0000 0000 0002"))
        .await;
    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED);
    assert!(refused.body.contains("Your card was declined."));
    let added = browser
        .submit(page, page, &card_fields("4000 0000 0000 0341"))
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let listed = browser.get(added.location()).await;
    assert!(listed.body.contains("The card is saved."));
    assert!(listed.body.contains("Visa ending 0341"));
    let card = methods::of_database(&mut app.db.conn(), customer.database_id).unwrap()[0].clone();

    // Another database's admin cannot remove it; a plain user cannot see the page.
    let (_, _, stranger) = admin_with_sms(&app, "Stranger", "0").await;
    let action = format!("/settings/payment-methods/{}/remove", card.id);
    assert_eq!(
        stranger.submit(page, &action, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    customer.user(&mut app.db.conn(), "clerk@cards.test", Role::User);
    let clerk = app.browser();
    clerk.sign_in("clerk@cards.test", PASSWORD).await;
    assert_ne!(clerk.get(page).await.status, StatusCode::OK);

    let removed = browser.submit(page, &action, &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert!(
        methods::of_database(&mut app.db.conn(), customer.database_id)
            .unwrap()
            .is_empty()
    );
    assert!(
        browser
            .get(removed.location())
            .await
            .body
            .contains("No card is saved yet")
    );
}

#[actix_web::test]
async fn the_top_up_form_saves_refuses_with_messages_and_shows_what_it_did() {
    let app = TestApp::new();
    let (customer, account, browser) = admin_with_sms(&app, "Topper", "150").await;
    let info = format!("/iap/accounts/{account}");
    let action = format!("{info}/topup");
    let page = browser.get(&info).await;
    assert!(page.body.contains("Top up automatically"));
    assert!(page.body.contains("No card is saved yet"));
    let (pack_id, card_id) = {
        let conn = &mut app.db.conn();
        let a = reload(conn, account);
        let pack = catalog::active_packs(conn, a.service_id)
            .unwrap()
            .into_iter()
            .find(|p| p.name == "Standard Pack")
            .unwrap();
        let card =
            iap_credits::domain::payments::Card::parse("Ada", "4242424242424242", "12/39", "123")
                .unwrap();
        let saved = methods::save(
            conn,
            &MockProvider::default(),
            customer.database_id,
            None,
            &card,
        )
        .unwrap()
        .unwrap();
        (pack.id.to_string(), saved.id.to_string())
    };

    // Refused: the values come back with a message next to each field; nothing is saved.
    let refused = browser
        .submit(
            &info,
            &action,
            &[
                ("enabled", "on"),
                ("below", "-3"),
                ("pack_id", &pack_id),
                ("cap_kind", "amount"),
                ("cap_count", "3"),
                ("cap_amount", "10"),
                ("payment_method_id", &card_id),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("id=\"topup-below-error\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"-3\""));
    assert!(topup::find(&mut app.db.conn(), account).unwrap().is_none());
    let refused = browser
        .submit(
            &info,
            &action,
            &[
                ("enabled", "on"),
                ("below", "100"),
                ("pack_id", &pack_id),
                ("cap_kind", "amount"),
                ("cap_amount", "10"),
                ("payment_method_id", &card_id),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .body
            .contains("The limit is less than one Standard Pack pack (95.00 EUR).")
    );

    let saved = browser
        .submit(
            &info,
            &action,
            &[
                ("enabled", "on"),
                ("below", "100"),
                ("pack_id", &pack_id),
                ("cap_kind", "count"),
                ("cap_count", "2"),
                ("payment_method_id", &card_id),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("Saved."));
    assert!(
        saved.body.contains("<strong>On:</strong> when available credits fall below 100, buy Standard Pack (100 credits, 95.00 EUR) with the Visa ending 4242, expires 12/39, at most 2 top-ups a month."),
        "{}",
        saved.body
    );

    // A debit across 100 orders it; the worker pays it; the page lists it.
    let conn = &mut app.db.conn();
    let funded = reload(conn, account);
    spend(conn, &funded, "60");
    assert_eq!(
        topup::pay_due(conn, &MockProvider::default(), Utc::now(), 20)
            .unwrap()
            .paid,
        1
    );
    assert_eq!(reload(conn, account).balance, c("190"));
    let page = browser.get(&info).await;
    assert!(page.body.contains("Latest automatic top-ups"));
    assert!(
        page.body.contains("This month: 1 top-up (95.00 EUR)"),
        "{}",
        page.body
    );
    let order = &orders::auto::recent(conn, account, 1).unwrap()[0];
    assert!(page.body.contains(&order.number()));

    // A plain user sees no form and cannot post one.
    customer.user(conn, "clerk@topper.test", Role::User);
    let clerk = app.browser();
    clerk.sign_in("clerk@topper.test", PASSWORD).await;
    let seen = clerk.get(&info).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(!seen.body.contains("Top up automatically"));
    let posted = clerk
        .submit(
            &info,
            &action,
            &[
                ("below", "1"),
                ("pack_id", &pack_id),
                ("cap_kind", "count"),
                ("cap_count", "1"),
            ],
        )
        .await;
    assert_ne!(posted.status, StatusCode::OK);
    assert!(topup::find(conn, account).unwrap().unwrap().enabled);
}

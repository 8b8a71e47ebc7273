//! Buying credits in a browser: the checkout, several accounts, alerts, Odoo's buy link, the
//! operator's dashboard and automatic top-up.

use fantoccini::Locator;
use serde_json::json;

use super::*;
use crate::harness::TestDb;

#[tokio::test]
async fn manually_buying_the_standard_pack_in_a_browser() {
    let db = TestDb::new();
    let (_processes, client, base) = start(&db).await;
    let account_url = sign_in_and_open_sms(&client, &base).await;
    assert_eq!(
        balance(&client, &account_url).await,
        "10",
        "the trial credits"
    );

    let receipt = buy_in_new_tab(&client, "Standard Pack", "4242 4242 4242 4242").await;
    assert!(receipt.contains("your credits are available"), "{receipt}");
    assert_eq!(
        balance(&client, &account_url).await,
        "110",
        "up by exactly 100"
    );

    let declined = buy_in_new_tab(&client, "Starter Pack", "4000 0000 0000 0002").await;
    assert!(declined.contains("Your card was declined."), "{declined}");
    assert_eq!(
        balance(&client, &account_url).await,
        "110",
        "a declined card changes nothing"
    );
    client.close().await.unwrap();
}

#[tokio::test]
async fn two_sms_accounts_renamed_made_default_and_credits_moved_in_a_browser() {
    let db = TestDb::new();
    let (_processes, client, base) = start(&db).await;
    // A second SMS token of the demo database, as Odoo sends for a second company.
    let (first, second) = {
        let mut conn = db.conn();
        let demo = iap_credits::domain::tenancy::find_database(
            &mut conn,
            iap_credits::demo::DEMO_DATABASE,
        )
        .unwrap()
        .unwrap();
        let sms = iap_credits::domain::catalog::service_by_slug(&mut conn, "sms")
            .unwrap()
            .unwrap();
        let first =
            iap_credits::domain::ledger::accounts::get_or_create(&mut conn, demo.id, sms.id)
                .unwrap();
        let token = format!("{:032x}", rand::random::<u128>());
        let (second, _) = iap_credits::domain::ledger::accounts::get_or_create_with_token(
            &mut conn, demo.id, sms.id, &token,
        )
        .unwrap();
        iap_credits::domain::ledger::grant(
            &mut conn,
            second.id,
            iap_credits::kernel::credits::Credits::whole(10),
            iap_credits::domain::ledger::GrantKind::Adjustment,
            "test money",
            &iap_credits::domain::ledger::Actor::cli(),
        )
        .unwrap();
        (first, second)
    };
    let first_before = {
        let mut conn = db.conn();
        iap_credits::domain::ledger::accounts::by_id(&mut conn, first.id)
            .unwrap()
            .unwrap()
            .balance
    };
    client.goto(&format!("{base}/login")).await.unwrap();
    type_into(&client, "#email", "admin@demo.test").await;
    type_into(&client, "#password", "demo-password").await;
    click(&client, "form.stacked button[type=submit]").await;
    client.goto(&format!("{base}/iap/accounts")).await.unwrap();
    heading_is(&client, "IAP Account").await;
    click_link(
        &client,
        &format!("SMS (account …{})", second.token_ending()),
    )
    .await;
    heading_is(&client, "Account Information").await;

    // Rename it.
    type_into(&client, "#label", "Company B").await;
    click(&client, "form.label button[type=submit]").await;
    text_when(&client, "#this-account", |t| t.contains("Label saved.")).await;
    assert_eq!(text(&client, "#account-label").await, "Company B");
    // Make it the default.
    click(&client, "form.make-default button[type=submit]").await;
    text_when(&client, "#default-status", |t| t.starts_with("Yes")).await;
    // Move 5 credits to the other account.
    type_into(&client, "#move_credits", "5").await;
    click(&client, "form.move button[type=submit]").await;
    let moved = text_when(&client, "form.move", |t| t.contains("Moved")).await;
    assert!(moved.contains("Moved 5 credits"), "{moved}");
    snapshot(&client, "several-accounts").await;
    {
        let mut conn = db.conn();
        let balance = |conn: &mut diesel::PgConnection, id| {
            iap_credits::domain::ledger::accounts::by_id(conn, id)
                .unwrap()
                .unwrap()
                .balance
        };
        assert_eq!(
            balance(&mut conn, second.id),
            iap_credits::kernel::credits::Credits::whole(5)
        );
        assert_eq!(
            balance(&mut conn, first.id).units(),
            first_before.units() + iap_credits::kernel::credits::Credits::whole(5).units()
        );
    }
    // View My Services names it and marks it as the default.
    client.goto(&format!("{base}/iap/accounts")).await.unwrap();
    let list = text(&client, "table.list").await;
    assert!(
        list.contains(&format!(
            "SMS · Company B (account …{}) default",
            second.token_ending()
        )),
        "{list}"
    );
    client.close().await.unwrap();
}

#[tokio::test]
async fn warn_me_reveals_threshold_and_warning_email() {
    let db = TestDb::new();
    let (_processes, client, base) = start(&db).await;
    sign_in_and_open_sms(&client, &base).await;
    let fields = client.find(Locator::Id("alert-fields")).await.unwrap();
    assert!(
        !fields.is_displayed().await.unwrap(),
        "hidden while Warn Me is off"
    );
    click(&client, "#warn_me").await;
    assert!(
        fields.is_displayed().await.unwrap(),
        "ticking Warn Me reveals the fields"
    );
    type_into(&client, "#threshold", "5").await;
    type_into(&client, "#warning_email", "ops@demo.test").await;
    click(&client, "form.alerts button[type=submit]").await;
    assert_eq!(text(&client, "form.alerts .alert.ok").await, "Saved.");
    client.close().await.unwrap();
}

#[tokio::test]
async fn the_operator_finds_the_demo_purchase_and_its_revenue_on_the_dashboard() {
    let db = TestDb::new();
    let (_processes, client, base) = start(&db).await;
    sign_in_and_open_sms(&client, &base).await;
    let receipt = buy_in_new_tab(&client, "Standard Pack", "4242 4242 4242 4242").await;
    assert!(receipt.contains("your credits are available"), "{receipt}");
    click(&client, "header form button[type=submit]").await; // Sign out
    heading_is(&client, "IAP Catalog").await;
    client.goto(&format!("{base}/login")).await.unwrap();

    type_into(&client, "#email", "platform@demo.test").await;
    type_into(&client, "#password", "demo-password").await;
    click(&client, "form.stacked button[type=submit]").await;
    click_link(&client, "Admin").await;
    heading_is(&client, "Dashboard").await;
    let revenue = text(&client, "#revenue tbody").await;
    assert_eq!(revenue, "EUR 1 95.00 EUR 0.00 EUR 95.00 EUR");
    let per_service = text(&client, "#per-service tbody").await;
    assert!(
        per_service.starts_with("SMS 1 100 95.00 EUR"),
        "{per_service}"
    );
    let chart = client
        .find(Locator::Css("svg.chart[aria-label='Revenue per day']"))
        .await
        .unwrap();
    let size = chart.rectangle().await.unwrap();
    assert!(
        size.2 > 200.0 && size.3 > 50.0,
        "the chart is drawn: {size:?}"
    );
    snapshot(&client, "10-admin-dashboard").await;

    click(&client, ".subnav a[href='/admin/orders']").await;
    heading_is(&client, "Orders").await;
    let orders = text(&client, "#orders tbody").await;
    assert!(
        orders.contains("Demo Company SMS Standard Pack 100 95.00 EUR paid"),
        "{orders}"
    );
    click(&client, "#orders tbody th a").await;
    let title = text_when(&client, "main h1", |t| t.starts_with("Order IAP-")).await;
    assert!(
        text(&client, "#order-ledger").await.contains("purchase"),
        "{title}"
    );
    snapshot(&client, "11-admin-order").await;
    client.close().await.unwrap();
}

/// The available credits of the account of `token`, read in the database.
fn available_of(db: &TestDb, token: &str) -> String {
    let mut conn = db.conn();
    iap_credits::domain::ledger::accounts::by_token(&mut conn, token)
        .unwrap()
        .unwrap()
        .available()
        .to_display()
}

/// Pays the checkout on screen with the approved test card; returns the page's text after.
async fn pay_on_checkout(client: &Client) -> String {
    heading_is(client, "Checkout").await;
    type_into(client, "#holder", "Grace Hopper").await;
    type_into(client, "#number", "4242 4242 4242 4242").await;
    type_into(client, "#expiry", "12/39").await;
    type_into(client, "#cvc", "123").await;
    click(client, "form.stacked button[type=submit]").await;
    text_when(client, "main", |t| t.contains("credits are available")).await
}

#[tokio::test]
async fn odoos_buy_credits_link_plain_and_hashed_in_a_browser() {
    let db = TestDb::new();
    let (_processes, client, base) = start(&db).await;
    // An Odoo database's token, met first by its balance call.
    let dbuuid = "8e2b6c4a-1d2f-11ef-9a3b-0242ac120002";
    let token = format!("{:032x}", rand::random::<u128>());
    let context = iap_credits::odoo::Context {
        base_url: base.clone(),
        sms: std::sync::Arc::new(iap_credits::services::sms::gateway::SimulatedCarrier::default()),
        directory: std::sync::Arc::new(
            iap_credits::services::directory::provider::UnavailableDirectory,
        ),
        outbound: Default::default(),
        client_address: "192.0.2.1".into(),
    };
    let register = json!({"dbuuid": dbuuid, "account_token": token, "service_name": "sms"});
    iap_credits::odoo::iap::balance(&mut db.conn(), &context, register.as_object().unwrap())
        .unwrap();

    // The plain link, as Odoo 18's "Buy credits" button opens it, lacking 120 credits.
    client
        .goto(&format!(
            "{base}/iap/1/credit?dbuuid={dbuuid}&service_name=sms&account_token={token}&credit=120"
        ))
        .await
        .unwrap();
    heading_is(&client, "Buy Credits for SMS").await;
    snapshot(&client, "odoo-1-buy-link").await;
    let chosen = client
        .find(Locator::Css("input[name=pack_id]:checked + label"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(chosen.starts_with("Advanced Pack"), "{chosen}");
    click(&client, "form.stacked button[type=submit]").await;
    let receipt = pay_on_checkout(&client).await;
    assert!(
        receipt.contains("go back to your Odoo database"),
        "{receipt}"
    );
    snapshot(&client, "odoo-2-receipt").await;
    assert_eq!(available_of(&db, &token), "500");

    // The hashed link: the token never travels; the Starter Pack this time.
    let sha1 = iap_credits::domain::ledger::accounts::token_sha1(&token);
    client
        .goto(&format!(
            "{base}/iap/1/credit?dbuuid={dbuuid}&service_name=sms&account_token={sha1}&hashed=1"
        ))
        .await
        .unwrap();
    heading_is(&client, "Buy Credits for SMS").await;
    assert!(text(&client, "main .lead").await.contains("500"));
    click(&client, "label[for^=pack-]").await;
    click(&client, "form.stacked button[type=submit]").await;
    pay_on_checkout(&client).await;
    assert_eq!(available_of(&db, &token), "510");

    // A hashed link that names no account: a clear page, not the packs.
    client
        .goto(&format!(
            "{base}/iap/1/credit?service_name=sms&account_token={}&hashed=1",
            "0".repeat(40)
        ))
        .await
        .unwrap();
    heading_is(&client, "Account not found").await;
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_card_saved_at_checkout_tops_up_automatically_when_the_api_spends_below_the_trigger() {
    let db = TestDb::new();
    let sink = crate::smtp_sink::SmtpSink::start();
    let (_processes, client, base) = start_with(&db, &[("SMTP_URL", sink.url())]).await;
    let account_url = sign_in_and_open_sms(&client, &base).await;
    assert_eq!(
        balance(&client, &account_url).await,
        "10",
        "the trial credits"
    );

    // Buy Credit → Standard Pack → pay, ticking "Save this card for automatic top-ups".
    let account_tab = open_buy_credit_tab(&client).await;
    click(&client, "button[aria-label='Buy Standard Pack']").await;
    heading_is(&client, "Checkout").await;
    type_into(&client, "#holder", "Ada Lovelace").await;
    type_into(&client, "#number", "4242 4242 4242 4242").await;
    type_into(&client, "#expiry", "12/39").await;
    type_into(&client, "#cvc", "123").await;
    click(&client, "#save_card").await;
    click(&client, "form.stacked button[type=submit]").await;
    let receipt = text_when(&client, "main", |t| t.contains("credits are available")).await;
    assert!(
        receipt.contains("The card is saved for automatic top-ups"),
        "{receipt}"
    );
    snapshot(&client, "topup-1-card-saved").await;
    client.close_window().await.unwrap();
    client.switch_to_window(account_tab).await.unwrap();
    assert_eq!(balance(&client, &account_url).await, "110");

    // Top up automatically: below 50, buy the Standard Pack, at most 3 a month, with the card.
    let below = client.find(Locator::Css("#topup_below")).await.unwrap();
    below.clear().await.unwrap();
    below.send_keys("50").await.unwrap();
    client
        .find(Locator::Css("#topup_pack"))
        .await
        .unwrap()
        .select_by_label("Standard Pack — 100 credits for 95.00 EUR")
        .await
        .unwrap();
    click(&client, "#topup_enabled").await;
    click(&client, "form.topup button[type=submit]").await;
    let status = text_when(&client, "#topup-status", |t| t.contains("On:")).await;
    assert!(
        status.contains("when available credits fall below 50, buy Standard Pack (100 credits, 95.00 EUR) with the Visa ending 4242"),
        "{status}"
    );
    client
        .execute("document.getElementById('topup').scrollIntoView()", vec![])
        .await
        .unwrap();
    snapshot(&client, "topup-2-on").await;

    // The account's token, as the admin reveals it, spends 70 through the API: 110 → 40.
    let token = client
        .execute(
            "return document.querySelector('details.token > code').textContent",
            vec![],
        )
        .await
        .unwrap();
    let token = token.as_str().unwrap().to_string();
    let charged = client
        .execute_async(
            "const [token, done] = arguments;
             fetch('/api/v1/charges', {method: 'POST', headers: {'Authorization': 'Bearer ' + token,
               'Content-Type': 'application/json', 'Idempotency-Key': 'browser-topup-1'},
               body: JSON.stringify({credits: '70', description: 'campaign'})})
               .then(r => r.json().then(b => done([r.status, b.balance])));",
            vec![json!(token)],
        )
        .await
        .unwrap();
    assert_eq!(charged, json!([201, "40.0000"]));

    // The worker pays the top-up with the saved card: 40 + 100.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = balance(&client, &account_url).await;
        if shown == "140" {
            break;
        }
        assert!(Instant::now() < deadline, "no top-up credited: {shown}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let topups = text(&client, "table.topups").await;
    assert!(
        topups.contains("Standard Pack") && topups.contains("paid"),
        "{topups}"
    );
    assert!(text(&client, "#topup-status").await.contains("On:"));
    // The forecast sentence and the usage chart are on the page.
    let forecast = text(&client, "#forecast").await;
    // Today's use only: under 7 days of history.
    assert!(
        forecast.starts_with("Not enough history yet to say how long these credits last."),
        "{forecast}"
    );
    assert!(
        client.find(Locator::Css("#usage svg")).await.is_ok(),
        "the usage chart"
    );
    client
        .execute("document.getElementById('topup').scrollIntoView()", vec![])
        .await
        .unwrap();
    snapshot(&client, "topup-3-credited").await;

    // One receipt for the top-up reaches the SMTP server (the first is the checkout's).
    let deadline = Instant::now() + Duration::from_secs(30);
    let receipts = loop {
        let receipts: Vec<_> = sink
            .received()
            .into_iter()
            .filter(|m| m.subject.starts_with("Receipt for your order"))
            .collect();
        if receipts.len() >= 2 || Instant::now() > deadline {
            break receipts;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    let topup_receipt = &receipts[1];
    assert_eq!(topup_receipt.rcpt_tos, ["admin@demo.test"]);
    assert!(
        topup_receipt.subject.contains("SMS Standard Pack"),
        "{}",
        topup_receipt.subject
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all_receipts = sink
        .received()
        .into_iter()
        .filter(|m| m.subject.starts_with("Receipt for your order"))
        .count();
    assert_eq!(all_receipts, 2, "one receipt a paid order, no more");
}

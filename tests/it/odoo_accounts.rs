//! What an Odoo database does with its accounts through us: the IAP account form (balances,
//! alerts), the "Buy credits" link opened in a browser, and Odoo 19's auto-refill.

use actix_web::http::StatusCode;
use diesel::prelude::*;
use iap_credits::domain::catalog;
use iap_credits::domain::ledger;
use iap_credits::kernel::credits::Credits;
use serde_json::{Value, json};

use crate::fixtures::{assert_consistent, c};
use crate::harness::TestApp;
use crate::odoo::*;

#[actix_web::test]
async fn the_account_form_reads_balances_and_sets_alerts_like_account_information() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let (sms, reveal) = (odoo_token(), odoo_token());
    call(
        &app,
        "/iap/1/balance",
        json!({"dbuuid": DBUUID, "account_token": sms, "service_name": "sms"}),
    )
    .await
    .unwrap();
    fund(&mut conn, &sms, "7.25");
    // A token of another database is left out of the answer.
    let foreign = odoo_token();
    call(
        &app,
        "/iap/1/balance",
        json!({"dbuuid": OTHER_DBUUID, "account_token": foreign, "service_name": "sms"}),
    )
    .await
    .unwrap();
    let information = call(
        &app,
        "/iap/1/get-accounts-information",
        json!({"dbuuid": DBUUID, "iap_accounts": [
            {"token": sms, "service": "sms"},
            {"token": reveal, "service": "reveal"},
            {"token": foreign, "service": "sms"},
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(information[&sms]["balance"], json!(7.25));
    assert_eq!(information[&sms]["registered"], "registered");
    assert_eq!(
        information[&reveal]["balance"],
        json!(0.0),
        "registered on first sight"
    );
    assert!(information.get(&foreign).is_none(), "{information}");

    // Odoo 18's alert form: a threshold and the users to warn. A new address is not taken on
    // the token's word: the answer links to where an administrator confirms it.
    let alerts = |emails: Value| json!({"account_token": sms, "warning_threshold": 5, "warning_emails": emails});
    let set = alerts(json!([{"email": "ops@acme.test", "lang_code": "en_US"}]));
    let (name, message) = call(&app, "/iap/1/update-warning-email-alerts", set.clone())
        .await
        .unwrap_err();
    assert_eq!(name, USER);
    let account = ledger::accounts::by_token(&mut conn, &sms)
        .unwrap()
        .unwrap();
    assert!(
        message.contains(&format!(
            "http://127.0.0.1:8080/iap/accounts/{}?propose=alerts&threshold=5&warning_email=ops%40acme.test#alerts",
            account.id
        )),
        "{message}"
    );
    assert!(!account.warn_me, "nothing changed");
    // Once an administrator has confirmed that address, Odoo may set it (and less) freely.
    ledger::accounts::save_alert_settings(
        &mut conn,
        account.id,
        &ledger::accounts::AlertSettings::parse(false, "1", "ops@acme.test").unwrap(),
    )
    .unwrap();
    assert_eq!(
        call(&app, "/iap/1/update-warning-email-alerts", set).await,
        Ok(json!(true))
    );
    let account = ledger::accounts::by_token(&mut conn, &sms)
        .unwrap()
        .unwrap();
    assert!(account.warn_me);
    assert_eq!(account.threshold, c("5"));
    assert_eq!(account.warning_email, "ops@acme.test");
    // The form's own rules: at most 5 addresses, plain ones.
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"email": format!("u{i}@acme.test")}))
        .collect();
    let Err((name, message)) = call(
        &app,
        "/iap/1/update-warning-email-alerts",
        alerts(json!(six)),
    )
    .await
    else {
        panic!("six addresses accepted");
    };
    assert_eq!(name, USER);
    assert!(message.contains("At most 5"), "{message}");
    let named = alerts(json!([{"email": "Ops <ops@acme.test>"}]));
    assert_eq!(
        error_name(call(&app, "/iap/1/update-warning-email-alerts", named).await),
        USER
    );
    let unchanged = ledger::accounts::by_token(&mut conn, &sms)
        .unwrap()
        .unwrap();
    assert_eq!(unchanged.warning_email, "ops@acme.test");

    // Odoo 16/17: the three fields of the form, and the list of known accounts.
    let old_form = json!({"account_token": sms, "dbuuid": DBUUID, "warn_me": false,
                          "warning_threshold": 2.5, "warning_email": "a@acme.test, b@acme.test"});
    assert_eq!(
        error_name(call(&app, "/iap/update-warning-odoo", old_form).await),
        USER,
        "new addresses, even with Warn Me off"
    );
    let old_form = json!({"account_token": sms, "dbuuid": DBUUID, "warn_me": false,
                          "warning_threshold": 2.5, "warning_email": "OPS@acme.test"});
    assert_eq!(
        call(&app, "/iap/update-warning-odoo", old_form).await,
        Ok(json!(true))
    );
    let listed = call(
        &app,
        "/iap/services-token",
        json!({"dbuuid": DBUUID, "iap_accounts": [sms, odoo_token(), foreign]}),
    )
    .await
    .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(
        listed.len(),
        1,
        "only this database's known accounts: {listed:?}"
    );
    assert_eq!(listed[0]["service_name"], "sms");
    assert_eq!(listed[0]["warn_me"], false);
    assert_eq!(listed[0]["warning_threshold"], json!(2.5));
    assert_eq!(listed[0]["warning_email"], "ops@acme.test");
    assert_eq!(
        listed[0]["account_uuid_hashed"],
        ledger::accounts::token_sha1(&sms)
    );
    // Unknown tokens set nothing.
    let unknown =
        json!({"account_token": odoo_token(), "warning_threshold": 1, "warning_emails": []});
    assert_eq!(
        error_name(call(&app, "/iap/1/update-warning-email-alerts", unknown).await),
        ACCESS
    );
}

/// The link Odoo's "Buy credits" button opens.
pub(crate) fn buy_link(token: &str, credit: &str) -> String {
    format!("/iap/1/credit?dbuuid={DBUUID}&service_name=sms&account_token={token}&credit={credit}")
}

/// The id of the pack whose radio is checked on a link's page.
fn checked_pack(body: &str) -> Option<String> {
    let at = body.find(" checked")?;
    let value = body[..at].rfind("value=\"")? + 7;
    Some(body[value..].split('"').next()?.to_string())
}

fn pack_id(conn: &mut PgConnection, name: &str) -> String {
    let sms = catalog::service_by_slug(conn, "sms").unwrap().unwrap();
    catalog::active_packs(conn, sms.id)
        .unwrap()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap()
        .id
        .to_string()
}

#[actix_web::test]
async fn the_buy_link_sells_a_pack_without_signing_in_credited_once() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let token = odoo_token();
    let browser = app.browser();

    // A new token: the link registers it, and offers the smallest pack covering 120 credits.
    let page = browser.get(&buy_link(&token, "120")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Buy Credits for SMS"));
    assert!(
        !page.body.contains(DBUUID),
        "a page opened with a token shows nothing of the database but that account"
    );
    assert!(page.body.contains(&format!("…{}", &token[28..])));
    assert!(
        !page.body.contains(&token),
        "the token is never shown in a page"
    );
    let advanced = pack_id(&mut conn, "Advanced Pack");
    assert_eq!(checked_pack(&page.body), Some(advanced.clone()));
    let small = browser.get(&buy_link(&token, "3")).await;
    assert_eq!(
        checked_pack(&small.body),
        Some(pack_id(&mut conn, "Starter Pack"))
    );

    let ordered = browser
        .submit(
            &buy_link(&token, "120"),
            "/iap/1/credit/order",
            &[("pack_id", &advanced)],
        )
        .await;
    assert_eq!(ordered.status, StatusCode::SEE_OTHER, "{}", ordered.body);
    let checkout = ordered.location().to_string();
    assert!(
        checkout.starts_with("/iap/1/credit/checkout/"),
        "{checkout}"
    );
    let card = [
        ("holder", "Ada Lovelace"),
        ("number", "4242 4242 4242 4242"),
        ("expiry", "12/39"),
        ("cvc", "123"),
    ];
    let csrf = browser.get(&checkout).await.csrf_token().unwrap();
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(&card);
    let paid = browser.post(&checkout, &form).await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.body);
    let receipt = browser.get(paid.location()).await;
    assert!(
        receipt.body.contains("your credits are available"),
        "{}",
        receipt.body
    );
    assert!(receipt.body.contains("go back to your Odoo database"));
    // Paying again (a re-post, a second tab) credits nothing more.
    let again = browser.post(&checkout, &form).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert!(browser.get(&checkout).await.body.contains("already paid"));
    let balance = json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    assert_eq!(
        call(&app, "/iap/1/balance", balance).await,
        Ok(json!(500.0))
    );

    // The hashed link finds the same account by the SHA-1 of its token.
    let hashed = format!(
        "/iap/1/credit?dbuuid={DBUUID}&service_name=sms&account_token={}&hashed=1",
        ledger::accounts::token_sha1(&token)
    );
    let page = app.browser().get(&hashed).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("500"), "the current balance is shown");
    assert_consistent(&mut conn);
}

#[actix_web::test]
async fn a_link_naming_no_account_is_a_404_and_guessing_is_throttled() {
    let app = TestApp::new();
    let browser = app.browser_from("203.0.113.9");
    let unknown = |n: u32| {
        format!(
            "/iap/1/credit?dbuuid={DBUUID}&service_name=sms&account_token={:040x}&hashed=1",
            u128::from(n)
        )
    };
    let page = browser.get(&unknown(1)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.body.contains("does not name an account"),
        "{}",
        page.body
    );
    for n in 2..=10 {
        browser.get(&unknown(n)).await;
    }
    let locked = browser.get(&unknown(11)).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    // Another address is not held back by this one.
    let other = app.browser_from("198.51.100.7").get(&unknown(12)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    // A damaged link says what is wrong; nothing of a link's pages opens without one.
    let damaged = app.browser().get("/iap/1/credit?service_name=sms").await;
    assert_eq!(damaged.status, StatusCode::BAD_REQUEST);
    assert!(damaged.body.contains("names no account"));
    let stranger = app.browser();
    assert_eq!(
        stranger.get("/iap/1/credit/checkout/1").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stranger.get("/iap/1/credit/packs").await.status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn odoo_19_sets_the_auto_refill_and_reads_it_back_with_the_packs() {
    use iap_credits::domain::payments::{Card, MockProvider, methods};
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let token = odoo_token();
    call(
        &app,
        "/iap/1/balance",
        json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"}),
    )
    .await
    .unwrap();
    let account = ledger::accounts::by_token(&mut conn, &token)
        .unwrap()
        .unwrap();
    let standard: i64 = pack_id(&mut conn, "Standard Pack").parse().unwrap();
    // Above the threshold: turning it on orders nothing yet.
    fund(&mut conn, &token, "10");
    let set = |threshold: Value, pack: Value| json!({"account_token": token, "auto_refill_threshold": threshold, "auto_refill_pack_id": pack});
    // The token alone cannot turn it on (it is handed to services and providers, and the card
    // would be charged): the answer links to where an administrator confirms it.
    let answer = call(
        &app,
        "/iap/1/update-auto-refill-settings",
        set(json!(5.0), json!(standard)),
    )
    .await
    .unwrap();
    assert_eq!(answer["status"], "error");
    let proposal = format!(
        "/iap/accounts/{}?propose=topup&below=5.0001&pack={standard}",
        account.id
    );
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains(&format!("http://127.0.0.1:8080{proposal}#topup")),
        "{answer}"
    );
    assert!(
        iap_credits::domain::topup::find(&mut conn, account.id)
            .unwrap()
            .is_none()
    );
    let answer = call(
        &app,
        "/iap/1/update-auto-refill-settings",
        set(json!(5.0), json!(999_999)),
    )
    .await
    .unwrap();
    assert_eq!(
        answer["error"],
        "This pack is not on sale for this service."
    );

    let card = Card::parse("Ada", "4242424242424242", "12/39", "123").unwrap();
    let card = methods::save(
        &mut conn,
        &MockProvider::default(),
        account.database_id,
        None,
        &card,
    )
    .unwrap()
    .unwrap();
    // An administrator of the database follows the link: the form shows the proposal, nothing
    // is saved until they save it.
    let admin = admin_of(&app, &mut conn, account.database_id).await;
    let page = admin.get(&proposal).await;
    assert!(
        page.body.contains("An Odoo database asked to turn this on"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"id="topup_below" name="below" inputmode="decimal" value="5.0001""#)
    );
    let confirmed = admin
        .submit(
            &proposal,
            &format!("/iap/accounts/{}/topup", account.id),
            &[
                ("enabled", "on"),
                ("below", "5.0001"),
                ("pack_id", &standard.to_string()),
                ("cap_kind", "count"),
                ("cap_count", "3"),
                ("payment_method_id", &card.id.to_string()),
            ],
        )
        .await;
    assert!(confirmed.status.is_success(), "{}", confirmed.body);
    let settings = iap_credits::domain::topup::find(&mut conn, account.id)
        .unwrap()
        .unwrap();
    assert!(settings.enabled);
    assert_eq!(settings.below.to_form_text(), "5.0001", "5 or less");
    assert_eq!(settings.cap(), iap_credits::domain::topup::Cap::TopUps(3));

    let information = call(
        &app,
        "/iap/1/get-accounts-information",
        json!({"dbuuid": DBUUID, "iap_accounts": [{"token": token, "service": "sms"}]}),
    )
    .await
    .unwrap();
    let info = &information[&token];
    assert_eq!(info["auto_refill_threshold"], json!(5.0));
    assert_eq!(info["auto_refill_pack_id"], json!(standard));
    let packs = info["service"]["packs"].as_array().unwrap();
    assert!(packs.iter().any(|p| p["id"] == json!(standard)
        && p["credit"] == json!(100.0)
        && p["price"] == json!(95.0)
        && p["name"] == "Standard Pack"));

    // Exactly 5 left is "5 or less": a top-up is ordered.
    ledger::charge(
        &mut conn,
        account.id,
        Credits::parse("4.9999").unwrap(),
        "",
        &ledger::Actor::cli(),
    )
    .unwrap();
    let left = call(
        &app,
        "/iap/1/balance",
        json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"}),
    )
    .await
    .unwrap();
    assert_eq!(left, json!(5.0001));
    assert_eq!(
        iap_credits::domain::orders::auto::recent(&mut conn, account.id, 5)
            .unwrap()
            .len(),
        0,
        "5.0001 is above 5"
    );
    ledger::charge(
        &mut conn,
        account.id,
        Credits::parse("0.0001").unwrap(),
        "",
        &ledger::Actor::cli(),
    )
    .unwrap();
    assert_eq!(
        iap_credits::domain::orders::auto::recent(&mut conn, account.id, 5)
            .unwrap()
            .len(),
        1
    );

    // Lowering it needs no one's consent; raising it again does.
    let cheaper: i64 = pack_id(&mut conn, "Starter Pack").parse().unwrap();
    let answer = call(
        &app,
        "/iap/1/update-auto-refill-settings",
        set(json!(3.0), json!(cheaper)),
    )
    .await
    .unwrap();
    assert_eq!(answer, json!({"status": "success"}));
    let raised = call(
        &app,
        "/iap/1/update-auto-refill-settings",
        set(json!(3.0), json!(standard)),
    )
    .await
    .unwrap();
    assert_eq!(raised["status"], "error", "a dearer pack");
    let settings = iap_credits::domain::topup::find(&mut conn, account.id)
        .unwrap()
        .unwrap();
    assert_eq!(
        (settings.below.to_form_text(), settings.pack_id.0),
        ("3.0001".into(), cheaper)
    );
    // Threshold 0 switches it off, as Odoo's form does.
    let answer = call(
        &app,
        "/iap/1/update-auto-refill-settings",
        set(json!(0.0), json!(0)),
    )
    .await
    .unwrap();
    assert_eq!(answer, json!({"status": "success"}));
    assert!(
        !iap_credits::domain::topup::find(&mut conn, account.id)
            .unwrap()
            .unwrap()
            .enabled
    );
    let information = call(
        &app,
        "/iap/1/get-accounts-information",
        json!({"dbuuid": DBUUID, "iap_accounts": [{"token": token, "service": "sms"}]}),
    )
    .await
    .unwrap();
    assert_eq!(information[&token]["auto_refill_threshold"], json!(0.0));
    assert_eq!(information[&token]["auto_refill_pack_id"], json!(false));
    // Odoo's "manage payment methods" link leads to Payment methods.
    let link = app
        .get(&format!("/iap/1/update-auto-refill-payment-methods?account_token={token}&dbuuid={DBUUID}&client_iap_account_id=1"))
        .await;
    assert_eq!(link.status, StatusCode::SEE_OTHER);
    assert_eq!(link.header("location"), "/settings/payment-methods");
}

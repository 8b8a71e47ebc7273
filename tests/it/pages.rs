//! The signed-in pages as a user walks them: sign in, Settings, View My Services (the IAP
//! Account list), Account Information with Warn Me; CSRF, roles and other databases' data.

use actix_web::http::StatusCode;
use iap_credits::domain::ledger::accounts;
use iap_credits::domain::tenancy::{Role, Subscription};

use crate::fixtures;
use crate::harness::TestApp;

#[actix_web::test]
async fn signing_in_leads_to_view_my_services_and_out_again() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    let page = browser.get("/iap/accounts").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=%2Fiap%2Faccounts");

    let login = browser.get("/login?next=/settings").await;
    assert!(login.body.contains(r#"<label for="email">Email</label>"#));
    let signed_in = browser
        .submit(
            "/login?next=/settings",
            "/login",
            &[
                ("email", "Admin@Demo.test"),
                ("password", "demo-password"),
                ("next", "/settings"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.location(), "/settings");
    let cookie = signed_in.header("set-cookie");
    assert!(
        cookie.contains("iap_session=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "http base URL: no Secure flag");

    let settings = browser.get("/settings").await;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(settings.body.contains("<h2 id=\"section-1\">Contacts</h2>"));
    assert!(settings.body.contains("<h3>Odoo IAP</h3>"));
    assert!(settings.body.contains(">View My Services</a>"));

    let list = browser.get("/iap/accounts").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("<h1>IAP Account</h1>"));
    assert!(list.body.contains(">SMS</a></th>"));
    assert!(
        list.body.contains("<td class=\"num\">10</td>"),
        "SMS trial credits arrived on first view"
    );

    let out = browser.submit("/iap/accounts", "/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        browser.get("/iap/accounts").await.status,
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn wrong_passwords_are_refused_then_throttled() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    let page = browser.sign_in("admin@demo.test", "wrong").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("Wrong email or password."));
    assert!(
        page.body.contains(r#"value="admin@demo.test""#),
        "the email is kept"
    );
    for _ in 0..4 {
        browser.sign_in("admin@demo.test", "wrong").await;
    }
    let page = browser.sign_in("admin@demo.test", "demo-password").await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.body
            .contains("Too many failed attempts. Try again in a minute.")
    );
    // That address is locked out for a minute, whatever login it tries…
    assert_eq!(
        browser
            .sign_in("user@demo.test", "demo-password")
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // …but the account is not: its owner elsewhere signs in.
    let elsewhere = app.browser_from("192.0.2.7");
    assert_eq!(
        elsewhere
            .sign_in("admin@demo.test", "demo-password")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    browser.get("/login").await;
    let page = browser
        .post(
            "/login",
            &[("email", "admin@demo.test"), ("password", "demo-password")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = browser
        .post(
            "/login",
            &[
                ("csrf_token", "forged"),
                ("email", "admin@demo.test"),
                ("password", "demo-password"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(
        browser
            .sign_in("admin@demo.test", "demo-password")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let list = browser.get("/iap/accounts").await;
    let sms_id = account_id_in(&list.body, "SMS");
    let page = browser
        .post(
            &format!("/iap/accounts/{sms_id}/alerts"),
            &[
                ("warn_me", "on"),
                ("threshold", "5"),
                ("warning_email", "a@b.example"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("did not come from this site"));
}

#[actix_web::test]
async fn a_form_posted_from_another_origin_is_refused_whatever_host_it_claims() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    let fields = [("email", "admin@demo.test"), ("password", "demo-password")];
    // The evil page's request claims the evil host too: only the configured base URL counts.
    let page = browser
        .submit_from(
            "https://evil.example",
            "evil.example",
            "/login",
            "/login",
            &fields,
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = browser
        .submit_from(
            "http://127.0.0.1:8080",
            "127.0.0.1:8080",
            "/login",
            "/login",
            &fields,
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

/// The id in the Account Information link of the list row of `service`.
fn account_id_in(list: &str, service: &str) -> iap_credits::kernel::ids::AccountId {
    let end = list.find(&format!("\">{service}</a>")).unwrap();
    let start = list[..end].rfind("/iap/accounts/").unwrap() + "/iap/accounts/".len();
    list[start..end].parse().unwrap()
}

#[actix_web::test]
async fn account_information_shows_balance_token_history_and_saves_warn_me() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    browser.sign_in("admin@demo.test", "demo-password").await;
    let sms_id = account_id_in(&browser.get("/iap/accounts").await.body, "SMS");
    let path = format!("/iap/accounts/{sms_id}");
    let page = browser.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<h1>Account Information</h1>"));
    assert!(page.body.contains(r#"<strong class="balance">10</strong>"#));
    assert!(
        page.body
            .contains(r#"target="_blank" rel="noopener">Buy Credit</a>"#)
    );
    assert!(
        page.body
            .contains(r#"<label for="warn_me">Warn Me</label>"#)
    );
    assert!(
        page.body
            .contains(r#"<label for="threshold">Threshold</label>"#)
    );
    assert!(
        page.body
            .contains(r#"<label for="warning_email">Warning Email</label>"#)
    );
    assert!(
        page.body.contains("Free trial credits for SMS"),
        "history shows the trial"
    );
    let account = accounts::by_id(&mut app.db.conn(), sms_id)
        .unwrap()
        .unwrap();
    assert!(
        page.body.contains(&account.token),
        "admins can reveal the token"
    );

    // Invalid values come back next to their fields, as typed.
    let page = browser
        .submit(
            &path,
            &format!("{path}/alerts"),
            &[
                ("warn_me", "on"),
                ("threshold", "-3"),
                ("warning_email", "ops@acme.example, nope"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains(r#"id="threshold-error""#));
    assert!(page.body.contains(r#"value="-3""#));
    assert!(page.body.contains("“nope” is not a valid email address."));
    assert!(page.body.contains(r#"value="ops@acme.example, nope""#));
    assert!(
        !accounts::by_id(&mut app.db.conn(), sms_id)
            .unwrap()
            .unwrap()
            .warn_me,
        "nothing saved"
    );
    // Not a mass mailer: five plain addresses at most.
    let six = "a@x.example, b@x.example, c@x.example, d@x.example, e@x.example, f@x.example";
    for (emails, message) in [
        (six, "At most 5 addresses receive the alert"),
        (
            "Ops <ops@acme.example>",
            "“Ops &#60;ops@acme.example&#62;” is not a valid email address.",
        ),
    ] {
        let page = browser
            .submit(
                &path,
                &format!("{path}/alerts"),
                &[
                    ("warn_me", "on"),
                    ("threshold", "5"),
                    ("warning_email", emails),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{emails}");
        assert!(page.body.contains(message), "{emails}");
    }

    let page = browser
        .submit(
            &path,
            &format!("{path}/alerts"),
            &[
                ("warn_me", "on"),
                ("threshold", "2.5"),
                ("warning_email", "Ops@Acme.example, billing@acme.example"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Saved."));
    let saved = accounts::by_id(&mut app.db.conn(), sms_id)
        .unwrap()
        .unwrap();
    assert!(saved.warn_me);
    assert_eq!(
        saved.threshold,
        iap_credits::kernel::credits::Credits::parse("2.5").unwrap()
    );
    assert_eq!(
        saved.warning_email,
        "ops@acme.example, billing@acme.example"
    );
    assert!(
        browser
            .get("/iap/accounts")
            .await
            .body
            .contains("On, below 2.5")
    );

    // Regenerating the token replaces it.
    let page = browser.submit(&path, &format!("{path}/token"), &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let renewed = accounts::by_id(&mut app.db.conn(), sms_id)
        .unwrap()
        .unwrap();
    assert_ne!(renewed.token, account.token);
}

#[actix_web::test]
async fn users_see_balances_but_not_settings_tokens_or_alert_forms() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    browser.sign_in("user@demo.test", "demo-password").await;
    let list = browser.get("/iap/accounts").await;
    assert_eq!(list.status, StatusCode::OK);
    let sms_id = account_id_in(&list.body, "SMS");
    let page = browser.get(&format!("/iap/accounts/{sms_id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let account = accounts::by_id(&mut app.db.conn(), sms_id)
        .unwrap()
        .unwrap();
    assert!(!page.body.contains(&account.token));
    assert!(!page.body.contains("Warn Me"));
    assert_eq!(browser.get("/settings").await.status, StatusCode::FORBIDDEN);
    assert!(!list.body.contains("href=\"/settings\""));
}

#[actix_web::test]
async fn another_databases_account_is_a_404() {
    let app = TestApp::new().with_demo();
    let mut conn = app.db.conn();
    fixtures::Customer::named(&mut conn, "Rival Inc", Subscription::Enterprise).user(
        &mut conn,
        "boss@rival.example",
        Role::Admin,
    );
    let demo = app.browser();
    demo.sign_in("admin@demo.test", "demo-password").await;
    let sms_id = account_id_in(&demo.get("/iap/accounts").await.body, "SMS");

    let rival = app.browser();
    assert_eq!(
        rival
            .sign_in("boss@rival.example", fixtures::PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        rival.get(&format!("/iap/accounts/{sms_id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let page = rival
        .submit(
            "/iap/accounts",
            &format!("/iap/accounts/{sms_id}/alerts"),
            &[("threshold", "1"), ("warning_email", "")],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = rival
        .submit(
            "/iap/accounts",
            &format!("/iap/accounts/{sms_id}/token"),
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let rival_list = rival.get("/iap/accounts").await;
    assert!(
        !rival_list
            .body
            .contains(&format!("/iap/accounts/{sms_id}\""))
    );
}

#[actix_web::test]
async fn sign_in_only_follows_local_next_paths() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    for (next, expected) in [
        ("https://evil.example/", "/iap/accounts"),
        ("//evil.example", "/iap/accounts"),
        ("/%09/evil.example", "/iap/accounts"),
        ("/\\evil.example", "/iap/accounts"),
        ("/settings\r\nSet-Cookie: stolen=1", "/iap/accounts"),
        ("/settings", "/settings"),
    ] {
        let page = browser
            .submit(
                "/login",
                "/login",
                &[
                    ("email", "admin@demo.test"),
                    ("password", "demo-password"),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(page.location(), expected, "{next}");
    }
}

#[actix_web::test]
async fn the_history_is_newest_first_twenty_at_a_time() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    browser.sign_in("admin@demo.test", "demo-password").await;
    let sms_id = account_id_in(&browser.get("/iap/accounts").await.body, "SMS");
    let mut conn = app.db.conn();
    for i in 1..=25 {
        iap_credits::domain::ledger::charge(
            &mut conn,
            sms_id,
            iap_credits::kernel::credits::Credits::parse("0.1").unwrap(),
            &format!("SMS number {i}"),
            &iap_credits::domain::ledger::Actor::cli(),
        )
        .unwrap();
    }
    let first = browser.get(&format!("/iap/accounts/{sms_id}")).await;
    let newest = first.body.find("SMS number 25").unwrap();
    let older = first.body.find("SMS number 24").unwrap();
    assert!(newest < older, "newest first");
    assert!(first.body.contains("SMS number 6<"));
    assert!(!first.body.contains("SMS number 5<"), "twenty per page");
    let start = first.body.find("?before=").unwrap() + "?before=".len();
    let before: String = first.body[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let second = browser
        .get(&format!("/iap/accounts/{sms_id}?before={before}"))
        .await;
    assert!(second.body.contains("SMS number 5<") && second.body.contains("SMS number 1<"));
    assert!(second.body.contains("Free trial credits for SMS"));
    assert!(!second.body.contains("SMS number 6<"));
    assert!(!second.body.contains("Older entries"));
}

//! Send SMS Text Message from the pages: the dialog, the chatter, refusals with the message
//! kept, Not enough credits with Buy Credits for SMS, mass SMS, and other databases' contacts.

use actix_web::http::StatusCode;
use iap_credits::domain::tenancy::{Role, Subscription};
use iap_credits::kernel::credits::Credits;

use crate::fixtures::{self, contact_id, sms_balance};
use crate::harness::TestApp;

#[actix_web::test]
async fn sending_from_a_contact_charges_and_logs_in_the_chatter() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    browser.sign_in("user@demo.test", "demo-password").await;
    let (_, before) = sms_balance(&app, &browser).await;
    assert_eq!(before, Credits::whole(10), "trial credits");
    let lucille = contact_id(&browser, "Lucille Dupont").await;
    let page = browser.get(&format!("/contacts/{lucille}")).await;
    assert!(
        page.body
            .contains(&format!("href=\"/contacts/{lucille}/sms?to=mobile\""))
    );
    assert!(
        !page.body.contains("sms?to=phone"),
        "no phone number, no SMS link"
    );

    let dialog = browser
        .get(&format!("/contacts/{lucille}/sms?to=mobile"))
        .await;
    assert!(
        dialog
            .body
            .contains("<h1 id=\"sms-title\">Send SMS Text Message</h1>")
    );
    assert!(
        dialog
            .body
            .contains("<label for=\"message\">Message</label>")
    );
    assert!(dialog.body.contains(">Send SMS</button>"));
    assert!(dialog.body.contains("+33 6 12 34 56 78"));

    let form = format!("/contacts/{lucille}/sms?to=mobile");
    let action = format!("/contacts/{lucille}/sms");
    let sent = browser
        .submit(
            &form,
            &action,
            &[("to", "mobile"), ("message", "Your order has shipped.")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    assert_eq!(sent.location(), format!("/contacts/{lucille}#chatter"));
    let page = browser.get(&format!("/contacts/{lucille}")).await;
    assert!(page.body.contains("Your order has shipped."));
    assert!(
        page.body.contains("1 SMS (GSM-7) · 0.076 credits · sent"),
        "France: 0.0760 per SMS"
    );
    let (_, after) = sms_balance(&app, &browser).await;
    assert_eq!(after, Credits::parse("9.924").unwrap());
    assert!(
        browser
            .get("/sms")
            .await
            .body
            .contains("Your order has shipped.")
    );

    // Bad input comes back with the message kept and nothing charged.
    let page = browser
        .submit(&form, &action, &[("to", "mobile"), ("message", "   ")])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Type a message."));
    let long = "a".repeat(2000);
    let page = browser
        .submit(&form, &action, &[("to", "mobile"), ("message", &long)])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("needs 14 SMS"));
    assert!(page.body.contains(&long));
    // Control characters pasted into the message come back with the message next to the
    // field; a NUL byte (which no browser types, and PostgreSQL cannot store) is a 400 for any
    // form. Neither is sent or charged.
    let page = browser
        .submit(
            &form,
            &action,
            &[("to", "mobile"), ("message", "Ring\u{7} the bell")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Remove the control characters"));
    let page = browser
        .submit(
            &form,
            &action,
            &[("to", "mobile"), ("message", "Free\0SMS")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("A field holds a NUL character"));
    assert_eq!(
        browser
            .post(&action, &[("to", "mobile"), ("message", "no token")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(sms_balance(&app, &browser).await.1, after);
}

#[actix_web::test]
async fn without_enough_credits_nothing_is_sent_and_buying_is_offered() {
    let app = TestApp::new().with_demo();
    let browser = fixtures::signed_in(
        &app,
        "Broke",
        Subscription::None,
        "broke@example.com",
        Role::Admin,
    )
    .await;
    let created = browser
        .submit(
            "/contacts/new",
            "/contacts/new",
            &[("name", "Client"), ("mobile", "+32 470 12 34 56")],
        )
        .await;
    let contact = created
        .location()
        .trim_start_matches("/contacts/")
        .to_string();
    let (account, balance) = sms_balance(&app, &browser).await;
    assert_eq!(balance, Credits::ZERO, "no trial for subscription none");
    let page = browser
        .submit(
            &format!("/contacts/{contact}/sms?to=mobile"),
            &format!("/contacts/{contact}/sms"),
            &[("to", "mobile"), ("message", "Hello")],
        )
        .await;
    assert_eq!(page.status, StatusCode::PAYMENT_REQUIRED);
    assert!(page.body.contains("Not enough credits."));
    assert!(
        page.body
            .contains("needs 0.0826 credits; your SMS account has 0 available")
    );
    assert!(page.body.contains(&format!("href=\"/iap/accounts/{account}/buy\" target=\"_blank\" rel=\"noopener\">Buy Credits for SMS</a>")));
    assert!(
        page.body.contains(">Hello</textarea>"),
        "the message is kept"
    );
    assert!(
        browser
            .get(&format!("/contacts/{contact}"))
            .await
            .body
            .contains("No messages yet.")
    );
}

#[actix_web::test]
async fn a_mass_sms_from_the_contact_list() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    browser.sign_in("user@demo.test", "demo-password").await;
    let list = browser.get("/contacts").await;
    assert!(
        list.body
            .contains(">Send SMS to the selected contacts</button>")
    );
    let lucille = contact_id(&browser, "Lucille Dupont").await;
    let sanne = contact_id(&browser, "Sanne de Vries").await;
    let dialog_path = format!("/sms/mass?ids={lucille}&ids={sanne}");
    let dialog = browser.get(&dialog_path).await;
    assert_eq!(dialog.status, StatusCode::OK);
    assert!(dialog.body.contains("Lucille Dupont, Sanne de Vries"));
    let (_, before) = sms_balance(&app, &browser).await;
    let (l, s) = (lucille.to_string(), sanne.to_string());
    let page = browser
        .submit(
            &dialog_path,
            "/sms/mass",
            &[
                ("ids", l.as_str()),
                ("ids", s.as_str()),
                ("message", "Spring sale"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // France 0.0760 + Netherlands 0.1015.
    assert!(page.body.contains("Sent 2 SMS for 0.1775 credits"));
    let (_, after) = sms_balance(&app, &browser).await;
    assert_eq!(before.units() - after.units(), 1_775);
    assert!(
        browser
            .get(&format!("/contacts/{sanne}"))
            .await
            .body
            .contains("Spring sale")
    );

    // A batch bigger than the balance sends nothing and says how much is missing.
    let (account, left) = sms_balance(&app, &browser).await;
    let drain = left.units() - 1_000; // leave 0.1 credit
    iap_credits::domain::ledger::adjust(
        &mut app.db.conn(),
        account,
        -drain,
        "test: leave 0.1",
        &iap_credits::domain::ledger::Actor::cli(),
    )
    .unwrap();
    let page = browser
        .submit(
            &dialog_path,
            "/sms/mass",
            &[
                ("ids", l.as_str()),
                ("ids", s.as_str()),
                ("message", "Second wave"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::PAYMENT_REQUIRED);
    assert!(
        page.body
            .contains("need 0.1775 credits; your SMS account has 0.1 available, 0.0775 missing."),
        "{}",
        page.body
    );
    assert!(page.body.contains(">Buy Credits for SMS</a>"));
    assert!(
        !browser
            .get(&format!("/contacts/{sanne}"))
            .await
            .body
            .contains("Second wave")
    );
    assert_eq!(
        sms_balance(&app, &browser).await.1,
        Credits::parse("0.1").unwrap()
    );
    assert_eq!(
        browser
            .post("/sms/mass", &[("ids", l.as_str()), ("message", "x")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn another_databases_contact_cannot_be_texted() {
    let app = TestApp::new().with_demo();
    let demo = app.browser();
    demo.sign_in("user@demo.test", "demo-password").await;
    let brandon = contact_id(&demo, "Brandon Freeman").await;
    let rival = fixtures::signed_in(
        &app,
        "Rival",
        Subscription::Enterprise,
        "boss@rival.example",
        Role::User,
    )
    .await;
    assert_eq!(
        rival
            .get(&format!("/contacts/{brandon}/sms?to=mobile"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let page = rival
        .submit(
            "/contacts",
            &format!("/contacts/{brandon}/sms"),
            &[("to", "mobile"), ("message", "Hi")],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

//! Snailmail: letters priced from the postage table, checked before anything is held (address,
//! country, A4, 20 pages), handed to the post once, charged when accepted, and followed to
//! delivered or undeliverable on the Letters list and in the contact's chatter.

use std::sync::Arc;
use std::time::Duration;

use iap_credits::domain::tenancy::{Role, Subscription};
use iap_credits::kernel::ids::ContactId;
use iap_credits::services::contacts::{self, ContactInput};
use iap_credits::services::documents;
use iap_credits::services::snailmail::post::{PostalService, SimulatedPost};
use iap_credits::services::snailmail::postage::{self, LetterOptions};
use iap_credits::services::snailmail::{self, LetterRefused, SendError, Sent};

use crate::digitization::inspector;
use crate::fixtures::{Customer, assert_consistent, c, operator, reload};
use crate::harness::TestDb;
use crate::sample_bills::letter_pdf;

const A4: (i64, i64) = (595, 842);

pub fn contact(
    conn: &mut diesel::PgConnection,
    customer: &Customer,
    postal_code: &str,
    country: &str,
) -> ContactId {
    customer.contact(
        conn,
        ContactInput {
            name: "Lucille Dupont".into(),
            street: "Rue de la Loi 16".into(),
            postal_code: postal_code.into(),
            city: "Brussels".into(),
            country: country.into(),
            ..ContactInput::default()
        },
    )
}

fn document(
    conn: &mut diesel::PgConnection,
    customer: &Customer,
    pdf: Vec<u8>,
) -> iap_credits::kernel::ids::DocumentId {
    let checked = documents::check(&inspector(), "letter.pdf", pdf).unwrap();
    documents::store(conn, customer.database_id, None, &checked)
        .unwrap()
        .id
}

#[test]
fn letters_are_checked_and_priced_before_anything_is_held() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let account = customer.funded(&mut conn, "snailmail", "10");
    let plain = LetterOptions::default();
    let quote = |conn: &mut diesel::PgConnection, doc, contact, options| {
        snailmail::quote(conn, customer.database_id, doc, contact, options)
    };
    let refused = |r: Result<snailmail::Quote, SendError>| match r {
        Err(SendError::Refused(why)) => why,
        other => panic!("{other:?}"),
    };
    let one_page = document(&mut conn, &customer, letter_pdf(1, A4.0, A4.1));
    let brussels = contact(&mut conn, &customer, "1000", "BE");
    let q = quote(&mut conn, one_page, brussels, plain).unwrap();
    assert_eq!((q.pages, q.sheets, q.zone.as_str()), (1, 1, "domestic"));
    assert_eq!(q.price, c("1"));
    let three = document(&mut conn, &customer, letter_pdf(3, A4.0, A4.1));
    let paris = contact(&mut conn, &customer, "75001", "FR");
    let all = LetterOptions {
        colour: true,
        duplex: true,
        cover: true,
    };
    // Europe: 1.5 + (2 printed sheets + a cover − 1) × 0.15 + 3 colour pages × 0.1
    assert_eq!(quote(&mut conn, three, paris, all).unwrap().price, c("2.1"));

    let letter_size = document(&mut conn, &customer, letter_pdf(2, 612, 792));
    assert_eq!(
        refused(quote(&mut conn, letter_size, brussels, plain)),
        LetterRefused::NotA4(1)
    );
    let long = document(&mut conn, &customer, letter_pdf(21, A4.0, A4.1));
    assert_eq!(
        refused(quote(&mut conn, long, brussels, plain)),
        LetterRefused::TooManyPages(21)
    );
    let tokyo = contact(&mut conn, &customer, "100-0001", "JP");
    assert_eq!(
        refused(quote(&mut conn, one_page, tokyo, plain)),
        LetterRefused::CountryNotServed("JP".into())
    );
    let nowhere = contacts::create(
        &mut conn,
        customer.database_id,
        &ContactInput {
            name: "No Address".into(),
            country: "BE".into(),
            ..ContactInput::default()
        }
        .validate()
        .unwrap(),
    )
    .unwrap()
    .id;
    assert_eq!(
        refused(quote(&mut conn, one_page, nowhere, plain)),
        LetterRefused::IncompleteAddress("the street")
    );
    let png = crate::sample_bills::png(&letter_pdf(1, A4.0, A4.1));
    let image = {
        let checked = documents::check(&inspector(), "scan.png", png).unwrap();
        documents::store(&mut conn, customer.database_id, None, &checked)
            .unwrap()
            .id
    };
    assert_eq!(
        refused(quote(&mut conn, image, brussels, plain)),
        LetterRefused::NotAPdf
    );
    // Nothing was held by any of it.
    let after = reload(&mut conn, account.id);
    assert_eq!((after.balance, after.available()), (c("10"), c("10")));

    // The operator's table: new prices and a newly served country, audited.
    let ops = operator(&mut conn);
    postage::update_zone(
        &mut conn,
        &ops,
        "world",
        &postage::ZoneInput {
            base_price: "3".into(),
            per_sheet: "0.3".into(),
            colour_per_page: "0.2".into(),
            countries: "US CA jp".into(),
        },
    )
    .unwrap();
    assert_eq!(
        quote(&mut conn, one_page, tokyo, plain).unwrap().price,
        c("3")
    );
    assert!(
        postage::update_zone(
            &mut conn,
            &ops,
            "world",
            &postage::ZoneInput {
                base_price: "-1".into(),
                countries: "XX".into(),
                ..Default::default()
            },
        )
        .is_err()
    );
    let audit = iap_credits::domain::audit::list(&mut conn, &Default::default(), 10).unwrap();
    assert!(audit.iter().any(|e| e.action == "postage.update"));
}

#[test]
fn a_letter_is_posted_once_charged_when_accepted_and_followed_to_delivery() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let user = customer.user(&mut conn, "ada@example.test", Role::User);
    let account = customer.funded(&mut conn, "snailmail", "2");
    let simulated = Arc::new(SimulatedPost::new(Duration::ZERO));
    let post: Arc<dyn PostalService> = simulated.clone();
    let doc = document(&mut conn, &customer, letter_pdf(2, A4.0, A4.1));
    let brussels = contact(&mut conn, &customer, "1000", "BE");
    let plain = LetterOptions::default();
    let q = snailmail::quote(&mut conn, customer.database_id, doc, brussels, plain).unwrap();
    assert_eq!(q.price, c("1.1"));
    let sent = snailmail::send(
        &mut conn,
        &post,
        customer.database_id,
        user,
        &q,
        &iap_credits::kernel::forms::new_form_key(),
    )
    .unwrap();
    let Sent::Sent { letter_id, price } = sent else {
        panic!("{sent:?}")
    };
    assert_eq!(price, c("1.1"));
    assert_eq!(reload(&mut conn, account.id).balance, c("0.9"));
    assert_eq!(simulated.printed(), 1);
    let events = contacts::events_of(&mut conn, customer.database_id, brussels).unwrap();
    assert!(
        events[0]
            .body
            .starts_with("Letter sent by post (2 pages), 1.1 credits"),
        "{}",
        events[0].body
    );

    // Tracked: delivered, once.
    assert_eq!(
        snailmail::track(&mut conn, post.as_ref(), Some(customer.database_id)).unwrap(),
        1
    );
    assert_eq!(snailmail::track(&mut conn, post.as_ref(), None).unwrap(), 0);
    let letter = snailmail::find(&mut conn, customer.database_id, letter_id)
        .unwrap()
        .unwrap();
    assert_eq!(letter.status.as_str(), "delivered");
    let events = contacts::events_of(&mut conn, customer.database_id, brussels).unwrap();
    assert_eq!(events[0].body, "Letter delivered");

    // Too few credits left for another: refused, nothing held.
    let again = snailmail::send(
        &mut conn,
        &post,
        customer.database_id,
        user,
        &q,
        &iap_credits::kernel::forms::new_form_key(),
    )
    .unwrap();
    assert!(
        matches!(again, Sent::InsufficientCredits { .. }),
        "{again:?}"
    );
    customer.funded(&mut conn, "snailmail", "5");

    // An address the post cannot deliver to: accepted (and charged), then undeliverable.
    let nowhere = contact(&mut conn, &customer, "0000", "BE");
    let q = snailmail::quote(&mut conn, customer.database_id, doc, nowhere, plain).unwrap();
    let Sent::Sent { letter_id, .. } = snailmail::send(
        &mut conn,
        &post,
        customer.database_id,
        user,
        &q,
        &iap_credits::kernel::forms::new_form_key(),
    )
    .unwrap() else {
        panic!()
    };
    snailmail::track(&mut conn, post.as_ref(), None).unwrap();
    let letter = snailmail::find(&mut conn, customer.database_id, letter_id)
        .unwrap()
        .unwrap();
    assert_eq!(letter.status.as_str(), "undeliverable");

    // The post is down: the postage stays held; the worker hands it over once when it is back.
    simulated.set_down(true);
    let under_way = snailmail::send(
        &mut conn,
        &post,
        customer.database_id,
        user,
        &q,
        &iap_credits::kernel::forms::new_form_key(),
    )
    .unwrap();
    let Sent::UnderWay { letter_id } = under_way else {
        panic!("{under_way:?}")
    };
    let held = reload(&mut conn, account.id);
    assert_eq!(
        held.balance.units() - held.available().units(),
        c("1.1").units()
    );
    simulated.set_down(false);
    let services = iap_credits::domain::metering::Services::default()
        .with(Arc::new(snailmail::SnailmailWorker(post.clone())));
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let run = iap_credits::domain::metering::run_due(&mut conn, &services, later, 10).unwrap();
    assert_eq!(run.finished, 1);
    iap_credits::domain::metering::run_due(&mut conn, &services, later, 10).unwrap();
    let letter = snailmail::find(&mut conn, customer.database_id, letter_id)
        .unwrap()
        .unwrap();
    assert_eq!(letter.status.as_str(), "sent");
    assert_eq!(simulated.printed(), 3, "each letter printed once");
    let after = reload(&mut conn, account.id);
    assert_eq!(after.balance, after.available());
    assert_eq!(after.balance, c("3.7"));
    assert_consistent(&mut conn);
}

#[actix_web::test]
async fn send_by_post_works_without_javascript() {
    use crate::fixtures::PASSWORD;
    use crate::harness::TestApp;
    use actix_web::http::StatusCode;
    let app = TestApp::new().with_demo();
    let mut conn = app.db.conn();
    let customer = Customer::named(&mut conn, "Posters", Subscription::None);
    customer.user(&mut conn, "pia@posters.test", Role::User);
    let lucille = contact(&mut conn, &customer, "1000", "BE");
    let browser = app.browser();
    browser.sign_in("pia@posters.test", PASSWORD).await;

    // The contact form takes a postal address.
    let edited = browser
        .submit(
            &format!("/contacts/{lucille}/edit"),
            &format!("/contacts/{lucille}/edit"),
            &[
                ("name", "Lucille Dupont"),
                ("street", "Rue Neuve 1"),
                ("postal_code", "1000"),
                ("city", "Brussels"),
                ("country", "BE"),
            ],
        )
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER);

    // A non-PDF is refused on the Letters page; a 2-page A4 PDF goes to the send form.
    let png = crate::sample_bills::png(&letter_pdf(1, A4.0, A4.1));
    let refused = browser
        .upload("/letters", "/letters", &[], ("file", "scan.png", &png))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Only a PDF can be sent by post."));
    let uploaded = browser
        .upload(
            "/letters",
            "/letters",
            &[],
            ("file", "reminder.pdf", &letter_pdf(2, A4.0, A4.1)),
        )
        .await;
    assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.body);
    let form_at = uploaded.location().to_string();
    let form = browser.get(&form_at).await;
    assert!(form.body.contains("Lucille Dupont"));
    // The price form is a GET: it must not put the session's CSRF token in the URL.
    let price_form = &form.body[form.body.find("id=\"price-form\"").unwrap()..];
    let price_form = &price_form[..price_form.find("</form>").unwrap()];
    assert!(!price_form.contains("csrf_token"));
    // The price for the options, then Send.
    let priced = browser
        .get(&format!("{form_at}?contact={lucille}&duplex=on"))
        .await;
    assert_eq!(priced.status, StatusCode::OK);
    assert!(
        priced.body.contains("<strong class=\"price\">1</strong>"),
        "{}",
        priced.body
    );
    assert!(priced.body.contains("2 on 1 sheet"));
    let key_at = priced.body.find("name=\"form_key\" value=\"").unwrap()
        + "name=\"form_key\" value=\"".len();
    let form_key = priced.body[key_at..key_at + 32].to_string();
    let short = browser
        .submit(
            &format!("{form_at}?contact={lucille}&duplex=on"),
            &form_at,
            &[
                ("form_key", form_key.as_str()),
                ("contact", &lucille.to_string()),
                ("duplex", "on"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::PAYMENT_REQUIRED);
    assert!(short.body.contains("Buy Credits for Snailmail"));
    let account = customer.funded(&mut conn, "snailmail", "3");
    let sent = browser
        .submit(
            &format!("{form_at}?contact={lucille}&duplex=on"),
            &form_at,
            &[
                ("form_key", form_key.as_str()),
                ("contact", &lucille.to_string()),
                ("duplex", "on"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    // Posted again (a double click): the same letter, charged once.
    let again = browser
        .submit(
            &format!("{form_at}?contact={lucille}&duplex=on"),
            &form_at,
            &[
                ("form_key", form_key.as_str()),
                ("contact", &lucille.to_string()),
                ("duplex", "on"),
            ],
        )
        .await;
    assert_eq!(again.location(), sent.location());
    assert!(sent.location().starts_with("/letters#letter-"));
    let letters = browser.get("/letters").await;
    assert!(
        letters.body.contains("Rue Neuve 1, 1000 Brussels, BE"),
        "{}",
        letters.body
    );
    assert!(letters.body.contains("black and white, duplex"));
    assert!(letters.body.contains("<td class=\"status\">sent</td>"));
    assert_eq!(reload(&mut conn, account.id).balance, c("2"));
    let page = browser.get(&format!("/contacts/{lucille}")).await;
    assert!(
        page.body
            .contains("Letter sent by post (2 pages), 1 credit")
    );

    // A contact in a country no zone serves: refused before anything is held.
    let tokyo = contact(&mut conn, &customer, "100-0001", "JP");
    let refused = browser.get(&format!("{form_at}?contact={tokyo}")).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Letters to JP are not posted"));
    let posted = browser
        .submit(&form_at, &form_at, &[("contact", &tokyo.to_string())])
        .await;
    assert_eq!(posted.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reload(&mut conn, account.id).balance, c("2"));

    // The operator's postage page: a bad price comes back with its message; a good one saves.
    let ops = app.browser();
    ops.sign_in("platform@demo.test", "demo-password").await;
    let table = ops.get("/admin/postage").await;
    assert!(table.body.contains("id=\"zone-europe\""));
    let bad = ops
        .submit(
            "/admin/postage",
            "/admin/postage/world",
            &[
                ("base_price", "abc"),
                ("per_sheet", "0.3"),
                ("colour_per_page", "0.1"),
                ("countries", "US CA JP"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("id=\"world-base_price-error\""));
    assert!(bad.body.contains("value=\"abc\""));
    let saved = ops
        .submit(
            "/admin/postage",
            "/admin/postage/world",
            &[
                ("base_price", "2.5"),
                ("per_sheet", "0.25"),
                ("colour_per_page", "0.1"),
                ("countries", "US CA JP"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let priced = browser.get(&format!("{form_at}?contact={tokyo}")).await;
    assert!(
        priced
            .body
            .contains("<strong class=\"price\">2.75</strong>"),
        "{}",
        priced.body
    );
    // Another database sees none of it.
    let other = Customer::named(&mut conn, "Elsewhere Post", Subscription::None);
    other.user(&mut conn, "eve@elsewhere-post.test", Role::User);
    let eve = app.browser();
    eve.sign_in("eve@elsewhere-post.test", PASSWORD).await;
    assert_eq!(eve.get(&form_at).await.status, StatusCode::NOT_FOUND);
    assert!(eve.get("/letters").await.body.contains("No letters yet."));
    assert_consistent(&mut conn);
}

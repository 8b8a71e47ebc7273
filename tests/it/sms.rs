//! SMS pricing against the seeded price table.

use diesel::prelude::*;
use iap_credits::credits::Credits;
use iap_credits::schema::sms_prices;
use iap_credits::sms::encoding::count;
use iap_credits::sms::pricing::{self, cost};

use crate::harness::TestDb;

#[test]
fn prices_depend_on_the_destination_country() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let all = pricing::all_prices(&mut conn).unwrap();
    assert!(all.len() >= 31, "at least 30 countries and the default");
    assert_eq!(all.last().unwrap().country_code, "*");

    let be = pricing::price_per_part(&mut conn, Some("BE")).unwrap();
    assert_eq!(
        (be.country_name.as_str(), be.price),
        ("Belgium", Credits::parse("0.0826").unwrap())
    );
    let us = pricing::price_per_part(&mut conn, Some("us")).unwrap();
    assert!(
        us.price < be.price,
        "SMS to the US cost less than to Belgium"
    );
    let elsewhere = pricing::price_per_part(&mut conn, Some("KZ")).unwrap();
    assert_eq!(elsewhere.country_code, "*");
    assert_eq!(
        pricing::price_per_part(&mut conn, None)
            .unwrap()
            .country_code,
        "*"
    );

    // Two parts to Belgium.
    assert_eq!(
        cost(&count(&"a".repeat(200)), be.price).to_string(),
        "0.1652"
    );
}

#[test]
fn an_edited_price_is_used_at_once() {
    let db = TestDb::new();
    let mut conn = db.conn();
    diesel::update(sms_prices::table.find("FR"))
        .set(sms_prices::price.eq(Credits::parse("0.5").unwrap()))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        pricing::price_per_part(&mut conn, Some("FR"))
            .unwrap()
            .price,
        Credits::parse("0.5").unwrap()
    );
    assert!(
        diesel::update(sms_prices::table.find("FR"))
            .set(sms_prices::price.eq(Credits::ZERO))
            .execute(&mut conn)
            .is_err()
    );
}

mod sending {
    use std::sync::{Arc, Barrier};

    use diesel::prelude::*;
    use iap_credits::catalog;
    use iap_credits::contacts::{self, ContactInput};
    use iap_credits::credits::Credits;
    use iap_credits::ledger::{self, Actor, GrantKind, accounts, verify::verify_ledger};
    use iap_credits::sms::gateway::SimulatedCarrier;
    use iap_credits::sms::messages::{self, SmsStatus};
    use iap_credits::sms::sending::{self, NumberField, SendError};
    use iap_credits::tenancy::{self, Role, Subscription};

    use crate::harness::TestDb;

    struct Fixture {
        database_id: i64,
        user_id: i64,
        account_id: i64,
    }

    /// A database without trial credits holding `credits` on its SMS account.
    fn fixture(conn: &mut PgConnection, credits: &str) -> Fixture {
        let db = tenancy::create_database(conn, "Sender", Subscription::None).unwrap();
        let user = tenancy::create_user(
            conn,
            "Sender",
            "sender@example.com",
            "long password",
            Role::User,
        )
        .unwrap();
        let sms = catalog::service_by_slug(conn, "sms").unwrap().unwrap();
        let account = accounts::get_or_create(conn, db.id, sms.id).unwrap();
        if credits != "0" {
            ledger::grant(
                conn,
                account.id,
                Credits::parse(credits).unwrap(),
                GrantKind::Adjustment,
                "test",
                &Actor::cli(),
            )
            .unwrap();
        }
        Fixture {
            database_id: db.id,
            user_id: user.id,
            account_id: account.id,
        }
    }

    fn contact(conn: &mut PgConnection, f: &Fixture, mobile: &str, country: &str) -> i64 {
        let input = ContactInput {
            name: format!("To {mobile}"),
            mobile: mobile.into(),
            country: country.into(),
            ..ContactInput::default()
        };
        contacts::create(conn, f.database_id, &input.validate().unwrap())
            .unwrap()
            .id
    }

    fn balance(conn: &mut PgConnection, f: &Fixture) -> Credits {
        accounts::by_id(conn, f.account_id)
            .unwrap()
            .unwrap()
            .balance
    }

    #[test]
    fn an_sms_costs_parts_times_the_country_price_and_is_logged() {
        let db = TestDb::new();
        let mut conn = db.conn();
        let f = fixture(&mut conn, "1");
        let to = contact(&mut conn, &f, "0470 12 34 56", "BE");
        let carrier = SimulatedCarrier::default();
        let sent = sending::send_to_contact(
            &mut conn,
            &carrier,
            f.database_id,
            f.user_id,
            to,
            NumberField::Mobile,
            &"a".repeat(200),
        )
        .unwrap();
        assert_eq!(
            (sent.parts, sent.status, sent.recipient.as_str()),
            (2, SmsStatus::Sent, "+32470123456")
        );
        assert_eq!(
            sent.cost,
            Credits::parse("0.1652").unwrap(),
            "2 × 0.0826 (Belgium)"
        );
        assert_eq!(balance(&mut conn, &f), Credits::parse("0.8348").unwrap());
        let chatter = messages::chatter(&mut conn, f.database_id, to).unwrap();
        assert_eq!(chatter.len(), 1);
        assert_eq!(
            messages::apply_delivery_reports(&mut conn, &carrier).unwrap(),
            1
        );
        assert_eq!(
            messages::chatter(&mut conn, f.database_id, to).unwrap()[0].status,
            SmsStatus::Delivered
        );
        assert!(verify_ledger(&mut conn).unwrap().is_consistent());
    }

    #[test]
    fn just_enough_sends_and_too_few_sends_nothing() {
        let db = TestDb::new();
        let mut conn = db.conn();
        let f = fixture(&mut conn, "0.0826");
        let to = contact(&mut conn, &f, "0470 12 34 56", "BE");
        let carrier = SimulatedCarrier::default();
        sending::send_to_contact(
            &mut conn,
            &carrier,
            f.database_id,
            f.user_id,
            to,
            NumberField::Mobile,
            "Hi",
        )
        .unwrap();
        assert_eq!(balance(&mut conn, &f), Credits::ZERO);
        match sending::send_to_contact(
            &mut conn,
            &carrier,
            f.database_id,
            f.user_id,
            to,
            NumberField::Mobile,
            "Again",
        ) {
            Err(SendError::InsufficientCredits {
                account_id,
                available,
                needed,
            }) => {
                assert_eq!(
                    (account_id, available, needed),
                    (
                        f.account_id,
                        Credits::ZERO,
                        Credits::parse("0.0826").unwrap()
                    )
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            messages::chatter(&mut conn, f.database_id, to)
                .unwrap()
                .len(),
            1,
            "nothing logged for the refused one"
        );
        assert_eq!(
            accounts::by_id(&mut conn, f.account_id)
                .unwrap()
                .unwrap()
                .reserved,
            Credits::ZERO
        );
    }

    #[test]
    fn a_bad_number_is_not_charged_and_an_unreachable_one_is() {
        let db = TestDb::new();
        let mut conn = db.conn();
        let f = fixture(&mut conn, "1");
        let carrier = SimulatedCarrier::default();
        // Stored by hand as typed: not a phone number at all.
        let bad = contacts::create(
            &mut conn,
            f.database_id,
            &contacts::ValidContact {
                name: "Typo".into(),
                company: None,
                email: None,
                phone: None,
                mobile: Some("12ab".into()),
                country: None,
            },
        )
        .unwrap()
        .id;
        let logged = sending::send_to_contact(
            &mut conn,
            &carrier,
            f.database_id,
            f.user_id,
            bad,
            NumberField::Mobile,
            "Hi",
        )
        .unwrap();
        assert_eq!(
            (logged.status, logged.cost),
            (SmsStatus::Error, Credits::ZERO)
        );
        assert_eq!(balance(&mut conn, &f), Credits::whole(1));

        let unreachable = contact(&mut conn, &f, "+32 470 01 0000", "BE");
        let sent = sending::send_to_contact(
            &mut conn,
            &carrier,
            f.database_id,
            f.user_id,
            unreachable,
            NumberField::Mobile,
            "Hi",
        )
        .unwrap();
        assert_eq!(sent.status, SmsStatus::Sent);
        messages::apply_delivery_reports(&mut conn, &carrier).unwrap();
        let logged = &messages::chatter(&mut conn, f.database_id, unreachable).unwrap()[0];
        assert_eq!(
            (logged.status, logged.error.as_deref()),
            (SmsStatus::Error, Some("The number is not reachable."))
        );
        assert_eq!(
            balance(&mut conn, &f),
            Credits::parse("0.9174").unwrap(),
            "accepted, so charged"
        );
    }

    #[test]
    fn a_carrier_outage_cancels_the_hold() {
        let db = TestDb::new();
        let mut conn = db.conn();
        let f = fixture(&mut conn, "1");
        let to = contact(&mut conn, &f, "06 12 34 56 78", "FR");
        let carrier = SimulatedCarrier::default();
        carrier.set_down(true);
        assert!(matches!(
            sending::send_to_contact(
                &mut conn,
                &carrier,
                f.database_id,
                f.user_id,
                to,
                NumberField::Mobile,
                "Hi"
            ),
            Err(SendError::CarrierRefused(_))
        ));
        let account = accounts::by_id(&mut conn, f.account_id).unwrap().unwrap();
        assert_eq!(
            (account.balance, account.reserved),
            (Credits::whole(1), Credits::ZERO)
        );
        assert!(verify_ledger(&mut conn).unwrap().is_consistent());
    }

    #[test]
    fn bad_messages_and_foreign_contacts_are_refused() {
        let db = TestDb::new();
        let mut conn = db.conn();
        let f = fixture(&mut conn, "1");
        let to = contact(&mut conn, &f, "0470 12 34 56", "BE");
        let carrier = SimulatedCarrier::default();
        let send = |conn: &mut PgConnection, contact: i64, body: &str| {
            sending::send_to_contact(
                conn,
                &carrier,
                f.database_id,
                f.user_id,
                contact,
                NumberField::Mobile,
                body,
            )
        };
        assert!(matches!(
            send(&mut conn, to, "  "),
            Err(SendError::EmptyMessage)
        ));
        assert!(matches!(
            send(&mut conn, to, &"a".repeat(2000)),
            Err(SendError::TooLong(14))
        ));
        assert!(matches!(
            sending::send_to_contact(
                &mut conn,
                &carrier,
                f.database_id,
                f.user_id,
                to,
                NumberField::Phone,
                "Hi"
            ),
            Err(SendError::NoNumber)
        ));
        let other = tenancy::create_database(&mut conn, "Other", Subscription::None).unwrap();
        let theirs = contacts::create(
            &mut conn,
            other.id,
            &ContactInput {
                name: "Theirs".into(),
                mobile: "+32470123456".into(),
                ..ContactInput::default()
            }
            .validate()
            .unwrap(),
        )
        .unwrap()
        .id;
        assert!(matches!(
            send(&mut conn, theirs, "Hi"),
            Err(SendError::ContactNotFound)
        ));
        assert_eq!(balance(&mut conn, &f), Credits::whole(1));
    }

    #[test]
    fn a_mass_sms_is_all_or_nothing_and_skips_contacts_without_a_mobile() {
        let db = TestDb::new();
        let mut conn = db.conn();
        // Belgium 0.0826 + France 0.0760 = 0.1586 for the batch.
        let f = fixture(&mut conn, "0.1585");
        let be = contact(&mut conn, &f, "0470 12 34 56", "BE");
        let fr = contact(&mut conn, &f, "06 12 34 56 78", "FR");
        let nobody = contacts::create(
            &mut conn,
            f.database_id,
            &ContactInput {
                name: "No Mobile".into(),
                ..ContactInput::default()
            }
            .validate()
            .unwrap(),
        )
        .unwrap()
        .id;
        let carrier = SimulatedCarrier::default();
        match sending::send_to_many(
            &mut conn,
            &carrier,
            f.database_id,
            f.user_id,
            &[be, fr, nobody],
            "Sale today",
        ) {
            Err(SendError::InsufficientCredits {
                available, needed, ..
            }) => {
                assert_eq!(
                    (available, needed),
                    (
                        Credits::parse("0.1585").unwrap(),
                        Credits::parse("0.1586").unwrap()
                    )
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            messages::chatter(&mut conn, f.database_id, be)
                .unwrap()
                .is_empty(),
            "none sent"
        );
        assert_eq!(balance(&mut conn, &f), Credits::parse("0.1585").unwrap());

        ledger::grant(
            &mut conn,
            f.account_id,
            Credits::parse("0.0001").unwrap(),
            GrantKind::Adjustment,
            "top up",
            &Actor::cli(),
        )
        .unwrap();
        let outcome = sending::send_to_many(
            &mut conn,
            &carrier,
            f.database_id,
            f.user_id,
            &[be, fr, nobody],
            "Sale today",
        )
        .unwrap();
        assert_eq!(
            (outcome.sent, outcome.cost),
            (2, Credits::parse("0.1586").unwrap())
        );
        assert_eq!(outcome.skipped, ["No Mobile"]);
        assert_eq!(balance(&mut conn, &f), Credits::ZERO);
        assert_eq!(
            messages::chatter(&mut conn, f.database_id, be)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            messages::chatter(&mut conn, f.database_id, fr)
                .unwrap()
                .len(),
            1
        );
        assert!(verify_ledger(&mut conn).unwrap().is_consistent());
    }

    #[test]
    fn a_mass_sms_during_an_outage_charges_nothing() {
        let db = TestDb::new();
        let mut conn = db.conn();
        let f = fixture(&mut conn, "1");
        let be = contact(&mut conn, &f, "0470 12 34 56", "BE");
        let carrier = SimulatedCarrier::default();
        carrier.set_down(true);
        let outcome =
            sending::send_to_many(&mut conn, &carrier, f.database_id, f.user_id, &[be], "Hi")
                .unwrap();
        assert_eq!((outcome.sent, outcome.failed.len()), (0, 1));
        let account = accounts::by_id(&mut conn, f.account_id).unwrap().unwrap();
        assert_eq!(
            (account.balance, account.reserved),
            (Credits::whole(1), Credits::ZERO)
        );
        assert_eq!(
            messages::chatter(&mut conn, f.database_id, be).unwrap()[0].status,
            SmsStatus::Error
        );
    }

    #[test]
    fn two_concurrent_sends_on_credits_for_one_send_exactly_one() {
        let db = TestDb::new();
        let f = fixture(&mut db.conn(), "0.0826");
        let to = contact(&mut db.conn(), &f, "0470 12 34 56", "BE");
        let carrier = Arc::new(SimulatedCarrier::default());
        let barrier = Arc::new(Barrier::new(2));
        let results: Vec<bool> = std::thread::scope(|s| {
            (0..2)
                .map(|_| {
                    let (barrier, carrier, db, f) = (barrier.clone(), carrier.clone(), &db, &f);
                    s.spawn(move || {
                        let mut conn = db.conn();
                        barrier.wait();
                        sending::send_to_contact(
                            &mut conn,
                            carrier.as_ref(),
                            f.database_id,
                            f.user_id,
                            to,
                            NumberField::Mobile,
                            "Race",
                        )
                        .is_ok()
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect()
        });
        assert_eq!(results.iter().filter(|ok| **ok).count(), 1);
        let mut conn = db.conn();
        assert_eq!(
            messages::chatter(&mut conn, f.database_id, to)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(balance(&mut conn, &f), Credits::ZERO);
    }
}

pub mod pages {
    use actix_web::http::StatusCode;
    use iap_credits::credits::Credits;
    use iap_credits::ledger::accounts;
    use iap_credits::tenancy::{self, Role, Subscription};

    use crate::harness::{Browser, TestApp};

    /// The id of the demo contact `name`, from the Contacts list.
    pub async fn contact_id(browser: &Browser<'_>, name: &str) -> i64 {
        let list = browser.get("/contacts").await.body;
        let end = list.find(&format!("\">{name}</a>")).unwrap();
        let start = list[..end].rfind("/contacts/").unwrap() + "/contacts/".len();
        list[start..end].parse().unwrap()
    }

    pub async fn sms_balance(app: &TestApp, browser: &Browser<'_>) -> (i64, Credits) {
        let list = browser.get("/iap/accounts").await.body;
        let end = list.find("\">SMS</a></th>").unwrap();
        let start = list[..end].rfind("/iap/accounts/").unwrap() + "/iap/accounts/".len();
        let id: i64 = list[start..end].parse().unwrap();
        (
            id,
            accounts::by_id(&mut app.db.conn(), id)
                .unwrap()
                .unwrap()
                .balance,
        )
    }

    #[actix_web::test]
    async fn sending_from_a_contact_charges_and_logs_in_the_chatter() {
        let app = TestApp::new().with_demo();
        let browser = app.browser();
        browser.sign_in("user@demo.test", "demo").await;
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
        let mut conn = app.db.conn();
        tenancy::create_database(&mut conn, "Broke", Subscription::None).unwrap();
        tenancy::create_user(
            &mut conn,
            "Broke",
            "broke@example.com",
            "long password",
            Role::Admin,
        )
        .unwrap();
        let browser = app.browser();
        browser.sign_in("broke@example.com", "long password").await;
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
        browser.sign_in("user@demo.test", "demo").await;
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
        iap_credits::ledger::adjust(
            &mut app.db.conn(),
            account,
            -drain,
            "test: leave 0.1",
            &iap_credits::ledger::Actor::cli(),
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
            page.body.contains(
                "need 0.1775 credits; your SMS account has 0.1 available, 0.0775 missing."
            ),
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
        demo.sign_in("user@demo.test", "demo").await;
        let brandon = contact_id(&demo, "Brandon Freeman").await;
        let mut conn = app.db.conn();
        tenancy::create_database(&mut conn, "Rival", Subscription::Enterprise).unwrap();
        tenancy::create_user(
            &mut conn,
            "Rival",
            "boss@rival.example",
            "rival password",
            Role::User,
        )
        .unwrap();
        let rival = app.browser();
        rival.sign_in("boss@rival.example", "rival password").await;
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
}

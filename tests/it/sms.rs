//! SMS against the seeded price table and through the common paid-service steps: prices by
//! country, the cost of a message, the chatter, delivery reports, refusals, mass SMS, races.

use std::sync::{Arc, Barrier};

use diesel::prelude::*;
use iap_credits::domain::ledger::{self, Actor, GrantKind, accounts, verify::verify_ledger};
use iap_credits::domain::tenancy::{self, Subscription};
use iap_credits::kernel::credits::Credits;
use iap_credits::kernel::ids::{AccountId, ContactId, DatabaseId, UserId};
use iap_credits::platform::schema::sms_prices;
use iap_credits::services::contacts::{self, ContactInput};
use iap_credits::services::sms::encoding::count;
use iap_credits::services::sms::gateway::SimulatedCarrier;
use iap_credits::services::sms::messages::{self, SmsStatus};
use iap_credits::services::sms::pricing::{self, cost};
use iap_credits::services::sms::sending::{self, NumberField, SendError};

use crate::fixtures::Customer;
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

struct Fixture {
    database_id: DatabaseId,
    user_id: UserId,
    account_id: AccountId,
}

/// A database without trial credits holding `credits` on its SMS account.
fn fixture(conn: &mut PgConnection, credits: &str) -> Fixture {
    let sender = Customer::named(conn, "Sender", Subscription::None);
    let account = match credits {
        "0" => sender.account(conn, "sms"),
        _ => sender.funded(conn, "sms", credits),
    };
    Fixture {
        database_id: sender.database_id,
        user_id: sender.admin_id,
        account_id: account.id,
    }
}

fn contact(conn: &mut PgConnection, f: &Fixture, mobile: &str, country: &str) -> ContactId {
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
            is_company: false,
            street: None,
            postal_code: None,
            city: None,
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
    let send = |conn: &mut PgConnection, contact: ContactId, body: &str| {
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
        sending::send_to_many(&mut conn, &carrier, f.database_id, f.user_id, &[be], "Hi").unwrap();
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

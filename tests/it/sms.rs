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

//! The simulated providers, as the server makes them (records in the database), are one
//! provider whichever instance talks to them: here two of each, on one database, play two
//! instances. A payment charged through one is found by the other's reconciler and not charged
//! twice; an SMS or a letter handed to one is the same one on the other; an itsme session started
//! on one is decided on the other.

use std::time::Duration;

use iap_credits::domain::payments::{
    Card, MockProvider, PaymentOutcome, PaymentProvider, RefundOutcome,
};
use iap_credits::kernel::money::{Currency, Price};
use iap_credits::platform::simulation::Records;
use iap_credits::services::signing::itsme::{IdentificationResult, ItsmeProvider, SimulatedItsme};
use iap_credits::services::sms::gateway::{Handoff, SimulatedCarrier, SmsGateway, Submission};
use iap_credits::services::snailmail::post::{
    PostHandoff, PostalService, Posting, SimulatedPost, Tracking,
};

use crate::harness::TestDb;

fn two_instances(db: &TestDb) -> (Records, Records) {
    (Records::shared(db.pool()), Records::shared(db.pool()))
}

#[test]
fn payments_made_on_one_instance_are_known_to_the_other() {
    let db = TestDb::new();
    let (a, b) = two_instances(&db);
    let (one, other) = (MockProvider::with_records(a), MockProvider::with_records(b));
    let price = Price::new(1000, Currency::parse("EUR").unwrap());
    let card = Card::parse("Ada", "4242424242424242", "12/39", "123").unwrap();
    assert_eq!(other.lookup("pay_1"), None);
    let first = one.charge(&price, &card, "pay_1");
    let PaymentOutcome::Approved { reference } = &first else {
        panic!("{first:?}");
    };
    // The reconciler on the other instance finds it; a retry there is the same payment.
    assert_eq!(other.lookup("pay_1"), Some(first.clone()));
    let declined = Card::parse("Ada", "4000000000000002", "12/39", "123").unwrap();
    assert_eq!(other.charge(&price, &declined, "pay_1"), first);
    // Refunds too.
    let refund = other.refund(&price, reference, "refund_1");
    assert!(
        matches!(refund, RefundOutcome::Refunded { .. }),
        "{refund:?}"
    );
    assert_eq!(one.lookup_refund("refund_1"), Some(refund));
    // And a restarted instance (new records on the same database) still knows them.
    let restarted = MockProvider::with_records(Records::shared(db.pool()));
    assert_eq!(restarted.lookup("pay_1"), Some(first));
}

#[test]
fn an_sms_or_a_letter_handed_to_either_instance_is_sent_once() {
    let db = TestDb::new();
    let (a, b) = two_instances(&db);
    let (one, other) = (
        SimulatedCarrier::with_records(a.clone()),
        SimulatedCarrier::with_records(b.clone()),
    );
    let first = one.submit("+32470000001", "hello", "sms-key-1");
    assert!(matches!(first, Handoff::Accepted { .. }));
    assert_eq!(other.submit("+32470000001", "hello", "sms-key-1"), first);
    let second = other.submit("+32470000001", "hello", "sms-key-2");
    assert_ne!(second, first, "each message has a reference of its own");
    assert_eq!((one.accepted_count(), other.accepted_count()), (2, 2));

    // Handed over in a batch: the ones already handed over answer as they did, the new ones
    // are sent once, and the batch handed again (to the other instance) is the same batch.
    let batch = |keys: &[&'static str]| -> Vec<Submission<'static>> {
        keys.iter()
            .map(|key| Submission {
                recipient: "+32470000001",
                body: "hello",
                key,
            })
            .collect()
    };
    let handed = one.submit_all(&batch(&["sms-key-1", "sms-key-3", "sms-key-4"]));
    assert_eq!(handed[0], first);
    assert!(handed.iter().all(|h| matches!(h, Handoff::Accepted { .. })));
    assert_ne!(handed[1], handed[2]);
    assert_eq!(
        other.submit_all(&batch(&["sms-key-4", "sms-key-3", "sms-key-2"])),
        [handed[2].clone(), handed[1].clone(), second.clone()]
    );
    assert_eq!(one.accepted_count(), 4);
    // A carrier that is down refuses what it has not taken, and still knows what it took.
    other.set_down(true);
    let down = other.submit_all(&batch(&["sms-key-1", "sms-key-5"]));
    assert_eq!(down[0], first);
    assert!(matches!(down[1], Handoff::Refused { .. }));
    other.set_down(false);
    assert_eq!(one.accepted_count(), 4);

    let (post_one, mut post_other) = (
        SimulatedPost::with_records(a),
        SimulatedPost::with_records(b),
    );
    post_other.delivery_time = Duration::ZERO;
    let pdf = b"%PDF-1.4 a letter";
    let posting = Posting {
        recipient: "Ada",
        street: "Rue 1",
        postal_code: "1000",
        city: "Brussels",
        country: "BE",
        pdf,
        colour: false,
        duplex: false,
        cover: false,
    };
    let handed = post_one.post(&posting, "letter-1").unwrap();
    assert_eq!(post_other.post(&posting, "letter-1").unwrap(), handed);
    assert_eq!(post_other.printed(), 1);
    let PostHandoff::Accepted { reference } = handed else {
        panic!("{handed:?}")
    };
    // The instance that tracks it is not the one that posted it.
    assert_eq!(post_one.track(&reference).unwrap(), Tracking::InTransit);
    assert_eq!(post_other.track(&reference).unwrap(), Tracking::Delivered);
}

#[test]
fn an_itsme_session_started_on_one_instance_is_decided_on_the_other() {
    let db = TestDb::new();
    let (a, b) = two_instances(&db);
    let (one, other) = (
        SimulatedItsme::with_records(a),
        SimulatedItsme::with_records(b),
    );
    let session = one
        .start("identify-1", "Ada Lovelace", "BE", "/sign/x")
        .unwrap();
    assert_eq!(
        other
            .start("identify-1", "Ada Lovelace", "BE", "/sign/x")
            .unwrap(),
        session,
        "the same key is the same session"
    );
    let page = other.session(&session).unwrap();
    assert_eq!((page.name.as_str(), page.decided), ("Ada Lovelace", false));
    assert_eq!(one.result(&session).unwrap(), IdentificationResult::Pending);
    assert!(other.decide(&session, true));
    let IdentificationResult::Approved(identity) = one.result(&session).unwrap() else {
        panic!("not approved");
    };
    assert_eq!(identity.name, "Ada Lovelace");
    // Decided once: a second answer changes nothing.
    one.decide(&session, false);
    assert_eq!(
        other.result(&session).unwrap(),
        IdentificationResult::Approved(identity)
    );
    assert!(one.session("no-such-session").is_none());
    assert!(one.result("no-such-session").is_err());
}

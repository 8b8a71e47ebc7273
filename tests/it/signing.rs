//! Sign with itsme: each identification is held when started and charged once when approved;
//! denied or abandoned costs nothing; signing records who, when, from where and the document's
//! SHA-256, and the last signature makes the signed PDF with its signature page.

use std::sync::Arc;

use iap_credits::documents;
use iap_credits::signing::itsme::{ItsmeProvider, SimulatedItsme};
use iap_credits::signing::{self, Identified, RequestInput, SignError};
use iap_credits::tenancy::{Role, Subscription};

use crate::digitization::inspector;
use crate::fixtures::{Customer, assert_consistent, c, reload};
use crate::harness::TestDb;
use crate::sample_bills::letter_pdf;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn an_identification_is_charged_once_when_approved_and_never_when_denied() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let user = customer.user(&mut conn, "ada@example.test", Role::User);
    let account = customer.funded(&mut conn, "itsme", "2");
    let simulated = Arc::new(SimulatedItsme::default());
    let provider: Arc<dyn ItsmeProvider> = simulated.clone();
    let checked = documents::check(&inspector(), "contract.pdf", letter_pdf(2, 595, 842)).unwrap();
    let document = documents::store(&mut conn, customer.database_id, Some(user), &checked).unwrap();

    // itsme only in Belgium and the Netherlands.
    let refused = RequestInput::from_pairs(&pairs(&[
        ("title", "Contract"),
        ("name_0", "Carla"),
        ("email_0", "carla@example.fr"),
        ("country_0", "FR"),
        ("itsme_0", "on"),
    ]))
    .validate()
    .unwrap_err();
    assert!(
        refused
            .get("signer_0")
            .unwrap()
            .contains("Belgium and the Netherlands")
    );
    let valid = RequestInput::from_pairs(&pairs(&[
        ("title", "Contract"),
        ("name_0", "Ann Peeters"),
        ("email_0", "ann@example.be"),
        ("country_0", "be"),
        ("itsme_0", "on"),
        ("name_1", "Bob de Vries"),
        ("email_1", "bob@example.nl"),
        ("country_1", "NL"),
        ("itsme_1", "on"),
        ("name_2", "Carla Martin"),
        ("email_2", "carla@example.fr"),
        ("country_2", "FR"),
    ]))
    .validate()
    .unwrap();
    // Two identifications: the 2 credits cover them (checked when sent, charged when each happens).
    let sent =
        signing::send_request(&mut conn, customer.database_id, user, &document, &valid).unwrap();
    assert_eq!(sent.links.len(), 3);
    let signer = |conn: &mut diesel::PgConnection, i: usize| {
        signing::by_token(conn, &sent.links[i].1)
            .unwrap()
            .unwrap()
            .0
    };
    assert!(
        signing::by_token(&mut conn, &"0".repeat(64))
            .unwrap()
            .is_none()
    );

    // Ann: started twice is one session and one hold; approved twice is charged once.
    let ann = signer(&mut conn, 0);
    let Identified::Started { session } =
        signing::start_identification(&mut conn, &provider, &ann, "/s/x").unwrap()
    else {
        panic!()
    };
    let again = signing::start_identification(&mut conn, &provider, &ann, "/s/x").unwrap();
    assert_eq!(
        again,
        Identified::Started {
            session: session.clone()
        }
    );
    assert_eq!(reload(&mut conn, account.id).available(), c("1"));
    // Back before answering: still pending, nothing charged.
    assert_eq!(
        signing::finish_identification(&mut conn, &provider, &ann).unwrap(),
        Identified::Pending
    );
    assert!(simulated.decide(&session, true));
    assert!(
        simulated.decide(&session, false),
        "a decided session stays decided"
    );
    assert_eq!(
        signing::finish_identification(&mut conn, &provider, &ann).unwrap(),
        Identified::Approved(c("1"))
    );
    assert_eq!(
        signing::finish_identification(&mut conn, &provider, &ann).unwrap(),
        Identified::Approved(c("1")),
        "a retried return changes nothing"
    );
    let ann = signer(&mut conn, 0);
    assert_eq!(ann.identified_name.as_deref(), Some("Ann Peeters"));
    let masked = ann.identified_national_number.clone().unwrap();
    assert!(
        masked.starts_with("•••••••••") && masked.len() > 9,
        "{masked}"
    );
    let after = reload(&mut conn, account.id);
    assert_eq!((after.balance, after.available()), (c("1"), c("1")));

    // Bob denies: nothing charged; he tries again and approves: charged.
    let bob = signer(&mut conn, 1);
    let Identified::Started { session } =
        signing::start_identification(&mut conn, &provider, &bob, "/s/y").unwrap()
    else {
        panic!()
    };
    simulated.decide(&session, false);
    assert_eq!(
        signing::finish_identification(&mut conn, &provider, &bob).unwrap(),
        Identified::Denied
    );
    assert_eq!(reload(&mut conn, account.id).balance, c("1"));
    let Identified::Started { session: second } =
        signing::start_identification(&mut conn, &provider, &bob, "/s/y").unwrap()
    else {
        panic!()
    };
    assert_ne!(second, session);
    simulated.decide(&second, true);
    assert!(matches!(
        signing::finish_identification(&mut conn, &provider, &bob).unwrap(),
        Identified::Approved(_)
    ));
    assert_eq!(reload(&mut conn, account.id).balance, c("0"));

    // Signing: the typed name must match; itsme signers only once identified.
    let carla = signer(&mut conn, 2);
    let wrong = signing::sign(
        &mut conn,
        &inspector(),
        &carla,
        "Someone Else",
        Some("192.0.2.7"),
    );
    assert!(matches!(wrong, Err(SignError::Refused(_))));
    signing::sign(
        &mut conn,
        &inspector(),
        &carla,
        "carla martin",
        Some("192.0.2.7"),
    )
    .unwrap();
    let ann = signer(&mut conn, 0);
    signing::sign(
        &mut conn,
        &inspector(),
        &ann,
        "Ann Peeters",
        Some("192.0.2.8"),
    )
    .unwrap();
    let (request, _) = signing::request(&mut conn, customer.database_id, sent.request.id)
        .unwrap()
        .unwrap();
    assert_eq!(request.status, "sent");
    let bob = signer(&mut conn, 1);
    signing::sign(
        &mut conn,
        &inspector(),
        &bob,
        "Bob de Vries",
        Some("192.0.2.9"),
    )
    .unwrap();
    let (request, signers) = signing::request(&mut conn, customer.database_id, sent.request.id)
        .unwrap()
        .unwrap();
    assert_eq!(request.status, "completed");
    for s in &signers {
        assert_eq!(s.signed_sha256.as_deref(), Some(document.sha256.as_str()));
    }
    let signed = signing::signed_pdf(&mut conn, customer.database_id, request.id)
        .unwrap()
        .unwrap();
    let facts = inspector().inspect(&signed).unwrap();
    assert_eq!(
        facts.pages.len(),
        3,
        "the original's two pages and the signature page"
    );
    let last = facts.text.last().unwrap();
    assert!(last.contains("Signature certificate: Contract"), "{last}");
    assert!(last.contains("Identified with itsme"), "{last}");
    assert!(last.contains(&document.sha256));

    // A request whose identifications the credits do not cover is not sent.
    let short = signing::send_request(&mut conn, customer.database_id, user, &document, &valid);
    assert!(
        matches!(short, Err(SignError::InsufficientCredits { account_id, .. }) if account_id == account.id)
    );
    assert_consistent(&mut conn);
}

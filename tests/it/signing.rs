//! Sign with itsme: each identification is held when started and charged once when approved;
//! denied or abandoned costs nothing; signing records who, when, from where and the document's
//! SHA-256, and the last signature makes the signed PDF with its signature page.

use std::sync::Arc;

use iap_credits::domain::tenancy::{Role, Subscription};
use iap_credits::services::documents;
use iap_credits::services::signing::itsme::{ItsmeProvider, SimulatedItsme};
use iap_credits::services::signing::{self, Identified, RequestInput, SignError};

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
    let wrong = signing::sign(&mut conn, &carla, "Someone Else", Some("192.0.2.7"));
    assert!(matches!(wrong, Err(SignError::Refused(_))));
    signing::sign(&mut conn, &carla, "carla martin", Some("192.0.2.7")).unwrap();
    let ann = signer(&mut conn, 0);
    signing::sign(&mut conn, &ann, "Ann Peeters", Some("192.0.2.8")).unwrap();
    let (request, _) = signing::request(&mut conn, customer.database_id, sent.request.id)
        .unwrap()
        .unwrap();
    assert_eq!(request.status.as_str(), "sent");
    let bob = signer(&mut conn, 1);
    assert!(
        signing::sign(&mut conn, &bob, "Bob de Vries", Some("192.0.2.9")).unwrap(),
        "the last signature"
    );
    signing::complete(
        &db.pool(),
        &inspector(),
        customer.database_id,
        sent.request.id,
    )
    .unwrap();
    let (request, signers) = signing::request(&mut conn, customer.database_id, sent.request.id)
        .unwrap()
        .unwrap();
    assert_eq!(request.status.as_str(), "completed");
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
    assert!(last.contains(&masked), "the masked number as shown: {last}");

    // A request whose identifications the credits do not cover is not sent.
    let again = signing::send_request(&mut conn, customer.database_id, user, &document, &valid);
    assert!(
        matches!(again, Err(SignError::AlreadySent(id)) if id == sent.request.id),
        "the same form twice"
    );
    let fresh = signing::ValidRequest {
        form_key: iap_credits::kernel::forms::new_form_key(),
        ..valid.clone()
    };
    let short = signing::send_request(&mut conn, customer.database_id, user, &document, &fresh);
    assert!(
        matches!(short, Err(SignError::InsufficientCredits { account_id, .. }) if account_id == account.id)
    );
    // The same refusal for an upload (the Sign page's way): its PDF is not kept either.
    let documents_now = || {
        use diesel::prelude::*;
        iap_credits::platform::schema::documents::table
            .count()
            .get_result::<i64>(&mut db.conn())
            .unwrap()
    };
    let before = documents_now();
    let upload = signing::send_upload(&mut conn, customer.database_id, user, &checked, &fresh);
    assert!(matches!(upload, Err(SignError::InsufficientCredits { .. })));
    assert_eq!(
        documents_now(),
        before,
        "a refused upload leaves no document"
    );
    assert_consistent(&mut conn);
}

#[actix_web::test]
async fn a_signer_identified_with_itsme_signs_without_javascript() {
    use crate::harness::TestApp;
    use actix_web::http::StatusCode;
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let customer = Customer::named(&mut conn, "Signatures", Subscription::None);
    customer.user(&mut conn, "sol@signatures.test", Role::User);
    let sender = app.browser();
    sender
        .sign_in("sol@signatures.test", crate::fixtures::PASSWORD)
        .await;
    let pdf = letter_pdf(1, 595, 842);
    let fields = [
        ("title", "Lease"),
        ("name_0", "Ann Peeters"),
        ("email_0", "ann@example.be"),
        ("country_0", "BE"),
        ("itsme_0", "on"),
    ];

    // itsme outside Belgium and the Netherlands: the form again, with the message by the row.
    let refused = sender
        .upload(
            "/sign",
            "/sign",
            &[
                ("title", "Lease"),
                ("name_0", "Carla"),
                ("email_0", "c@example.fr"),
                ("country_0", "FR"),
                ("itsme_0", "on"),
            ],
            ("file", "lease.pdf", &pdf),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .body
            .contains("Belgium and the Netherlands only, not in FR")
    );
    assert!(refused.body.contains("value=\"Carla\""));
    // No itsme credits: not sent, with the Buy link.
    let short = sender
        .upload("/sign", "/sign", &fields, ("file", "lease.pdf", &pdf))
        .await;
    assert_eq!(short.status, StatusCode::PAYMENT_REQUIRED);
    assert!(
        short
            .body
            .contains("Buy Credits for Signer identification with itsme")
    );
    let account = customer.funded(&mut conn, "itsme", "1");
    let sent = sender
        .upload("/sign", "/sign", &fields, ("file", "lease.pdf", &pdf))
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let at = sent.body.find("class=\"signer-link\" href=\"").unwrap()
        + "class=\"signer-link\" href=\"".len();
    let link = &sent.body[at..at + sent.body[at..].find('"').unwrap()];
    let path = link.trim_start_matches("http://127.0.0.1:8080").to_string();
    assert!(path.starts_with("/s/") && path.len() == 3 + 64, "{path}");

    // The signer, with no account here.
    let ann = app.browser();
    let page = ann.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Identify with itsme"));
    assert!(
        !page.body.contains("id=\"sign\""),
        "no signing before itsme"
    );
    let document = ann.get(&format!("{path}/document")).await;
    assert_eq!(document.bytes, pdf);
    let to_itsme = ann.submit(&path, &format!("{path}/itsme"), &[]).await;
    assert_eq!(to_itsme.status, StatusCode::SEE_OTHER);
    let itsme_page = to_itsme.location().to_string();
    assert!(itsme_page.starts_with("/itsme-sim/"));
    assert!(ann.get(&itsme_page).await.body.contains("Ann Peeters"));
    let back = ann
        .submit(&itsme_page, &itsme_page, &[("decision", "approve")])
        .await;
    assert_eq!(back.location(), format!("{path}/itsme"));
    let done = ann.get(back.location()).await;
    assert_eq!(done.location(), format!("{path}?identified=approved"));
    // The return repeated (a reload): charged once.
    ann.get(back.location()).await;
    assert_eq!(reload(&mut conn, account.id).balance, c("0"));
    let page = ann.get(done.location()).await;
    assert!(page.body.contains("itsme identified you"));
    assert!(
        page.body
            .contains("Identified with itsme as Ann Peeters (•••••••••")
    );
    let wrong = ann
        .submit(&path, &format!("{path}/sign"), &[("name", "Bob")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("Type your name as it is written here"));
    let signed = ann
        .submit(&path, &format!("{path}/sign"), &[("name", "Ann Peeters")])
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert!(
        ann.get(&path)
            .await
            .body
            .contains("You signed this document.")
    );

    // The sender: the certificate and the signed PDF.
    let list = sender.get("/sign").await;
    let at = list.body.find("/sign/requests/").unwrap();
    let request_path = &list.body[at..at + list.body[at..].find('"').unwrap()];
    let request = sender.get(request_path).await;
    assert!(request.body.contains("<dd id=\"status\">completed</dd>"));
    assert!(request.body.contains("Identified with itsme at"));
    assert!(request.body.contains("Signed at"));
    let signed_pdf = sender.get(&format!("{request_path}/signed.pdf")).await;
    assert_eq!(signed_pdf.header("content-type"), "application/pdf");
    let facts = inspector().inspect(&signed_pdf.bytes).unwrap();
    assert_eq!(facts.pages.len(), 2);
    // A bad or unknown link is a 404; another database cannot see the request.
    assert_eq!(ann.get("/s/nonsense").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        ann.get(&format!("/s/{}", "a".repeat(64))).await.status,
        StatusCode::NOT_FOUND
    );
    let other = Customer::named(&mut conn, "Other Signers", Subscription::None);
    other.user(&mut conn, "eve@other-signers.test", Role::User);
    let eve = app.browser();
    eve.sign_in("eve@other-signers.test", crate::fixtures::PASSWORD)
        .await;
    assert_eq!(eve.get(request_path).await.status, StatusCode::NOT_FOUND);
    assert_consistent(&mut conn);
}

#[test]
fn an_identification_never_finished_is_given_up_and_costs_nothing() {
    use iap_credits::domain::metering::{self, Services};
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let user = customer.user(&mut conn, "ada@example.test", Role::User);
    let account = customer.funded(&mut conn, "itsme", "1");
    let provider: Arc<dyn ItsmeProvider> = Arc::new(SimulatedItsme::default());
    let checked = documents::check(&inspector(), "c.pdf", letter_pdf(1, 595, 842)).unwrap();
    let document = documents::store(&mut conn, customer.database_id, Some(user), &checked).unwrap();
    let valid = RequestInput::from_pairs(&pairs(&[
        ("title", "Contract"),
        ("name_0", "Ann Peeters"),
        ("email_0", "ann@example.be"),
        ("country_0", "BE"),
        ("itsme_0", "on"),
    ]))
    .validate()
    .unwrap();
    let sent =
        signing::send_request(&mut conn, customer.database_id, user, &document, &valid).unwrap();
    let ann = signing::by_token(&mut conn, &sent.links[0].1)
        .unwrap()
        .unwrap()
        .0;
    signing::start_identification(&mut conn, &provider, &ann, "/s/x").unwrap();
    assert_eq!(reload(&mut conn, account.id).available(), c("0"), "held");
    // The signer never answers: the worker asks until it gives up, and releases the hold.
    let services =
        Services::default().with(Arc::new(signing::IdentificationWorker(provider.clone())));
    for hours in 1..=8 {
        let at = chrono::Utc::now() + chrono::Duration::hours(hours);
        metering::run_due(&mut conn, &services, at, 10).unwrap();
    }
    let after = reload(&mut conn, account.id);
    assert_eq!((after.balance, after.available()), (c("1"), c("1")));
    assert_eq!(
        signing::finish_identification(&mut conn, &provider, &ann).unwrap(),
        Identified::Expired
    );
    assert_consistent(&mut conn);
}

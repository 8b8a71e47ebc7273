//! Partner Autocomplete: suggestions are free; enriching a company contact fills it from the
//! directory for 1 credit on the paid-service steps, tells its chatter, costs nothing again for
//! the same company, and with too few credits fills only the website and logo.

use std::sync::Arc;

use actix_web::http::StatusCode;
use iap_credits::domain::tenancy::{Role, Subscription};
use iap_credits::kernel::ids::ContactId;
use iap_credits::services::contacts::{self, ValidContact};
use iap_credits::services::directory::provider::{CompanyDirectory, SimulatedDirectory};
use iap_credits::services::partner_autocomplete::{self, Enriched};

use crate::fixtures::{Customer, PASSWORD, assert_consistent, c, reload};
use crate::harness::{TestApp, TestDb};

fn company_contact(conn: &mut diesel::PgConnection, customer: &Customer, name: &str) -> ContactId {
    contacts::create(
        conn,
        customer.database_id,
        &ValidContact {
            name: name.into(),
            company: Some(name.into()),
            email: None,
            phone: None,
            mobile: None,
            country: None,
            is_company: true,
            street: None,
            postal_code: None,
            city: None,
        },
    )
    .unwrap()
    .id
}

#[test]
fn enriching_costs_one_credit_once_and_short_credits_fill_website_and_logo_only() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let directory: Arc<dyn CompanyDirectory> = Arc::new(SimulatedDirectory(db.pool()));
    let customer = Customer::new(&mut conn, Subscription::None);
    let user = customer.user(&mut conn, "ada@example.test", Role::User);
    let account = customer.funded(&mut conn, "partner-autocomplete", "2");
    let contact = company_contact(&mut conn, &customer, "Acme");
    let enrich = |conn: &mut diesel::PgConnection, company: i64| {
        partner_autocomplete::enrich(
            conn,
            &directory,
            customer.database_id,
            user,
            contact,
            iap_credits::kernel::ids::CompanyId(company),
        )
        .unwrap()
    };

    assert_eq!(enrich(&mut conn, 1234), Enriched::Charged(c("1")));
    assert_eq!(reload(&mut conn, account.id).balance, c("1"));
    let known = iap_credits::services::directory::company(
        &mut conn,
        iap_credits::kernel::ids::CompanyId(1234),
    )
    .unwrap()
    .unwrap();
    let filled = contacts::find(&mut conn, customer.database_id, contact)
        .unwrap()
        .unwrap();
    assert_eq!(filled.vat, known.vat);
    assert_eq!(filled.city.as_deref(), Some(known.city.as_str()));
    assert_eq!(filled.country.as_deref(), Some(known.country_code.as_str()));
    assert_eq!(filled.website, Some(known.website()));
    assert_eq!(filled.company, Some(known.full_name()));
    assert_eq!(filled.employees, Some(known.employees));
    assert!(
        filled
            .logo_svg
            .as_deref()
            .is_some_and(|l| l.starts_with("<svg"))
    );
    let events = contacts::events_of(&mut conn, customer.database_id, contact).unwrap();
    assert_eq!(events.len(), 1);
    assert!(
        events[0]
            .body
            .starts_with("Enriched with Partner Autocomplete"),
        "{}",
        events[0].body
    );
    assert!(events[0].body.ends_with("1 credit"), "{}", events[0].body);

    // The same company again: nothing to pay, nothing written.
    assert_eq!(enrich(&mut conn, 1234), Enriched::AlreadyEnriched);
    assert_eq!(reload(&mut conn, account.id).balance, c("1"));
    // Another company: the last credit.
    assert_eq!(enrich(&mut conn, 77), Enriched::Charged(c("1")));
    assert_eq!(reload(&mut conn, account.id).balance, c("0"));
    // None left: only the website and logo of the third company, free.
    let third = iap_credits::services::directory::company(
        &mut conn,
        iap_credits::kernel::ids::CompanyId(555),
    )
    .unwrap()
    .unwrap();
    assert!(matches!(
        enrich(&mut conn, 555),
        Enriched::WebsiteAndLogoOnly { account_id, .. } if account_id == account.id
    ));
    let partly = contacts::find(&mut conn, customer.database_id, contact)
        .unwrap()
        .unwrap();
    assert_eq!(partly.website, Some(third.website()));
    assert_ne!(partly.vat, third.vat, "the paid fields stay as they were");
    assert_eq!(reload(&mut conn, account.id).balance, c("0"));
    assert_eq!(
        contacts::events_of(&mut conn, customer.database_id, contact)
            .unwrap()
            .len(),
        2
    );
    assert_consistent(&mut conn);
}

#[actix_web::test]
async fn find_company_and_enrich_work_without_javascript() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let customer = Customer::named(&mut conn, "Widgets", Subscription::None);
    customer.user(&mut conn, "sam@widgets.test", Role::User);
    let account = customer.funded(&mut conn, "partner-autocomplete", "5");
    let target = iap_credits::services::directory::company(
        &mut conn,
        iap_credits::kernel::ids::CompanyId(4321),
    )
    .unwrap()
    .unwrap();
    let contact = company_contact(&mut conn, &customer, &target.name);
    let browser = app.browser();
    browser.sign_in("sam@widgets.test", PASSWORD).await;

    let page = browser.get(&format!("/contacts/{contact}")).await;
    assert!(page.body.contains("Find company"));
    let typed: String = target.name.chars().take(6).collect();
    let found = browser
        .get(&format!(
            "/contacts/{contact}/companies?q={}",
            urlencode(&typed)
        ))
        .await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(found.body.contains("Enrich (1 credit)"), "{}", found.body);
    let enriched = browser
        .submit(
            &format!(
                "/contacts/{contact}/companies?q={}",
                urlencode(&target.name)
            ),
            &format!("/contacts/{contact}/enrich"),
            &[("company_id", &target.id.to_string())],
        )
        .await;
    assert_eq!(enriched.status, StatusCode::SEE_OTHER);
    let page = browser.get(&format!("/contacts/{contact}")).await;
    assert!(
        page.body.contains("Enriched with Partner Autocomplete"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&target.domain));
    assert_eq!(reload(&mut conn, account.id).balance, c("4"));
    // Another database's contact is not there to enrich.
    let stranger = Customer::named(&mut conn, "Others", Subscription::None);
    let theirs = company_contact(&mut conn, &stranger, "Theirs");
    let refused = browser
        .submit(
            &format!("/contacts/{contact}"),
            &format!("/contacts/{theirs}/enrich"),
            &[("company_id", "1")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(reload(&mut conn, account.id).balance, c("4"));
}

fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[actix_web::test]
async fn the_contact_form_enriches_a_company_picked_from_the_suggestions() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let customer = Customer::named(&mut conn, "Formers", Subscription::None);
    customer.user(&mut conn, "fay@formers.test", Role::User);
    let account = customer.funded(&mut conn, "partner-autocomplete", "3");
    let target = iap_credits::services::directory::company(
        &mut conn,
        iap_credits::kernel::ids::CompanyId(999),
    )
    .unwrap()
    .unwrap();
    // Suggestions are for signed-in users only.
    let anonymous = app.browser().get("/companies/suggest?q=abc").await;
    assert_ne!(anonymous.status, StatusCode::OK);
    let browser = app.browser();
    browser.sign_in("fay@formers.test", PASSWORD).await;
    let form = browser.get("/contacts/new").await;
    assert!(form.body.contains("Is a company"));
    assert!(form.body.contains("data-suggest=\"/companies/suggest\""));
    let suggested = browser
        .get(&format!("/companies/suggest?q={}", urlencode(&target.name)))
        .await;
    assert_eq!(suggested.status, StatusCode::OK);
    let found: serde_json::Value = serde_json::from_str(&suggested.body).unwrap();
    assert!(
        found
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == target.id.0 && s["name"] == target.full_name().as_str()),
        "{found}"
    );
    if let Some(vat) = &target.vat {
        let by_vat = browser.get(&format!("/companies/suggest?q={vat}")).await;
        assert!(by_vat.body.contains(&format!("\"id\":{}", target.id)));
    }
    assert_eq!(browser.get("/companies/suggest?q=ab").await.body, "[]");

    // Saved with the pick: created and enriched, 1 credit.
    let created = browser
        .submit(
            "/contacts/new",
            "/contacts/new",
            &[
                ("is_company", "on"),
                ("name", &target.full_name()),
                ("enrich_with", &target.id.to_string()),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    assert!(
        created.location().ends_with("#chatter"),
        "{}",
        created.location()
    );
    let page = browser.get(created.location()).await;
    assert!(page.body.contains("Enriched with Partner Autocomplete"));
    assert!(page.body.contains(&target.domain));
    assert_eq!(reload(&mut conn, account.id).balance, c("2"));

    // A pick the directory never had: the contact is saved, nothing is charged, and it says so.
    let unknown = browser
        .submit(
            "/contacts/new",
            "/contacts/new",
            &[
                ("is_company", "on"),
                ("name", "Ghost Ltd"),
                ("enrich_with", "99999999"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::SEE_OTHER);
    assert!(unknown.location().contains("enrichment=failed"));
    let page = browser.get(unknown.location()).await;
    assert!(page.body.contains("could not be found in the directory"));
    assert_eq!(reload(&mut conn, account.id).balance, c("2"));
    // Not a company: the pick is ignored.
    let person = browser
        .submit(
            "/contacts/new",
            "/contacts/new",
            &[
                ("name", "Just A Person"),
                ("enrich_with", &target.id.to_string()),
            ],
        )
        .await;
    assert!(!person.location().contains('#'));
    assert_eq!(reload(&mut conn, account.id).balance, c("2"));
    assert_consistent(&mut conn);
}

/// A company contact's enrichment asked while the directory does not answer: under way, its
/// credit (of 1) held. Returns the customer, the account and the contact.
fn enrichment_under_way(
    conn: &mut diesel::PgConnection,
    name: &str,
) -> (Customer, iap_credits::domain::ledger::IapAccount, ContactId) {
    use iap_credits::services::directory::provider::UnavailableDirectory;
    let customer = Customer::new(conn, Subscription::None);
    let user = customer.user(conn, "ada@example.test", Role::User);
    let account = customer.funded(conn, "partner-autocomplete", "1");
    let contact = company_contact(conn, &customer, name);
    let down: Arc<dyn CompanyDirectory> = Arc::new(UnavailableDirectory);
    let outcome = partner_autocomplete::enrich(
        conn,
        &down,
        customer.database_id,
        user,
        contact,
        iap_credits::kernel::ids::CompanyId(321),
    )
    .unwrap();
    assert_eq!(outcome, Enriched::UnderWay);
    (customer, account, contact)
}

#[test]
fn an_enrichment_the_directory_does_not_answer_is_under_way_and_finished_by_the_worker() {
    use iap_credits::domain::metering::{self, Services};
    let db = TestDb::new();
    let mut conn = db.conn();
    let (customer, account, contact) = enrichment_under_way(&mut conn, "Late");
    let held = reload(&mut conn, account.id);
    assert_eq!(
        (held.balance, held.available()),
        (c("1"), c("0")),
        "held, not spent"
    );

    // The directory is back: the worker finishes the job once, after its lease.
    let up: Arc<dyn CompanyDirectory> = Arc::new(SimulatedDirectory(db.pool()));
    let services = Services::default().with(Arc::new(
        partner_autocomplete::PartnerAutocompleteWorker(up),
    ));
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let run = metering::run_due(&mut conn, &services, later, 10).unwrap();
    assert_eq!(run.finished, 1);
    assert_eq!(reload(&mut conn, account.id).balance, c("0"));
    let filled = contacts::find(&mut conn, customer.database_id, contact)
        .unwrap()
        .unwrap();
    assert_eq!(
        filled.directory_company_id,
        Some(iap_credits::kernel::ids::CompanyId(321))
    );
    assert_eq!(
        metering::run_due(&mut conn, &services, later, 10)
            .unwrap()
            .finished,
        0
    );
    assert_consistent(&mut conn);
}

#[test]
fn an_enrichment_given_up_is_failed_and_costs_nothing() {
    use iap_credits::domain::metering::{self, Services};
    use iap_credits::services::directory::provider::UnavailableDirectory;
    use iap_credits::services::partner_autocomplete::EnrichmentStatus;
    let db = TestDb::new();
    let mut conn = db.conn();
    let (customer, account, _) = enrichment_under_way(&mut conn, "Never");
    let down: Arc<dyn CompanyDirectory> = Arc::new(UnavailableDirectory);
    // The directory never answers: the worker tries until it gives the job up.
    let services = Services::default().with(Arc::new(
        partner_autocomplete::PartnerAutocompleteWorker(down),
    ));
    for hour in 1..=(metering::MAX_ATTEMPTS as i64 + 2) {
        let later = chrono::Utc::now() + chrono::Duration::hours(hour);
        metering::run_due(&mut conn, &services, later, 10).unwrap();
    }
    let after = reload(&mut conn, account.id);
    assert_eq!((after.balance, after.available()), (c("1"), c("1")));
    let latest = partner_autocomplete::latest(&mut conn, customer.database_id, 5).unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(
        latest[0].status,
        EnrichmentStatus::Failed,
        "not left pending"
    );
    assert_consistent(&mut conn);
}

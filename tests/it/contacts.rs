//! The Contacts app: create with validation, search, pages, edit, delete, and isolation
//! between databases.

use actix_web::http::StatusCode;
use iap_credits::domain::tenancy::{Role, Subscription};

use crate::fixtures;
use crate::harness::TestApp;

fn contact_id(location: &str) -> i64 {
    location.trim_start_matches("/contacts/").parse().unwrap()
}

#[actix_web::test]
async fn create_search_edit_and_delete_a_contact() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    browser.sign_in("user@demo.test", "demo-password").await;

    let list = browser.get("/contacts").await;
    assert!(
        list.body.contains("Brandon Freeman"),
        "demo contacts are listed"
    );
    assert!(list.body.contains("+32 470 12 34 56"));

    // Invalid: errors next to their fields, values kept, nothing stored.
    let page = browser
        .submit(
            "/contacts/new",
            "/contacts/new",
            &[
                ("name", ""),
                ("mobile", "0470 12"),
                ("country", "BE"),
                ("email", "x@"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("id=\"name-error\"")
            && page.body.contains("id=\"mobile-error\"")
            && page.body.contains("id=\"email-error\"")
    );
    assert!(page.body.contains("value=\"0470 12\""));

    // A number without + is read in the contact's country.
    let created = browser
        .submit(
            "/contacts/new",
            "/contacts/new",
            &[
                ("name", "Zoë Martin"),
                ("company", "Acme"),
                ("mobile", "0470 98 76 54"),
                ("country", "be"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let id = contact_id(created.location());
    let page = browser.get(created.location()).await;
    assert!(page.body.contains("<h1>Zoë Martin</h1>"));
    assert!(page.body.contains("+32 470 98 76 54"));

    for search in ["zoë", "ACME", "0470 98", "987654"] {
        let found = browser
            .get(&format!("/contacts?q={}", urlencode(search)))
            .await;
        assert!(found.body.contains("Zoë Martin"), "{search}");
        assert!(!found.body.contains("Brandon Freeman"), "{search}");
    }

    let edited = browser
        .submit(
            &format!("/contacts/{id}/edit"),
            &format!("/contacts/{id}/edit"),
            &[
                ("name", "Zoë Martin-Dubois"),
                ("mobile", "+33 6 12 34 56 78"),
                ("country", "FR"),
            ],
        )
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER);
    let page = browser.get(&format!("/contacts/{id}")).await;
    assert!(page.body.contains("Zoë Martin-Dubois") && page.body.contains("+33 6 12 34 56 78"));

    let deleted = browser
        .submit(
            &format!("/contacts/{id}"),
            &format!("/contacts/{id}/delete"),
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        browser.get(&format!("/contacts/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("q", text)])
        .unwrap()
        .trim_start_matches("q=")
        .to_string()
}

#[actix_web::test]
async fn the_list_is_paginated_by_name() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    browser.sign_in("user@demo.test", "demo-password").await;
    for i in 0..25 {
        let name = format!("Paged {i:02}");
        browser
            .submit("/contacts/new", "/contacts/new", &[("name", name.as_str())])
            .await;
    }
    let first = browser.get("/contacts?q=Paged").await;
    assert!(first.body.contains("Paged 00") && first.body.contains("Paged 19"));
    assert!(!first.body.contains("Paged 20"));
    let start = first.body.find("href=\"/contacts?").unwrap() + "href=\"".len();
    let next = &first.body[start..start + first.body[start..].find('"').unwrap()];
    let next = next.replace("&amp;", "&").replace("&#38;", "&");
    let second = browser.get(&next).await;
    assert_eq!(second.status, StatusCode::OK, "{next}");
    assert!(
        second.body.contains("Paged 20") && second.body.contains("Paged 24"),
        "{next}: {}",
        second.body
    );
    assert!(!second.body.contains("Paged 19"));
    assert!(!second.body.contains("Next page"));
}

#[actix_web::test]
async fn another_databases_contacts_are_404_and_forms_need_csrf() {
    let app = TestApp::new().with_demo();
    let demo = app.browser();
    demo.sign_in("user@demo.test", "demo-password").await;
    let created = demo
        .submit(
            "/contacts/new",
            "/contacts/new",
            &[("name", "Private Person")],
        )
        .await;
    let path = created.location().to_string();

    let rival = fixtures::signed_in(
        &app,
        "Rival",
        Subscription::None,
        "boss@rival.example",
        Role::User,
    )
    .await;
    assert_eq!(rival.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        rival.get(&format!("{path}/edit")).await.status,
        StatusCode::NOT_FOUND
    );
    let page = rival
        .submit("/contacts", &format!("{path}/edit"), &[("name", "Stolen")])
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = rival
        .submit("/contacts", &format!("{path}/edit"), &[("name", "")])
        .await;
    assert_eq!(
        page.status,
        StatusCode::NOT_FOUND,
        "no form for a foreign contact, even with errors"
    );
    assert_eq!(
        rival
            .submit("/contacts", &format!("{path}/delete"), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(!rival.get("/contacts").await.body.contains("Private Person"));

    assert_eq!(
        demo.post(&format!("{path}/delete"), &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(demo.get(&path).await.status, StatusCode::OK, "still there");
}

//! The operator's catalog pages: services and packs created, edited and hidden (never deleted),
//! new prices in the catalog while past orders keep theirs, and the SMS price table.

use actix_web::http::StatusCode;
use iap_credits::domain::audit::{self, AuditFilter};
use iap_credits::domain::catalog;
use iap_credits::domain::orders;
use iap_credits::domain::tenancy::Subscription;
use iap_credits::services::sms::pricing;

use crate::fixtures::{Customer, c};
use crate::harness::TestApp;

#[actix_web::test]
async fn services_and_packs_are_created_edited_and_hidden_never_deleted() {
    let app = TestApp::new().with_demo();
    let ops = app.browser();
    ops.sign_in("platform@demo.test", "demo-password").await;
    let new = "/admin/catalog/services/new";
    let bad = ops
        .submit(
            new,
            new,
            &[
                ("slug", "Fax Sending!"),
                ("name", ""),
                ("provider", "Acme"),
                ("trial_credits", "-1"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body
            .contains("id=\"slug-error\">The slug is lowercase letters")
    );
    assert!(bad.body.contains("id=\"name-error\">Enter the name."));
    assert!(
        bad.body
            .contains("id=\"trial_credits-error\">Trial credits:")
    );
    assert!(bad.body.contains("value=\"Fax Sending!\""), "values kept");
    assert!(bad.body.contains("value=\"Acme\""));
    let taken = ops
        .submit(
            new,
            new,
            &[("slug", "sms"), ("name", "SMS 2"), ("provider", "Acme")],
        )
        .await;
    assert!(
        taken
            .body
            .contains("A service with the slug “sms” already exists.")
    );

    let created = ops
        .submit(
            new,
            new,
            &[
                ("slug", "fax"),
                ("name", "Fax"),
                ("provider", "Acme Telecom"),
                ("description", "Send faxes from your documents."),
                ("trial_credits", "5"),
                ("sort_order", "90"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let service_page = created.location().split('?').next().unwrap().to_string();
    let service_id: iap_credits::kernel::ids::ServiceId =
        service_page.rsplit('/').next().unwrap().parse().unwrap();
    let packs_action = format!("{service_page}/packs");
    let bad_pack = ops
        .submit(
            &service_page,
            &packs_action,
            &[
                ("name", "Fax 20"),
                ("credits", "0"),
                ("price", "9.999"),
                ("currency", "euro"),
            ],
        )
        .await;
    assert_eq!(bad_pack.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_pack
            .body
            .contains("id=\"pack-credits-error\">A pack has more than 0 credits.")
    );
    assert!(
        bad_pack
            .body
            .contains("id=\"pack-price-error\">Enter a price like 95.00")
    );
    assert!(
        bad_pack
            .body
            .contains("id=\"pack-currency-error\">The currency is a three-letter code")
    );
    assert!(bad_pack.body.contains("value=\"9.999\""));
    let added = ops
        .submit(
            &service_page,
            &packs_action,
            &[
                ("name", "Fax 20"),
                ("credits", "20"),
                ("price", "12.5"),
                ("currency", "eur"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let public = app.get("/services/fax").await;
    assert_eq!(public.status, StatusCode::OK);
    assert!(public.body.contains("Fax 20"));
    assert!(public.body.contains("12.50 EUR"));

    // Deactivating hides the service from the catalog; nothing is deleted.
    let saved = ops
        .submit(
            &service_page,
            &service_page,
            &[
                ("name", "Fax"),
                ("provider", "Acme Telecom"),
                ("trial_credits", "5"),
                ("sort_order", "90"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/services/fax").await.status, StatusCode::NOT_FOUND);
    assert!(!app.get("/").await.body.contains("Fax"));
    let mut conn = app.db.conn();
    let fax = catalog::service_by_id(&mut conn, service_id).unwrap();
    assert!(!fax.active);

    let entries = audit::list(&mut conn, &AuditFilter::default(), 10).unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["service.update", "pack.create", "service.create"]);
    assert_eq!(entries[0].before.as_ref().unwrap()["active"], true);
    assert_eq!(entries[0].after.as_ref().unwrap()["active"], false);
}

#[actix_web::test]
async fn a_new_pack_price_shows_in_the_catalog_and_past_orders_keep_theirs() {
    let app = TestApp::new().with_demo();
    let mut conn = app.db.conn();
    let who = Customer::named(&mut conn, "Theta", Subscription::None);
    let sms = who.account(&mut conn, "sms");
    let old = who.buy(&mut conn, &sms, "Standard Pack");
    let ops = app.browser();
    ops.sign_in("platform@demo.test", "demo-password").await;
    let pack_page = format!("/admin/catalog/packs/{}", old.pack_id);
    let form = ops.get(&pack_page).await;
    assert!(form.body.contains("value=\"95.00\""));
    let saved = ops
        .submit(
            &pack_page,
            &pack_page,
            &[
                ("name", "Standard Pack"),
                ("credits", "100"),
                ("price", "89.90"),
                ("currency", "EUR"),
                ("sort_order", "2"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let public = app.get("/services/sms").await.body;
    assert!(public.contains("89.90 EUR") && !public.contains("95.00 EUR"));
    let past = orders::find(&mut conn, who.database_id, old.id)
        .unwrap()
        .unwrap();
    assert_eq!(
        past.price().to_string(),
        "95.00 EUR",
        "the order keeps its snapshot"
    );

    // Deactivated: gone from the catalog and the Buy Credits page.
    ops.submit(
        &pack_page,
        &pack_page,
        &[
            ("name", "Standard Pack"),
            ("credits", "100"),
            ("price", "89.90"),
            ("currency", "EUR"),
            ("sort_order", "2"),
        ],
    )
    .await;
    assert!(
        !app.get("/services/sms")
            .await
            .body
            .contains("Standard Pack")
    );
    let admin = app.browser();
    admin.sign_in("admin@demo.test", "demo-password").await;
    let list = admin.get("/iap/accounts").await.body;
    let end = list.find("\">SMS</a></th>").unwrap();
    let start = list[..end].rfind("/iap/accounts/").unwrap();
    let buy_page = format!("{}/buy", &list[start..end]);
    let page = admin.get(&buy_page).await;
    assert!(page.body.contains("Starter Pack") && !page.body.contains("Standard Pack"));
}

#[actix_web::test]
async fn the_sms_price_table_is_edited_and_used_at_once() {
    let app = TestApp::new().with_demo();
    let ops = app.browser();
    ops.sign_in("platform@demo.test", "demo-password").await;
    let page = "/admin/sms-prices";
    let shown = ops.get(page).await;
    assert!(
        shown
            .body
            .contains("<th scope=\"row\">FR</th><td>France</td>")
    );
    let bad = ops
        .submit(
            page,
            page,
            &[
                ("country_code", "FRA"),
                ("country_name", "France"),
                ("price", "0"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body
            .contains("id=\"country_code-error\">The country is a two-letter ISO code")
    );
    assert!(
        bad.body
            .contains("id=\"price-error\">An SMS costs more than 0 credits.")
    );
    assert!(bad.body.contains("value=\"FRA\""));
    let saved = ops
        .submit(
            page,
            page,
            &[
                ("country_code", "fr"),
                ("country_name", "France"),
                ("price", "0.09"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let added = ops
        .submit(
            page,
            page,
            &[
                ("country_code", "KZ"),
                ("country_name", "Kazakhstan"),
                ("price", "0.12"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let mut conn = app.db.conn();
    assert_eq!(
        pricing::price_per_part(&mut conn, Some("FR"))
            .unwrap()
            .price,
        c("0.09")
    );
    assert_eq!(
        pricing::price_per_part(&mut conn, Some("KZ"))
            .unwrap()
            .country_name,
        "Kazakhstan"
    );
    let entries = audit::list(
        &mut conn,
        &AuditFilter {
            subject: "sms_price:FR".into(),
            ..AuditFilter::default()
        },
        10,
    )
    .unwrap();
    assert_eq!(entries[0].before.as_ref().unwrap()["price"], "0.0760");
    assert_eq!(entries[0].after.as_ref().unwrap()["price"], "0.0900");
}

#[actix_web::test]
async fn the_operator_sees_a_services_provider_keys_and_revokes_one_audited() {
    let app = TestApp::new().with_demo();
    let mut conn = app.db.conn();
    let sms = catalog::service_by_slug(&mut conn, "sms").unwrap().unwrap();
    let made = iap_credits::domain::provider_keys::create(&mut conn, sms.id, "Acme SMS").unwrap();
    assert!(
        iap_credits::domain::provider_keys::authenticate(&mut conn, &made.key)
            .unwrap()
            .is_some()
    );
    let ops = app.browser();
    ops.sign_in("platform@demo.test", "demo-password").await;
    let page_path = format!("/admin/catalog/services/{}", sms.id);
    let page = ops.get(&page_path).await;
    assert!(page.body.contains("Provider keys") && page.body.contains("Acme SMS"));
    assert!(!page.body.contains(&made.key), "a key is never shown again");
    let revoke = format!(
        "/admin/catalog/services/{}/keys/{}/revoke",
        sms.id, made.record.id
    );
    let done = ops.submit(&page_path, &revoke, &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(ops.get(&page_path).await.body.contains("revoked"));
    assert!(
        iap_credits::domain::provider_keys::authenticate(&mut conn, &made.key)
            .unwrap()
            .is_none(),
        "a revoked key works no more"
    );
    let audited = audit::list(
        &mut conn,
        &AuditFilter {
            subject: format!("provider_key:{}", made.record.id),
            ..AuditFilter::default()
        },
        10,
    )
    .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].action, "provider_key.revoke");
    // Another service's path does not reach this key; a customer cannot revoke at all.
    let other = catalog::service_by_slug(&mut conn, "snailmail")
        .unwrap()
        .unwrap();
    let wrong = format!(
        "/admin/catalog/services/{}/keys/{}/revoke",
        other.id, made.record.id
    );
    assert_eq!(
        ops.submit(&page_path, &wrong, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    let customer = app.browser();
    customer.sign_in("admin@demo.test", "demo-password").await;
    assert_eq!(customer.get(&page_path).await.status, StatusCode::NOT_FOUND);
}

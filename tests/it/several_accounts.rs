//! Several accounts of one service per database (Odoo sends a token per company): each its own
//! balance and history, a label the customer gives it, the default its own pages spend from,
//! and credits moved between two of them once, audited, in both histories.

use diesel::prelude::*;
use serde_json::{Value, json};

use iap_credits::domain::catalog;
use iap_credits::domain::ledger::{self, Actor, GrantKind, accounts};
use iap_credits::domain::tenancy::{self, Role, Subscription};

use crate::fixtures::{Customer, PASSWORD, assert_consistent, c};
use crate::harness::TestApp;
use crate::odoo::{DBUUID, available, call, fund, odoo_token};

fn sms_send(token: &str, uuid: u32) -> Value {
    json!({
        "account_token": token,
        "dbuuid": DBUUID,
        "webhook_url": "https://odoo.example/sms/status",
        "messages": [{"content": "Your order has shipped.",
                      "numbers": [{"uuid": format!("{uuid:032x}"), "number": "+32470123456"}]}],
    })
}

#[actix_web::test]
async fn two_tokens_of_one_database_are_two_accounts_each_charged_on_its_own() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let (first, second) = (odoo_token(), odoo_token());
    for token in [&first, &second] {
        call(
            &app,
            "/iap/1/balance",
            json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"}),
        )
        .await
        .unwrap();
    }
    let a = accounts::by_token(&mut conn, &first).unwrap().unwrap();
    let b = accounts::by_token(&mut conn, &second).unwrap().unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.database_id, b.database_id);
    fund(&mut conn, &first, "5");
    fund(&mut conn, &second, "7");
    let (a_before, b_before) = (available(&mut conn, &first), available(&mut conn, &second));

    // An SMS from the second company spends the second account only.
    let sent = call(&app, "/api/sms/3/send", sms_send(&second, 1))
        .await
        .unwrap();
    assert_eq!(sent[0]["state"], "success", "{sent}");
    let price =
        iap_credits::kernel::credits::Credits::parse(&sent[0]["credit"].to_string()).unwrap();
    assert_eq!(available(&mut conn, &first), a_before);
    assert_eq!(
        available(&mut conn, &second).units(),
        b_before.units() - price.units()
    );
    // And one from the first company, the first.
    call(&app, "/api/sms/3/send", sms_send(&first, 2))
        .await
        .unwrap();
    assert_eq!(
        available(&mut conn, &first).units(),
        a_before.units() - price.units()
    );
    assert_eq!(
        available(&mut conn, &second).units(),
        b_before.units() - price.units()
    );

    // The database's own pages spend from the default: the first until another is marked.
    let sms = catalog::service_by_slug(&mut conn, "sms").unwrap().unwrap();
    let default = accounts::get_or_create(&mut conn, a.database_id, sms.id).unwrap();
    assert_eq!(default.id, a.id);
    assert!(accounts::make_default(&mut conn, a.database_id, b.id).unwrap());
    let default = accounts::get_or_create(&mut conn, a.database_id, sms.id).unwrap();
    assert_eq!(default.id, b.id);
    // Another database's account cannot be made its default.
    let other = Customer::new(&mut conn, Subscription::None);
    assert!(!accounts::make_default(&mut conn, other.database_id, b.id).unwrap());
    assert_consistent(&mut conn);
}

#[actix_web::test]
async fn a_neutralized_copy_registers_nothing_and_spends_nothing() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let count = |conn: &mut PgConnection| -> i64 {
        iap_credits::platform::schema::iap_accounts::table
            .count()
            .get_result(conn)
            .unwrap()
    };
    let before = count(&mut conn);
    let disabled = format!("{}+disabled", odoo_token());
    for (path, params) in [
        (
            "/iap/1/balance",
            json!({"dbuuid": DBUUID, "account_token": disabled, "service_name": "sms"}),
        ),
        ("/api/sms/3/send", sms_send(&disabled, 1)),
        (
            "/iap/partner_autocomplete/search",
            json!({"db_uuid": DBUUID, "account_token": disabled, "query": "acme"}),
        ),
        (
            "/iap/clearbit/1/lead_enrichment_email",
            json!({"dbuuid": DBUUID, "account_token": disabled, "domains": {"1": "acme.example"}}),
        ),
        (
            "/iap/snailmail/1/print",
            json!({"dbuuid": DBUUID, "account_token": disabled, "documents": [], "batch": true}),
        ),
    ] {
        let (name, message) = call(&app, path, params).await.unwrap_err();
        assert_eq!(name, "odoo.exceptions.AccessError", "{path}");
        assert!(message.contains("neutralized copy"), "{path}: {message}");
    }
    assert_eq!(count(&mut conn), before);
}

/// A database with two SMS accounts and its administrator signed in.
async fn two_sms_accounts(
    app: &TestApp,
) -> (
    crate::harness::Browser<'_>,
    ledger::IapAccount,
    ledger::IapAccount,
) {
    let mut conn = app.db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let email = format!("admin{}@several.test", customer.database_id.0);
    let name = tenancy::database_name(&mut conn, customer.database_id).unwrap();
    tenancy::create_user(&mut conn, &name, &email, PASSWORD, Role::Admin).unwrap();
    let sms = catalog::service_by_slug(&mut conn, "sms").unwrap().unwrap();
    let first = accounts::get_or_create(&mut conn, customer.database_id, sms.id).unwrap();
    let (second, _) =
        accounts::get_or_create_with_token(&mut conn, customer.database_id, sms.id, &odoo_token())
            .unwrap();
    for (account, credits) in [(&first, "3"), (&second, "10")] {
        ledger::grant(
            &mut conn,
            account.id,
            c(credits),
            GrantKind::Adjustment,
            "test money",
            &Actor::cli(),
        )
        .unwrap();
    }
    let browser = app.browser();
    browser.sign_in(&email, PASSWORD).await;
    (browser, first, second)
}

#[actix_web::test]
async fn credits_move_once_between_two_accounts_and_show_in_both_histories() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let (admin, first, second) = two_sms_accounts(&app).await;
    let from = format!("/iap/accounts/{}", second.id);
    let form = admin.get(&from).await;
    let key_marker = r#"name="form_key" value=""#;
    let start = form.body.find(key_marker).unwrap() + key_marker.len();
    let form_key = form.body[start..start + form.body[start..].find('"').unwrap()].to_string();
    let to = first.id.to_string();
    let fields = [
        ("form_key", form_key.as_str()),
        ("credits", "5"),
        ("to", to.as_str()),
    ];

    // Posted twice (a double click, a reload): moved once.
    for _ in 0..2 {
        let moved = admin.submit(&from, &format!("{from}/move"), &fields).await;
        assert_eq!(moved.status, 200, "{}", moved.body);
        assert!(moved.body.contains("Moved 5 credits"), "{}", moved.body);
    }
    let balance = |conn: &mut PgConnection, id| accounts::by_id(conn, id).unwrap().unwrap().balance;
    assert_eq!(balance(&mut conn, second.id), c("5"));
    assert_eq!(balance(&mut conn, first.id), c("8"));
    // Both histories say it, each naming the other account.
    let source_page = admin.get(&from).await.body;
    assert!(source_page.contains(&format!("Moved to account …{}", first.token_ending())));
    let target_page = admin.get(&format!("/iap/accounts/{}", first.id)).await.body;
    assert!(target_page.contains(&format!("Moved from account …{}", second.token_ending())));
    // Audited.
    let audited: i64 = iap_credits::platform::schema::audit_log::table
        .filter(iap_credits::platform::schema::audit_log::action.eq("account.move_credits"))
        .filter(
            iap_credits::platform::schema::audit_log::subject.eq(format!("account:{}", second.id)),
        )
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(audited, 1);

    // Refused: more than is available, nothing, another database's account — at the field,
    // the values kept, nothing moved.
    let other = Customer::new(&mut conn, Subscription::None);
    let foreign = other.account(&mut conn, "sms").id.to_string();
    let itself = second.id.to_string();
    for (credits, to, error) in [
        ("6", to.as_str(), "Only 5 credits can be moved"),
        ("0", to.as_str(), "greater than zero"),
        ("abc", to.as_str(), "greater than zero"),
        ("1", foreign.as_str(), "Choose another account"),
        ("1", itself.as_str(), "Choose another account"),
    ] {
        let key = iap_credits::kernel::forms::new_form_key();
        let refused = admin
            .submit(
                &from,
                &format!("{from}/move"),
                &[("form_key", &key), ("credits", credits), ("to", to)],
            )
            .await;
        assert_eq!(refused.status, 422, "{credits} → {to}");
        assert!(refused.body.contains(error), "{credits} → {to}: {error}");
        assert!(refused.body.contains(&format!("value=\"{credits}\"")));
    }
    assert_eq!(balance(&mut conn, second.id), c("5"));
    assert_eq!(balance(&mut conn, first.id), c("8"));

    // A user who is not an administrator cannot move credits.
    let customer_db = second.database_id;
    let name = tenancy::database_name(&mut conn, customer_db).unwrap();
    let user_email = format!("user{}@several.test", customer_db.0);
    tenancy::create_user(&mut conn, &name, &user_email, PASSWORD, Role::User).unwrap();
    let user = app.browser();
    user.sign_in(&user_email, PASSWORD).await;
    let key = iap_credits::kernel::forms::new_form_key();
    let denied = user
        .submit(
            &from,
            &format!("{from}/move"),
            &[("form_key", &key), ("credits", "1"), ("to", &to)],
        )
        .await;
    assert!(denied.status.is_client_error(), "{}", denied.status);
    assert_eq!(balance(&mut conn, second.id), c("5"));
    assert_consistent(&mut conn);
}

#[actix_web::test]
async fn accounts_get_labels_and_a_default_on_view_my_services() {
    let app = TestApp::new();
    let (admin, first, second) = two_sms_accounts(&app).await;
    let list = admin.get("/iap/accounts").await.body;
    assert!(list.contains(&format!("SMS (account …{})", first.token_ending())));
    assert!(list.contains(&format!("SMS (account …{})", second.token_ending())));
    assert_eq!(list.matches(">default</span>").count(), 1);

    let page = format!("/iap/accounts/{}", second.id);
    let saved = admin
        .submit(
            &page,
            &format!("{page}/label"),
            &[("label", "  Company B ")],
        )
        .await;
    assert_eq!(saved.status, 200);
    assert!(saved.body.contains("Label saved."));
    let too_long = "x".repeat(61);
    let refused = admin
        .submit(&page, &format!("{page}/label"), &[("label", &too_long)])
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("at most 60 characters"));
    assert!(refused.body.contains(&too_long));

    let made = admin.submit(&page, &format!("{page}/default"), &[]).await;
    assert_eq!(made.status, 303);
    let shown = admin.get(&page).await.body;
    assert!(shown.contains("Yes: this database"), "{shown}");
    let list = admin.get("/iap/accounts").await.body;
    let named = format!("SMS · Company B (account …{})", second.token_ending());
    let row = &list[list.find(&named).unwrap_or_else(|| panic!("{list}"))..];
    assert!(row[..row.find("</th>").unwrap()].contains(">default</span>"));
}

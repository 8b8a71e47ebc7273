//! The operator's pages: who may see them, the dashboard and orders with the demo purchase, a
//! refund from the order page, an account's adjustments and CSV ledger, failed emails sent again.

use actix_web::http::StatusCode;
use diesel::prelude::*;
use iap_credits::domain::audit::{self, AuditFilter};
use iap_credits::domain::catalog;
use iap_credits::domain::ledger::{self, Actor, accounts};
use iap_credits::domain::tenancy::Subscription;

use crate::fixtures::{Customer, c, spend};
use crate::harness::{Browser, TestApp};

const ROUTES: [&str; 13] = [
    "/admin",
    "/admin/orders",
    "/admin/orders/1",
    "/admin/audit",
    "/admin/databases",
    "/admin/databases/1",
    "/admin/accounts/1",
    "/admin/accounts/1/ledger.csv",
    "/admin/catalog",
    "/admin/catalog/services/new",
    "/admin/catalog/services/1",
    "/admin/catalog/packs/1",
    "/admin/sms-prices",
];
const POSTS: [&str; 8] = [
    "/admin/emails/1/retry",
    "/admin/orders/1/refund",
    "/admin/accounts/1/adjust",
    "/admin/catalog/services/new",
    "/admin/catalog/services/1",
    "/admin/catalog/services/1/packs",
    "/admin/catalog/packs/1",
    "/admin/sms-prices",
];

#[actix_web::test]
async fn only_the_operator_sees_the_admin_pages() {
    let app = TestApp::new().with_demo();
    for path in ROUTES {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            page.header("location").starts_with("/login?next="),
            "{path}"
        );
    }
    for email in ["user@demo.test", "admin@demo.test"] {
        let browser = app.browser();
        browser.sign_in(email, "demo-password").await;
        for path in ROUTES {
            assert_eq!(
                browser.get(path).await.status,
                StatusCode::NOT_FOUND,
                "{email} {path}"
            );
        }
        let home = browser.get("/").await;
        assert!(
            !home.body.contains("href=\"/admin\""),
            "no Admin link for {email}"
        );
        for path in POSTS {
            // With a valid CSRF token from a page they can see: still nothing.
            let page = browser
                .submit("/iap/accounts", path, &[("credits", "1"), ("reason", "x")])
                .await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{email} {path}");
        }
    }
    let browser = app.browser();
    browser.sign_in("platform@demo.test", "demo-password").await;
    assert!(browser.get("/").await.body.contains("href=\"/admin\""));
    for path in [
        "/admin",
        "/admin/orders",
        "/admin/audit",
        "/admin/databases",
    ] {
        assert_eq!(browser.get(path).await.status, StatusCode::OK, "{path}");
    }
    assert_eq!(
        browser.get("/admin/orders/999999").await.status,
        StatusCode::NOT_FOUND
    );
}

/// The demo admin buys the Standard pack through the pages; returns the order id.
async fn demo_purchase(app: &TestApp) -> (i64, iap_credits::kernel::ids::AccountId) {
    let admin = app.browser();
    admin.sign_in("admin@demo.test", "demo-password").await;
    let list = admin.get("/iap/accounts").await.body;
    let end = list.find("\">SMS</a></th>").unwrap();
    let start = list[..end].rfind("/iap/accounts/").unwrap() + "/iap/accounts/".len();
    let account: iap_credits::kernel::ids::AccountId = list[start..end].parse().unwrap();
    let mut conn = app.db.conn();
    let service_id = accounts::by_id(&mut conn, account)
        .unwrap()
        .unwrap()
        .service_id;
    let pack = catalog::active_packs(&mut conn, service_id)
        .unwrap()
        .into_iter()
        .find(|p| p.name == "Standard Pack")
        .unwrap();
    let buy_page = format!("/iap/accounts/{account}/buy");
    let created = admin
        .submit(&buy_page, &buy_page, &[("pack_id", &pack.id.to_string())])
        .await;
    let checkout = created.location().to_string();
    let paid = admin
        .submit(
            &checkout,
            &checkout,
            &[
                ("holder", "Ada Lovelace"),
                ("number", "4242 4242 4242 4242"),
                ("expiry", "12/39"),
                ("cvc", "123"),
            ],
        )
        .await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER);
    let order: i64 = checkout.rsplit('/').next().unwrap().parse().unwrap();
    (order, account)
}

async fn operator_browser(app: &TestApp) -> Browser<'_> {
    let browser = app.browser();
    browser.sign_in("platform@demo.test", "demo-password").await;
    browser
}

#[actix_web::test]
async fn the_dashboard_and_orders_list_show_the_demo_purchase() {
    let app = TestApp::new().with_demo();
    let (order, _) = demo_purchase(&app).await;
    let ops = operator_browser(&app).await;
    let dashboard = ops.get("/admin?period=7").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    let body = &dashboard.body;
    assert!(body.contains("<td class=\"num\">95.00 EUR</td>"), "revenue");
    assert!(body.contains("<svg role=\"img\" aria-label=\"Revenue per day\""));
    assert!(body.contains(&format!(
        "The {} that went below it last",
        iap_credits::read_models::operator_dashboard::BELOW_THRESHOLD_SHOWN
    )));
    assert!(body.contains("<svg role=\"img\" aria-label=\"Credits sold per day, per service\""));
    assert!(
        body.contains(
            "<th scope=\"row\">SMS</th><td class=\"num\">1</td><td class=\"num\">100</td>"
        )
    );

    let bad = ops.get("/admin?period=custom&from=2026-13-01&to=").await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(
        bad.body
            .contains("“2026-13-01” is not a date like 2026-11-27.")
    );
    assert!(bad.body.contains("value=\"2026-13-01\""));

    let far = ops
        .get("/admin?period=custom&from=2026-01-01&to=262143-12-31")
        .await;
    assert!(
        far.body
            .contains("“262143-12-31” is not a date like 2026-11-27.")
    );

    let list = ops.get("/admin/orders?status=paid&database=demo").await;
    assert!(
        list.body
            .contains(&format!("href=\"/admin/orders/{order}\""))
    );
    let none = ops.get("/admin/orders?status=refunded").await;
    assert!(none.body.contains("No order matches."));
    let wrong = ops.get("/admin/orders?status=lost").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("“lost” is not an order status."));
}

#[actix_web::test]
async fn a_refund_from_the_order_page_shows_in_the_customer_history_and_the_audit_log() {
    let app = TestApp::new().with_demo();
    let (order, account) = demo_purchase(&app).await;
    let ops = operator_browser(&app).await;
    let page_path = format!("/admin/orders/{order}");
    let action = format!("{page_path}/refund");
    let page = ops.get(&page_path).await;
    assert!(
        page.body.contains("100 credits of this order are unused"),
        "10 trial credits go first"
    );
    assert!(page.body.contains("value=\"100\""), "the most is offered");

    let missing = ops
        .submit(&page_path, &action, &[("credits", "25"), ("reason", "")])
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing
            .body
            .contains("id=\"reason-error\">Say why the order is refunded.")
    );
    assert!(
        missing.body.contains("value=\"25\""),
        "the typed credits are kept"
    );
    let too_much = ops
        .submit(&page_path, &action, &[("credits", "150"), ("reason", "x")])
        .await;
    assert!(
        too_much
            .body
            .contains("Only 100 credits of this order are unused"),
        "{}",
        too_much.body
    );
    let junk = ops
        .submit(&page_path, &action, &[("credits", "ten"), ("reason", "x")])
        .await;
    assert!(junk.body.contains("id=\"credits-error\">Credits:"));
    assert_eq!(
        ops.post(&action, &[("credits", "25"), ("reason", "no token")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let done = ops
        .submit(
            &page_path,
            &action,
            &[("credits", "25"), ("reason", "Customer asked")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let page = ops.get(done.location()).await;
    assert!(page.body.contains("Refunded."));
    assert!(
        page.body
            .contains("<dd id=\"order-status\">partly_refunded</dd>")
    );
    assert!(page.body.contains("23.75 EUR"), "25% of 95.00");

    // The customer's Account Information history shows the refund row.
    let admin = app.browser();
    admin.sign_in("admin@demo.test", "demo-password").await;
    let info = admin.get(&format!("/iap/accounts/{account}")).await;
    assert!(info.body.contains("refund"), "{}", info.body);
    assert!(info.body.contains("Customer asked"));
    let balance = accounts::by_id(&mut app.db.conn(), account)
        .unwrap()
        .unwrap()
        .balance;
    assert_eq!(balance, c("85"), "10 trial + 100 - 25");

    let audit_page = ops
        .get(&format!("/admin/audit?subject=order:{order}"))
        .await;
    assert!(audit_page.body.contains("platform@demo.test"));
    assert!(audit_page.body.contains("order.refund"));
    assert!(audit_page.body.contains("Customer asked"));
    let other = ops.get("/admin/audit?action=account.").await;
    assert!(other.body.contains("No operator action matches."));
}

#[actix_web::test]
async fn the_account_page_adjusts_and_exports_the_whole_ledger_as_csv() {
    let app = TestApp::new().with_demo();
    let mut conn = app.db.conn();
    let who = Customer::named(&mut conn, "Eta", Subscription::None);
    let sms = who.account(&mut conn, "sms");
    ledger::grant(
        &mut conn,
        sms.id,
        c("2000"),
        ledger::GrantKind::Adjustment,
        "load",
        &Actor::cli(),
    )
    .unwrap();
    for _ in 0..1_204 {
        spend(&mut conn, &sms, "0.5");
    }
    let ops = app.browser();
    ops.sign_in("platform@demo.test", "demo-password").await;
    let found = ops.get("/admin/databases?q=et").await;
    assert!(found.body.contains(&format!(
        "href=\"/admin/databases/{}\">Eta</a>",
        who.database_id
    )));
    // By the dbuuid Odoo shows, as pasted from a support request (any case).
    {
        use iap_credits::platform::schema::databases;
        diesel::update(databases::table.find(who.database_id))
            .set(databases::dbuuid.eq("8e2b6c4a-1d2f-11ef-9a3b-0242ac1200e7"))
            .execute(&mut app.db.owner_conn())
            .unwrap();
    }
    let by_dbuuid = ops
        .get("/admin/databases?q=+8E2B6C4A-1D2F-11EF-9A3B-0242AC1200E7+")
        .await;
    assert!(by_dbuuid.body.contains(&format!(
        "href=\"/admin/databases/{}\">Eta</a>",
        who.database_id
    )));
    let other = ops
        .get("/admin/databases?q=8e2b6c4a-1d2f-11ef-9a3b-0242ac1200e8")
        .await;
    assert!(
        !other.body.contains(">Eta</a>"),
        "another dbuuid finds nothing"
    );
    let database = ops
        .get(&format!("/admin/databases/{}", who.database_id))
        .await;
    assert!(
        database
            .body
            .contains(&format!("href=\"/admin/accounts/{}\">SMS</a>", sms.id))
    );

    let page = format!("/admin/accounts/{}", sms.id);
    let action = format!("{page}/adjust");
    let refused = ops
        .submit(
            &page,
            &action,
            &[
                ("direction", "debit"),
                ("credits", "1000000"),
                ("reason", "oops"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains(
        "Only 1,398 credits are available; an adjustment never takes an account below zero."
    ));
    assert!(refused.body.contains("value=\"1000000\""));
    assert!(refused.body.contains("value=\"debit\" checked"));
    let no_reason = ops
        .submit(
            &page,
            &action,
            &[("direction", "credit"), ("credits", "5"), ("reason", "")],
        )
        .await;
    assert!(
        no_reason
            .body
            .contains("id=\"reason-error\">Say why the credits are adjusted.")
    );
    let done = ops
        .submit(
            &page,
            &action,
            &[
                ("direction", "credit"),
                ("credits", "2"),
                ("reason", "=HYPERLINK(\"http://evil.example\") goodwill"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let shown = ops.get(done.location()).await;
    assert!(shown.body.contains("<dd id=\"balance\">1,400</dd>"));

    let csv = ops.get(&format!("{page}/ledger.csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(
        rows.len(),
        1 + 1_204 + 1,
        "grant, charges, adjustment: all rows, across batches"
    );
    assert_eq!(&rows[0][2], "adjustment");
    assert_eq!(&rows[0][3], "2000.0000");
    // A reason a spreadsheet would run as a formula is written as text; numbers stay numbers.
    assert_eq!(
        &rows[1_205][10],
        "'=HYPERLINK(\"http://evil.example\") goodwill"
    );
    assert_eq!(&rows[1][3], "-0.5000");
    assert_eq!(&rows[1_205][5], "1400.0000");
    let ids: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "oldest first, no repeats"
    );
    assert_eq!(
        ops.get("/admin/accounts/999999/ledger.csv").await.status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn a_failed_email_on_the_dashboard_is_sent_again() {
    let app = TestApp::new().with_demo();
    let mut conn = app.db.conn();
    let who = Customer::named(&mut conn, "Iota", Subscription::None);
    let sms = who.account(&mut conn, "sms");
    let id: i64 = diesel::insert_into(iap_credits::platform::schema::email_outbox::table)
        .values((
            iap_credits::platform::schema::email_outbox::kind.eq("low_credit"),
            iap_credits::platform::schema::email_outbox::database_id.eq(who.database_id),
            iap_credits::platform::schema::email_outbox::account_id.eq(sms.id),
            iap_credits::platform::schema::email_outbox::status.eq("failed"),
            iap_credits::platform::schema::email_outbox::attempts.eq(12),
            iap_credits::platform::schema::email_outbox::last_error.eq("Connection refused"),
            iap_credits::platform::schema::email_outbox::closed_at.eq(diesel::dsl::now),
        ))
        .returning(iap_credits::platform::schema::email_outbox::id)
        .get_result(&mut conn)
        .unwrap();
    let ops = app.browser();
    ops.sign_in("platform@demo.test", "demo-password").await;
    let dashboard = ops.get("/admin").await;
    assert!(dashboard.body.contains("Connection refused"));
    let action = format!("/admin/emails/{id}/retry");
    assert!(dashboard.body.contains(&format!("action=\"{action}\"")));
    let sent = ops.submit("/admin", &action, &[]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let status: String = iap_credits::platform::schema::email_outbox::table
        .find(id)
        .select(iap_credits::platform::schema::email_outbox::status)
        .first(&mut conn)
        .unwrap();
    assert_eq!(status, "pending");
    assert_eq!(
        ops.submit("/admin", &action, &[]).await.status,
        StatusCode::NOT_FOUND,
        "no longer failed"
    );
    let entries = audit::list(
        &mut conn,
        &AuditFilter {
            subject: format!("email:{id}"),
            ..AuditFilter::default()
        },
        5,
    )
    .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "email.retry");
}

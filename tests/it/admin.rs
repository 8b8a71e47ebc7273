//! The operator's tools: access control, dashboard figures against hand-computed ones, refunds
//! (limits, money, audit), and the pages.

use std::sync::{Arc, Barrier};

use actix_web::http::StatusCode;
use chrono::Utc;
use diesel::prelude::*;
use iap_credits::audit::{self, AuditFilter, Operator};
use iap_credits::catalog;
use iap_credits::credits::Credits;
use iap_credits::ledger::{self, Actor, IapAccount, accounts};
use iap_credits::orders::refunds::{self, RefundError};
use iap_credits::orders::{self, Order, OrderStatus, PaymentResult};
use iap_credits::payments::{Card, MockProvider};
use iap_credits::period::Period;
use iap_credits::read_models::operator_dashboard as stats;
use iap_credits::tenancy::{self, Role, Subscription};

use crate::harness::{TestApp, TestDb};

fn c(text: &str) -> Credits {
    Credits::parse(text).unwrap()
}

struct Customer {
    database_id: i64,
    buyer: i64,
}

fn customer(conn: &mut PgConnection, name: &str, subscription: Subscription) -> Customer {
    let db = tenancy::create_database(conn, name, subscription).unwrap();
    let email = format!("buyer@{}.test", name.to_lowercase());
    let buyer = tenancy::create_user(conn, name, &email, "long enough", Role::Admin).unwrap();
    Customer {
        database_id: db.id,
        buyer: buyer.id,
    }
}

fn account(conn: &mut PgConnection, who: &Customer, service: &str) -> IapAccount {
    let service = catalog::service_by_slug(conn, service).unwrap().unwrap();
    accounts::get_or_create(conn, who.database_id, service.id).unwrap()
}

/// Buys and pays the pack named `pack` ("Standard Pack") for the account.
fn buy(conn: &mut PgConnection, who: &Customer, account: &IapAccount, pack: &str) -> Order {
    let pack = catalog::active_packs(conn, account.service_id)
        .unwrap()
        .into_iter()
        .find(|p| p.name == pack)
        .unwrap();
    let order =
        orders::create_order(conn, who.database_id, account.id, pack.id, who.buyer).unwrap();
    let card = Card::parse("Ada", "4242424242424242", "12/39", "123").unwrap();
    match orders::pay(conn, who.database_id, order.id, &card, &MockProvider).unwrap() {
        PaymentResult::Paid { order, .. } => order,
        other => panic!("not paid: {other:?}"),
    }
}

fn spend(conn: &mut PgConnection, account: &IapAccount, credits: &str) {
    ledger::charge(conn, account.id, c(credits), "use", &Actor::cli()).unwrap();
}

fn operator(conn: &mut PgConnection) -> Operator {
    let db = tenancy::create_database(conn, "Platform", Subscription::None).unwrap();
    let user = tenancy::create_user(
        conn,
        "Platform",
        "ops@platform.test",
        "long enough",
        Role::Platform,
    )
    .unwrap();
    let _ = db;
    Operator {
        user_id: user.id,
        email: user.email,
    }
}

fn refundable(conn: &mut PgConnection, order: &Order) -> Credits {
    let order = orders::find(conn, order.database_id, order.id)
        .unwrap()
        .unwrap();
    refunds::refund_state(conn, &order).unwrap().refundable
}

#[test]
fn the_dashboard_figures_match_the_hand_computed_ones() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let alpha = customer(&mut conn, "Alpha", Subscription::None);
    let beta = customer(&mut conn, "Beta", Subscription::None);
    let alpha_sms = account(&mut conn, &alpha, "sms");
    let beta_mail = account(&mut conn, &beta, "snailmail");
    buy(&mut conn, &alpha, &alpha_sms, "Standard Pack"); // 100 credits, 95.00 EUR
    let starter = buy(&mut conn, &alpha, &alpha_sms, "Starter Pack"); // 10 credits, 10.00 EUR
    buy(&mut conn, &beta, &beta_mail, "Starter Pack"); // 10 credits, 15.00 EUR
    spend(&mut conn, &alpha_sms, "12.5");
    let hold =
        ledger::authorize(&mut conn, alpha_sms.id, c("2"), None, "sms", &Actor::cli()).unwrap();
    ledger::capture(
        &mut conn,
        alpha_sms.id,
        hold.id,
        Some(c("1.5")),
        &Actor::cli(),
    )
    .unwrap();
    spend(&mut conn, &beta_mail, "3");
    let ops = operator(&mut conn);
    refunds::refund_order(&mut conn, &ops, &MockProvider, starter.id, c("4"), "asked").unwrap();
    // An order nobody paid, and an account below its threshold.
    let pack = catalog::active_packs(&mut conn, beta_mail.service_id)
        .unwrap()
        .remove(0);
    let waiting = orders::create_order(
        &mut conn,
        beta.database_id,
        beta_mail.id,
        pack.id,
        beta.buyer,
    )
    .unwrap();
    diesel::update(iap_credits::schema::iap_accounts::table.find(beta_mail.id))
        .set(iap_credits::schema::iap_accounts::threshold.eq(c("10")))
        .execute(&mut conn)
        .unwrap();

    let today = Utc::now().date_naive();
    let d = stats::dashboard(&mut conn, Period::last_days(7, today)).unwrap();
    assert_eq!(d.currencies.len(), 1);
    let eur = &d.currencies[0];
    assert_eq!(
        (
            eur.currency.as_str(),
            eur.orders,
            eur.gross_minor,
            eur.refunded_minor
        ),
        ("EUR", 3, 9_500 + 1_000 + 1_500, 400)
    );
    assert_eq!(eur.net().to_string(), "116.00 EUR");

    let sms = d.services.iter().find(|s| s.service == "SMS").unwrap();
    assert_eq!(
        (
            sms.orders,
            sms.credits_sold,
            sms.credits_refunded,
            sms.credits_consumed
        ),
        (2, c("110"), c("4"), c("14"))
    );
    assert_eq!(sms.revenue_text(), "105.00 EUR");
    let mail = d
        .services
        .iter()
        .find(|s| s.service == "Snailmail")
        .unwrap();
    assert_eq!(
        (mail.credits_sold, mail.credits_consumed),
        (c("10"), c("3"))
    );
    assert_eq!(d.days.len(), 2, "two services active today");
    assert!(d.days.iter().all(|day| day.day == today));
    assert_eq!(d.daily_consumed["SMS"].last(), Some(&c("14")));
    assert_eq!(d.daily_consumed["SMS"].len(), 7);
    assert_eq!(d.daily_revenue_minor["EUR"].last(), Some(&12_000));

    let top: Vec<_> = d
        .top_consumers
        .iter()
        .map(|t| (t.database.as_str(), t.service.as_str(), t.consumed))
        .collect();
    assert_eq!(
        top,
        [("Alpha", "SMS", c("14")), ("Beta", "Snailmail", c("3"))]
    );
    assert_eq!(d.below_threshold.len(), 1);
    assert_eq!(d.below_threshold[0].available, c("7"));
    assert_eq!(d.pending_orders.len(), 1);
    assert_eq!(d.pending_orders[0].order_id, waiting.id);

    // A period before all of it is empty.
    let earlier = Period::new(
        today - chrono::Duration::days(40),
        today - chrono::Duration::days(10),
    )
    .unwrap();
    let empty = stats::dashboard(&mut conn, earlier).unwrap();
    assert!(empty.currencies.is_empty() && empty.services.is_empty());
}

#[test]
fn a_fully_used_pack_has_nothing_to_refund_a_partly_used_one_its_unused_part() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let ops = operator(&mut conn);
    let who = customer(&mut conn, "Gamma", Subscription::None);
    let sms = account(&mut conn, &who, "sms");
    let starter = buy(&mut conn, &who, &sms, "Starter Pack");
    spend(&mut conn, &sms, "10");
    assert_eq!(refundable(&mut conn, &starter), Credits::ZERO);
    let refused =
        refunds::refund_order(&mut conn, &ops, &MockProvider, starter.id, c("1"), "sorry");
    assert!(matches!(refused, Err(RefundError::TooMuch(z)) if z == Credits::ZERO));

    let standard = buy(&mut conn, &who, &sms, "Standard Pack");
    spend(&mut conn, &sms, "30");
    assert_eq!(refundable(&mut conn, &standard), c("70"));
    let too_much = refunds::refund_order(
        &mut conn,
        &ops,
        &MockProvider,
        standard.id,
        c("70.0001"),
        "x",
    );
    assert!(matches!(too_much, Err(RefundError::TooMuch(r)) if r == c("70")));
    let blank = refunds::refund_order(&mut conn, &ops, &MockProvider, standard.id, c("1"), " ");
    assert!(matches!(blank, Err(RefundError::MissingReason)));

    let refund = refunds::refund_order(
        &mut conn,
        &ops,
        &MockProvider,
        standard.id,
        c("70"),
        "unused",
    )
    .unwrap();
    assert_eq!(refund.amount().to_string(), "66.50 EUR", "70% of 95.00");
    let order = orders::find(&mut conn, who.database_id, standard.id)
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::PartlyRefunded);
    assert_eq!(refundable(&mut conn, &standard), Credits::ZERO);
    let account = accounts::by_id(&mut conn, sms.id).unwrap().unwrap();
    assert_eq!(account.balance, Credits::ZERO);
    let report = ledger::verify::verify_ledger(&mut conn).unwrap();
    assert!(report.is_consistent());

    // The audit log says who, what and why.
    let entries = audit::list(
        &mut conn,
        &AuditFilter {
            subject: format!("order:{}", standard.id),
            ..AuditFilter::default()
        },
        10,
    )
    .unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(
        (
            entry.operator_email.as_str(),
            entry.action.as_str(),
            entry.reason.as_deref()
        ),
        ("ops@platform.test", "order.refund", Some("unused"))
    );
    assert_eq!(entry.before.as_ref().unwrap()["status"], "paid");
    assert_eq!(entry.after.as_ref().unwrap()["status"], "partly_refunded");
    assert_eq!(entry.after.as_ref().unwrap()["refund_amount"], "66.50 EUR");
    // Append-only.
    assert!(
        diesel::sql_query("DELETE FROM audit_log")
            .execute(&mut conn)
            .is_err()
    );
}

#[test]
fn credits_are_spent_oldest_first_so_trial_and_older_packs_go_first() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let ops = operator(&mut conn);
    let who = customer(&mut conn, "Delta", Subscription::Enterprise); // 10 trial SMS credits
    let sms = account(&mut conn, &who, "sms");
    assert_eq!(sms.balance, c("10"));
    let first = buy(&mut conn, &who, &sms, "Standard Pack"); // 100
    let second = buy(&mut conn, &who, &sms, "Starter Pack"); // 10
    spend(&mut conn, &sms, "50"); // the 10 trial credits, then 40 of the first pack
    assert_eq!(refundable(&mut conn, &first), c("60"));
    assert_eq!(refundable(&mut conn, &second), c("10"));
    // Refunding the second pack leaves the first one's figure alone.
    refunds::refund_order(&mut conn, &ops, &MockProvider, second.id, c("10"), "dup").unwrap();
    assert_eq!(refundable(&mut conn, &first), c("60"));
    let order = orders::find(&mut conn, who.database_id, second.id)
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::Refunded);
    // A full refund in steps returns exactly the price.
    let a = refunds::refund_order(&mut conn, &ops, &MockProvider, first.id, c("30"), "a").unwrap();
    let b = refunds::refund_order(&mut conn, &ops, &MockProvider, first.id, c("30"), "b").unwrap();
    assert_eq!(a.amount_minor + b.amount_minor, 9_500 * 60 / 100);
}

#[test]
fn concurrent_refunds_of_one_order_take_its_credits_back_once() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let ops = operator(&mut conn);
    let who = customer(&mut conn, "Epsilon", Subscription::None);
    let sms = account(&mut conn, &who, "sms");
    let order = buy(&mut conn, &who, &sms, "Standard Pack");
    let barrier = Arc::new(Barrier::new(6));
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let (barrier, db, ops) = (barrier.clone(), &db, ops.clone());
                s.spawn(move || {
                    let mut conn = db.conn();
                    barrier.wait();
                    refunds::refund_order(&mut conn, &ops, &MockProvider, order.id, c("100"), "x")
                        .is_ok()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|ok| **ok).count(), 1);
    let account = accounts::by_id(&mut conn, sms.id).unwrap().unwrap();
    assert_eq!(account.balance, Credits::ZERO);
}

mod pages {
    use super::*;
    use crate::harness::Browser;

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
            browser.sign_in(email, "demo").await;
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
        browser.sign_in("platform@demo.test", "demo").await;
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
    async fn demo_purchase(app: &TestApp) -> (i64, i64) {
        let admin = app.browser();
        admin.sign_in("admin@demo.test", "demo").await;
        let list = admin.get("/iap/accounts").await.body;
        let end = list.find("\">SMS</a></th>").unwrap();
        let start = list[..end].rfind("/iap/accounts/").unwrap() + "/iap/accounts/".len();
        let account: i64 = list[start..end].parse().unwrap();
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
        browser.sign_in("platform@demo.test", "demo").await;
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
        assert!(
            body.contains("<svg role=\"img\" aria-label=\"Credits sold per day, per service\"")
        );
        assert!(body.contains(
            "<th scope=\"row\">SMS</th><td class=\"num\">1</td><td class=\"num\">100</td>"
        ));

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
        admin.sign_in("admin@demo.test", "demo").await;
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
}

#[test]
fn adjustments_never_go_below_zero_and_are_audited() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let ops = operator(&mut conn);
    let who = customer(&mut conn, "Zeta", Subscription::None);
    let sms = account(&mut conn, &who, "sms");
    use iap_credits::ledger::adjustments;
    adjustments::adjust_by_operator(&mut conn, &ops, sms.id, c("5").units(), "goodwill").unwrap();
    let hold = ledger::authorize(&mut conn, sms.id, c("2"), None, "sms", &Actor::cli()).unwrap();
    let too_much =
        adjustments::adjust_by_operator(&mut conn, &ops, sms.id, -c("3.5").units(), "fix");
    assert!(
        matches!(too_much, Err(ledger::LedgerError::InsufficientCredits { available, .. }) if available == c("3")),
        "held credits cannot be removed"
    );
    let no_reason = adjustments::adjust_by_operator(&mut conn, &ops, sms.id, -c("1").units(), "  ");
    assert!(matches!(no_reason, Err(ledger::LedgerError::MissingReason)));
    adjustments::adjust_by_operator(&mut conn, &ops, sms.id, -c("3").units(), "duplicate grant")
        .unwrap();
    ledger::cancel(&mut conn, sms.id, hold.id, &Actor::cli()).unwrap();
    let account = accounts::by_id(&mut conn, sms.id).unwrap().unwrap();
    assert_eq!(account.balance, c("2"));
    let entries = audit::list(
        &mut conn,
        &AuditFilter {
            action: "account.".into(),
            ..AuditFilter::default()
        },
        10,
    )
    .unwrap();
    assert_eq!(entries.len(), 2, "refused adjustments leave no audit entry");
    assert_eq!(entries[0].reason.as_deref(), Some("duplicate grant"));
    assert_eq!(entries[0].before.as_ref().unwrap()["available"], "3.0000");
    assert_eq!(entries[0].after.as_ref().unwrap()["balance"], "2.0000");
    assert_eq!(entries[0].subject, format!("account:{}", sms.id));
}

#[actix_web::test]
async fn the_account_page_adjusts_and_exports_the_whole_ledger_as_csv() {
    let app = TestApp::new().with_demo();
    let mut conn = app.db.conn();
    let who = customer(&mut conn, "Eta", Subscription::None);
    let sms = account(&mut conn, &who, "sms");
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
    ops.sign_in("platform@demo.test", "demo").await;
    let found = ops.get("/admin/databases?q=et").await;
    assert!(found.body.contains(&format!(
        "href=\"/admin/databases/{}\">Eta</a>",
        who.database_id
    )));
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
                ("reason", "Goodwill for the outage"),
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
    assert_eq!(&rows[1_205][10], "Goodwill for the outage");
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

mod catalog_pages {
    use super::*;
    use iap_credits::audit;
    use iap_credits::sms::pricing;

    #[actix_web::test]
    async fn services_and_packs_are_created_edited_and_hidden_never_deleted() {
        let app = TestApp::new().with_demo();
        let ops = app.browser();
        ops.sign_in("platform@demo.test", "demo").await;
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
        let service_id: i64 = service_page.rsplit('/').next().unwrap().parse().unwrap();
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
        let who = customer(&mut conn, "Theta", Subscription::None);
        let sms = account(&mut conn, &who, "sms");
        let old = buy(&mut conn, &who, &sms, "Standard Pack");
        let ops = app.browser();
        ops.sign_in("platform@demo.test", "demo").await;
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
        admin.sign_in("admin@demo.test", "demo").await;
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
        ops.sign_in("platform@demo.test", "demo").await;
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
}

#[actix_web::test]
async fn a_failed_email_on_the_dashboard_is_sent_again() {
    let app = TestApp::new().with_demo();
    let mut conn = app.db.conn();
    let who = customer(&mut conn, "Iota", Subscription::None);
    let sms = account(&mut conn, &who, "sms");
    let id: i64 = diesel::insert_into(iap_credits::schema::email_outbox::table)
        .values((
            iap_credits::schema::email_outbox::kind.eq("low_credit"),
            iap_credits::schema::email_outbox::database_id.eq(who.database_id),
            iap_credits::schema::email_outbox::account_id.eq(sms.id),
            iap_credits::schema::email_outbox::status.eq("failed"),
            iap_credits::schema::email_outbox::attempts.eq(12),
            iap_credits::schema::email_outbox::last_error.eq("Connection refused"),
            iap_credits::schema::email_outbox::closed_at.eq(diesel::dsl::now),
        ))
        .returning(iap_credits::schema::email_outbox::id)
        .get_result(&mut conn)
        .unwrap();
    let ops = app.browser();
    ops.sign_in("platform@demo.test", "demo").await;
    let dashboard = ops.get("/admin").await;
    assert!(dashboard.body.contains("Connection refused"));
    let action = format!("/admin/emails/{id}/retry");
    assert!(dashboard.body.contains(&format!("action=\"{action}\"")));
    let sent = ops.submit("/admin", &action, &[]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let status: String = iap_credits::schema::email_outbox::table
        .find(id)
        .select(iap_credits::schema::email_outbox::status)
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

//! Invoices: one per paid order, numbered without gaps per year under concurrent payments
//! (declines take no number); the VAT line when the operator sets a rate; the buyer's billing
//! details; the printable page and the PDF, for the order's own database only.

use std::sync::{Arc, Barrier};

use actix_web::http::StatusCode;
use chrono::{Datelike, Utc};
use diesel::prelude::*;
use iap_credits::domain::catalog;
use iap_credits::domain::invoices::{self, BillingDetails, SellerSettings};
use iap_credits::domain::orders::{self, PaymentResult};
use iap_credits::domain::payments::{Card, MockProvider};
use iap_credits::domain::tenancy::Subscription;

use crate::fixtures::{Customer, PASSWORD, operator};
use crate::harness::{TestApp, TestDb};

/// A pending Standard Pack order of a new customer.
use crate::payments::standard_pack_order as pending_order;

#[test]
fn invoice_numbers_have_no_gap_under_concurrent_payments_and_declines_take_none() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let year = Utc::now().year() as i16;
    let orders: Vec<_> = (0..24).map(|_| pending_order(conn)).collect();
    let barrier = Arc::new(Barrier::new(orders.len()));
    let provider = MockProvider::default();
    let paid: usize = std::thread::scope(|s| {
        let handles: Vec<_> = orders
            .iter()
            .enumerate()
            .map(|(i, (customer, order))| {
                let barrier = barrier.clone();
                let provider = provider.clone();
                let mut conn = db.conn();
                s.spawn(move || {
                    // Every third card is declined: it must not take a number.
                    let number = if i % 3 == 0 {
                        "4000000000000002"
                    } else {
                        "4242424242424242"
                    };
                    let card = Card::parse("Ada", number, "12/39", "123").unwrap();
                    barrier.wait();
                    let result =
                        orders::pay(&mut conn, customer.database_id, order.id, &card, &provider)
                            .unwrap();
                    usize::from(matches!(result, PaymentResult::Paid { .. }))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(paid, 16);
    let numbers = invoices::numbers_of_year(conn, year).unwrap();
    assert_eq!(numbers, (1..=16).collect::<Vec<i32>>());
    // Each paid order has exactly its one invoice, and the declined ones none.
    for (i, (customer, order)) in orders.iter().enumerate() {
        let invoice = invoices::of_order(conn, customer.database_id, order.id).unwrap();
        assert_eq!(invoice.is_some(), i % 3 != 0, "order {i}");
    }
}

#[test]
fn the_vat_line_shows_the_vat_the_price_includes_when_the_operator_sets_a_rate() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let ops = operator(conn);
    let (customer, order) = pending_order(conn);
    let card = Card::parse("Ada", "4242424242424242", "12/39", "123").unwrap();
    orders::pay(
        conn,
        customer.database_id,
        order.id,
        &card,
        &MockProvider::default(),
    )
    .unwrap();
    let without = invoices::of_order(conn, customer.database_id, order.id)
        .unwrap()
        .unwrap();
    assert_eq!(without.vat_label(), None);
    assert_eq!(without.total().to_string(), "95.00 EUR");
    assert_eq!(without.buyer_name, customer.name);
    assert_eq!(without.seller_name, "IAP Credits");

    let settings = SellerSettings::parse(
        "Odoo IAP Ltd",
        "1 Rue de l'Exemple\n1000 Brussels",
        "BE0123456789",
        "21",
    )
    .unwrap();
    invoices::update_seller_settings(conn, &ops, &settings).unwrap();
    invoices::save_billing_details(
        conn,
        customer.database_id,
        &BillingDetails::parse("Acme SA", "Avenue 2\n1050 Ixelles", "BE0999999999").unwrap(),
    )
    .unwrap();
    let (customer2, order2) = {
        let account = customer.account(conn, "sms");
        let pack = catalog::active_packs(conn, account.service_id).unwrap()[1].clone();
        let order = orders::create_order(
            conn,
            customer.database_id,
            account.id,
            pack.id,
            customer.admin_id,
        )
        .unwrap();
        (customer.database_id, order)
    };
    orders::pay(conn, customer2, order2.id, &card, &MockProvider::default()).unwrap();
    let with = invoices::of_order(conn, customer2, order2.id)
        .unwrap()
        .unwrap();
    assert_eq!(with.vat_label().as_deref(), Some("VAT 21%"));
    // 95.00 includes 95.00 × 21/121 = 16.487… → 16.49 of VAT; 78.51 net.
    assert_eq!(with.vat().to_string(), "16.49 EUR");
    assert_eq!(with.net().to_string(), "78.51 EUR");
    assert_eq!(with.buyer_name, "Acme SA");
    assert_eq!(with.buyer_lines(), ["Avenue 2", "1050 Ixelles"]);
    assert_eq!(with.seller_vat, "BE0123456789");
    assert_eq!(with.number, without.number + 1);
    // The first invoice keeps what it said.
    let again = invoices::of_order(conn, customer.database_id, order.id)
        .unwrap()
        .unwrap();
    assert_eq!(again.seller_name, "IAP Credits");
    assert_eq!(again.vat_label(), None);
    // Bad rates are refused with a message.
    for rate in ["-1", "101", "21.555", "abc"] {
        assert!(
            SellerSettings::parse("X", "", "", rate)
                .unwrap_err()
                .rate
                .is_some(),
            "{rate}"
        );
    }
}

#[actix_web::test]
async fn the_invoice_page_and_pdf_are_the_orders_databases_only() {
    let app = TestApp::new();
    let (customer, order) = pending_order(&mut app.db.conn());
    let email = format!(
        "admin@{}.test",
        customer.name.to_lowercase().replace(' ', "-")
    );
    let browser = app.browser();
    browser.sign_in(&email, PASSWORD).await;
    let invoice_url = format!("/orders/{}/invoice", order.id);
    // Not paid: no invoice yet.
    assert_eq!(
        browser.get(&invoice_url).await.status,
        StatusCode::NOT_FOUND
    );
    let checkout = format!("/checkout/{}", order.id);
    let paid = browser
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
    let receipt = browser.get(paid.location()).await;
    let reference = format!("INV/{}/00001", Utc::now().year());
    assert!(receipt.body.contains(&reference), "{}", receipt.body);
    assert!(browser.get("/orders").await.body.contains(&reference));

    let page = browser.get(&invoice_url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&format!("Invoice {reference}")));
    assert!(page.body.contains("SMS — Standard Pack (100 credits)"));
    assert!(page.body.contains("by card ending 4242"));
    assert!(!page.body.contains("VAT "), "no rate, no VAT line");

    let pdf = browser.get(&format!("{invoice_url}.pdf")).await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(pdf.header("content-type"), "application/pdf");
    // "Download PDF" downloads it, under the invoice's own name.
    assert!(
        pdf.header("content-disposition")
            .starts_with("attachment; filename=\"invoice-"),
        "{}",
        pdf.header("content-disposition")
    );
    assert!(pdf.bytes.starts_with(b"%PDF-"));
    let text = pdf_extract::extract_text_from_mem(&pdf.bytes).unwrap();
    for expected in [
        format!("Invoice {reference}"),
        "Bill to".into(),
        customer.name.clone(),
        "95.00 EUR".into(),
        "Total".into(),
        "Paid on".into(),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in {text}");
    }

    // Another database's admin: no such invoice.
    let other = Customer::new(&mut app.db.conn(), Subscription::None);
    let stranger = app.browser();
    stranger
        .sign_in(
            &format!("admin@{}.test", other.name.to_lowercase().replace(' ', "-")),
            PASSWORD,
        )
        .await;
    assert_eq!(
        stranger.get(&invoice_url).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stranger.get(&format!("{invoice_url}.pdf")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn billing_details_and_the_operators_seller_form_check_and_save() {
    let app = TestApp::new().with_demo();
    let admin = app.browser();
    admin.sign_in("admin@demo.test", "demo-password").await;
    let page = "/settings/billing";
    let long = "x".repeat(41);
    let refused = admin
        .submit(
            page,
            page,
            &[
                ("company_name", "Demo SA"),
                ("address", "Rue 1"),
                ("vat_number", &long),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("id=\"vat_number-error\""));
    assert!(refused.body.contains("value=\"Demo SA\""));
    let saved = admin
        .submit(
            page,
            page,
            &[
                ("company_name", "Demo SA"),
                ("address", "Rue 1\r\n1000 Brussels"),
                ("vat_number", "BE0111"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK);
    assert!(saved.body.contains("Saved."));
    assert!(
        admin
            .get(page)
            .await
            .body
            .contains("Rue 1\n1000 Brussels</textarea>")
    );
    assert!(
        admin
            .get("/settings")
            .await
            .body
            .contains("/settings/billing")
    );

    let ops = app.browser();
    ops.sign_in("platform@demo.test", "demo-password").await;
    let page = "/admin/invoicing";
    assert_ne!(
        admin.get(page).await.status,
        StatusCode::OK,
        "operators only"
    );
    let refused = ops
        .submit(
            page,
            page,
            &[
                ("seller_name", ""),
                ("seller_address", ""),
                ("seller_vat", ""),
                ("vat_rate", "21.555"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("id=\"seller_name-error\""));
    assert!(refused.body.contains("id=\"vat_rate-error\""));
    let saved = ops
        .submit(
            page,
            page,
            &[
                ("seller_name", "IAP Platform BV"),
                ("seller_address", "Dam 1\nAmsterdam"),
                ("seller_vat", "NL001"),
                ("vat_rate", "5.5"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(ops.get(page).await.body.contains("value=\"5.5\""));
    let conn = &mut app.db.conn();
    let settings = invoices::seller_settings(conn).unwrap();
    assert_eq!(settings.vat_rate_bp, Some(550));
    let audited: i64 = iap_credits::platform::schema::audit_log::table
        .filter(iap_credits::platform::schema::audit_log::action.eq("invoicing.update"))
        .count()
        .get_result(conn)
        .unwrap();
    assert_eq!(audited, 1);
}

//! The first start's ninety days of history: written once, accepted by verify-ledger, and
//! visible on the first visit — the operator's dashboard, a forecast, the SMS history, orders
//! with invoices and refunds, and a low-credit alert queued.

use diesel::prelude::*;
use iap_credits::demo;
use iap_credits::platform::schema::{
    databases, email_outbox, enrichments, holds, invoices, orders, refunds, service_jobs,
};

use crate::fixtures::assert_consistent;
use crate::harness::TestApp;

#[actix_web::test]
async fn the_first_start_shows_ninety_days_of_a_living_product() {
    let app = TestApp::new().with_demo();
    let mut conn = app.db.conn();
    let started = std::time::Instant::now();
    let seeded = demo::seed_demo_history(&mut conn).unwrap().unwrap();
    println!("{seeded:?} in {:.2} s", started.elapsed().as_secs_f64());
    assert_eq!(seeded.databases, 30, "{seeded:?}");
    assert!(seeded.accounts >= 50, "{seeded:?}");
    assert!(seeded.orders >= 80, "{seeded:?}");
    assert!(seeded.refunds >= 2, "{seeded:?}");
    assert!(seeded.sms >= 5_000, "{seeded:?}");
    // The other services' uses left their records, each a job done by a hold captured.
    for (what, n) in [
        ("enrichments", seeded.enrichments),
        ("lead requests", seeded.lead_requests),
        ("letters", seeded.letters),
        ("identifications", seeded.identifications),
        ("bills", seeded.bills),
    ] {
        assert!(n >= 20, "{what}: {seeded:?}");
    }
    // Once: a second start writes nothing more.
    assert!(demo::seed_demo_history(&mut conn).unwrap().is_none());
    // Every balance is its ledger's sum, every rollup what it sums.
    assert_consistent(&mut conn);

    // Orders are spread over the ninety days, each with its invoice; refunds succeeded; no
    // receipt of a past order goes out now; one low-credit alert does.
    let (first, last): (
        Option<chrono::DateTime<chrono::Utc>>,
        Option<chrono::DateTime<chrono::Utc>>,
    ) = orders::table
        .select((
            diesel::dsl::min(orders::paid_at),
            diesel::dsl::max(orders::paid_at),
        ))
        .first(&mut conn)
        .unwrap();
    let span = last.unwrap() - first.unwrap();
    assert!(
        span.num_days() >= 80,
        "orders span {} days",
        span.num_days()
    );
    // The customers joined over those days, not on the first start.
    let oldest: Option<chrono::DateTime<chrono::Utc>> = databases::table
        .select(diesel::dsl::min(databases::created_at))
        .first(&mut conn)
        .unwrap();
    assert!((chrono::Utc::now() - oldest.unwrap()).num_days() >= 85);
    let invoiced: i64 = invoices::table.count().get_result(&mut conn).unwrap();
    let paid: i64 = orders::table
        .filter(orders::paid_at.is_not_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(invoiced, paid);
    let refunded: i64 = refunds::table.count().get_result(&mut conn).unwrap();
    assert_eq!(refunded as usize, seeded.refunds);
    let pending = |kind: &str, conn: &mut PgConnection| -> i64 {
        email_outbox::table
            .filter(email_outbox::kind.eq(kind))
            .filter(email_outbox::status.eq("pending"))
            .count()
            .get_result(conn)
            .unwrap()
    };
    assert_eq!(pending("receipt", &mut conn), 0);
    // Every past job is done, by a hold captured in full; each enrichment has its job.
    let open_jobs: i64 = service_jobs::table
        .filter(service_jobs::status.ne("done"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(open_jobs, 0);
    let uncaptured: i64 = holds::table
        .filter(holds::status.ne("captured"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(uncaptured, 0);
    let enriched: i64 = enrichments::table.count().get_result(&mut conn).unwrap();
    assert_eq!(enriched as usize, seeded.enrichments);
    assert!(pending("low_credit", &mut conn) >= 1);

    // What a newcomer sees first.
    let ops = app.browser();
    ops.sign_in("platform@demo.test", "demo-password").await;
    let dashboard = ops.get("/admin").await;
    assert_eq!(dashboard.status, 200);
    assert!(
        !dashboard.body.contains("No order was paid in this period"),
        "the dashboard shows no sales"
    );
    let admin = app.browser();
    admin.sign_in("admin@demo.test", "demo-password").await;
    let services = admin.get("/iap/accounts").await;
    // Every account of the demo's database (our services and the third parties') has a
    // forecast.
    let accounts: std::collections::BTreeSet<&str> = services
        .body
        .split("href=\"/iap/accounts/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|id| id.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert!(accounts.len() >= 8, "{accounts:?}");
    for id in accounts {
        let account = admin.get(&format!("/iap/accounts/{id}")).await;
        assert!(
            !account.body.contains("Not enough history yet"),
            "no forecast on the demo's account {id}"
        );
    }
    let history = admin.get("/sms").await;
    assert!(
        history.body.contains("delivered"),
        "the SMS history is empty"
    );
    // The demo's own database used every service: each page shows its past.
    for (page, shows) in [
        ("/letters", "delivered"),
        ("/bills", "digitized"),
        ("/leads", "https://www."),
        ("/sign", "completed"),
    ] {
        let page = admin.get(page).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains(shows), "{shows:?} not on the page");
    }
    // A past bill and a past contract open, with their PDFs.
    let first_link = |body: &str, prefix: &str| -> String {
        let rest = body.split(&format!("href=\"{prefix}")).nth(1).unwrap();
        format!("{prefix}{}", rest.split('"').next().unwrap())
    };
    let bill = first_link(&admin.get("/bills").await.body, "/bills/");
    let page = admin.get(&bill).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("INV-"), "the bill's number was not read");
    assert!(
        admin
            .get(&format!("{bill}/file"))
            .await
            .body
            .starts_with("%PDF")
    );
    let contract = first_link(&admin.get("/sign").await.body, "/sign/requests/");
    let page = admin.get(&contract).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("itsme"));
    let signed = admin.get(&format!("{contract}/signed.pdf")).await;
    assert!(signed.body.starts_with("%PDF"));
}

//! The second hardening round (issue 28): what an audit found a signed-in user could do to the
//! whole service through uploads and OCR, each reproduced here against a running instance.

use std::time::{Duration, Instant};

use diesel::{ExpressionMethods, QueryDsl};
use iap_credits::domain::tenancy::{Role, Subscription};
use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

use crate::fixtures::{Customer, assert_consistent};
use crate::harness::TestDb;
use crate::instances::{Answer, Jar, get, post_body, sign_in, start_instances_behind};

/// A PDF of a few kilobytes whose text layer inflates to about `megabytes` MB: one page whose
/// compressed content stream shows the same line again and again.
pub fn inflating_pdf(megabytes: usize) -> Vec<u8> {
    let line = "A".repeat(100);
    let mut operations = vec![
        Operation::new("BT", vec![]),
        Operation::new("Tf", vec!["F1".into(), 1.into()]),
    ];
    for _ in 0..megabytes * 10_000 {
        operations.push(Operation::new(
            "Tj",
            vec![Object::string_literal(line.as_str())],
        ));
        operations.push(Operation::new("T*", vec![]));
    }
    operations.push(Operation::new("ET", vec![]));
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let mut stream = Stream::new(dictionary! {}, Content { operations }.encode().unwrap());
    stream.compress().unwrap();
    let content_id = doc.add_object(stream);
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

/// A multipart upload of `file` to `path` of instance `base`, as the page's form sends it
/// (its token first).
async fn upload(base: &str, path: &str, jar: &Jar, csrf: &str, file: &[u8]) -> (Answer, Duration) {
    let boundary = "----hardening-boundary-51c2";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bill.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let started = Instant::now();
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let answer = post_body(base, base, path, jar, &content_type, body).await;
    (answer, started.elapsed())
}

/// Another database's user opens pages again and again while `until` is not set; answers the
/// slowest answer and how many there were.
async fn keep_browsing(
    base: String,
    jar: Jar,
    until: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (Duration, usize) {
    let mut slowest = Duration::ZERO;
    let mut pages = 0;
    while !until.load(std::sync::atomic::Ordering::Relaxed) {
        for path in ["/iap/accounts", "/bills", "/letters"] {
            let started = Instant::now();
            let page = get(&base, path, &jar).await;
            assert_eq!(page.status, 200, "{path}: {}", page.body);
            slowest = slowest.max(started.elapsed());
            pages += 1;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    (slowest, pages)
}

#[test]
fn hostile_uploads_and_digitize_clicks_leave_other_users_pages_answering_within_a_second() {
    let db = TestDb::new();
    let (attackers, victim) = {
        let mut conn = db.conn();
        let attackers: Vec<String> = (0..4)
            .map(|i| {
                let customer = Customer::new(&mut conn, Subscription::None);
                customer.funded(&mut conn, "documents-digitization", "10");
                let email = format!("mallory{i}@attack.test");
                customer.user(&mut conn, &email, Role::User);
                email
            })
            .collect();
        let victim = Customer::named(&mut conn, "Bystander", Subscription::None);
        victim.user(&mut conn, "bea@bystander.test", Role::User);
        (attackers, "bea@bystander.test".to_string())
    };
    let instances = start_instances_behind(&db, 1, None, &[]);
    let base = instances.bases[0].clone();
    let hostile = inflating_pdf(3);
    assert!(hostile.len() < 16 * 1024, "{} bytes", hostile.len());
    let unreadable_scan = {
        let mut conn = db.conn();
        let bill = crate::sample_bills::sample(&mut conn, 1);
        crate::sample_bills::png(&crate::sample_bills::pdf(
            &crate::sample_bills::SampleBill {
                lines: vec!["Lorem ipsum dolor sit amet, consectetur adipiscing elit.".into(); 30],
                ..bill
            },
        ))
    };

    actix_web::rt::System::new().block_on(async move {
        let victim_jar = Jar::default();
        sign_in(&base, &base, &victim_jar, &victim).await;
        let mut jars = Vec::new();
        for email in &attackers {
            let jar = Jar::default();
            sign_in(&base, &base, &jar, email).await;
            let csrf = get(&base, "/bills", &jar).await.csrf();
            jars.push((jar, csrf));
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let browsing = actix_web::rt::spawn(keep_browsing(base.clone(), victim_jar, stop.clone()));

        // 16 uploads at once of a PDF whose text layer inflates to 3 MB, 4 from each attacker.
        let uploads: Vec<_> = (0..16)
            .map(|i| {
                let (jar, csrf) = jars[i % 4].clone();
                let (base, hostile) = (base.clone(), hostile.clone());
                actix_web::rt::spawn(
                    async move { upload(&base, "/bills", &jar, &csrf, &hostile).await },
                )
            })
            .collect();
        let mut statuses = Vec::new();
        for upload in uploads {
            let (answer, took) = upload.await.unwrap();
            assert!(
                [303, 422, 503].contains(&answer.status),
                "{}: {}",
                answer.status,
                answer.body
            );
            // Busy is said at once; a reading ends within its wall-clock limit.
            assert!(took < Duration::from_secs(40), "{took:?}");
            statuses.push(answer.status);
        }
        eprintln!("hostile uploads answered: {statuses:?}");
        assert!(
            statuses.contains(&503),
            "some were told the reader is busy: {statuses:?}"
        );

        // Then each attacker uploads unreadable scans and clicks Digitize on all at once.
        let mut bills = Vec::new();
        for (jar, csrf) in &jars {
            for _ in 0..4 {
                let (answer, _) = upload(&base, "/bills", jar, csrf, &unreadable_scan).await;
                assert_eq!(answer.status, 303, "{}", answer.body);
                bills.push((jar.clone(), csrf.clone(), answer.location));
            }
        }
        let clicks: Vec<_> = bills
            .into_iter()
            .map(|(jar, csrf, bill)| {
                let base = base.clone();
                actix_web::rt::spawn(async move {
                    let started = Instant::now();
                    let answer = crate::instances::post(
                        &base,
                        &base,
                        &format!("{bill}/digitize"),
                        &jar,
                        &[("csrf_token", &csrf)],
                    )
                    .await;
                    (answer, started.elapsed())
                })
            })
            .collect();
        let mut too_many = 0;
        for click in clicks {
            let (answer, took) = click.await.unwrap();
            assert_eq!(answer.status, 303, "{}", answer.body);
            // Digitize only hands the bill over: it answers at once.
            assert!(took < Duration::from_secs(2), "Digitize took {took:?}");
            too_many += answer.location.contains("too-many") as usize;
        }
        eprintln!("Digitize clicks told to wait for their database's readings: {too_many}");
        // The reading worker reads them, one at a time, while the bystander keeps browsing.
        actix_web::rt::time::sleep(Duration::from_secs(8)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (slowest, pages) = browsing.await.unwrap();
        eprintln!("the bystander's {pages} pages: the slowest answered in {slowest:?}");
        assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    });
    drop(instances);
    assert_consistent(&mut db.conn());
}

/// A PDF of `pages` pages each showing the same scanned bill (a JPEG of about 1 MB), and that
/// image.
fn scanned_pages_pdf(db: &TestDb, pages: usize) -> (Vec<u8>, Vec<u8>) {
    let one_page = {
        let mut conn = db.conn();
        let bill = crate::sample_bills::sample(&mut conn, 2);
        crate::sample_bills::scanned_pdf(&bill)
    };
    let one_page = lopdf::Document::load_mem(&one_page).unwrap();
    let page_id = *one_page.get_pages().values().next().unwrap();
    let image = one_page.get_page_images(page_id).unwrap()[0]
        .content
        .to_vec();
    (
        crate::sample_bills::scanned_pages_pdf(image.clone(), pages),
        image,
    )
}

#[test]
fn the_pdf_reader_answers_facts_never_page_images() {
    // 30 pages showing the same large scanned image: the facts say which pages are scans, and
    // stay small; one page's image is asked for alone.
    let db = TestDb::new();
    let (pdf, image) = scanned_pages_pdf(&db, 30);
    let inspector = crate::digitization::inspector();
    let facts = inspector.inspect(&pdf).unwrap();
    assert_eq!(facts.pages.len(), 30);
    assert_eq!(facts.scanned_pages, (0..30).collect::<Vec<u32>>());
    let answered = serde_json::to_vec(&facts).unwrap().len();
    assert!(answered < 16 * 1024, "the facts took {answered} bytes");
    assert_eq!(inspector.page_jpeg(&pdf, 29).unwrap(), image);
}

/// One text part of a multipart body.
fn text_part(boundary: &str, name: &str, value: &str) -> Vec<u8> {
    format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
        .into_bytes()
}

#[actix_web::test]
async fn an_upload_form_is_refused_at_its_first_part_and_its_fields_are_bounded() {
    use crate::fixtures::PASSWORD;
    use crate::harness::TestApp;
    use actix_web::http::StatusCode;
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let customer = Customer::named(&mut conn, "Uploaders", Subscription::None);
    customer.user(&mut conn, "uma@uploaders.test", Role::User);
    let browser = app.browser();
    browser.sign_in("uma@uploaders.test", PASSWORD).await;
    let token = browser.get("/bills").await.csrf_token().unwrap();
    let boundary = "----bounded-7d1e";
    let end = format!("--{boundary}--\r\n").into_bytes();

    // 3,000 fields of 60 KB before the token (176 MB): refused at the first one, unread.
    let mut forged = Vec::new();
    for i in 0..3 {
        forged.extend(text_part(
            boundary,
            &format!("f{i}"),
            &"x".repeat(60 * 1024),
        ));
    }
    forged.extend(text_part(boundary, "csrf_token", &token));
    forged.extend(end.clone());
    let refused = browser.post_multipart("/bills", boundary, forged).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    // The token first, then more parts than any form of ours has: too large, nothing stored.
    let mut many = text_part(boundary, "csrf_token", &token);
    for i in 0..100 {
        many.extend(text_part(boundary, &format!("f{i}"), "x"));
    }
    many.extend(end.clone());
    let refused = browser.post_multipart("/bills", boundary, many).await;
    assert_eq!(
        refused.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        refused.body
    );

    // The token first, then fields that add up to more than the form's text may hold.
    let mut long = text_part(boundary, "csrf_token", &token);
    for i in 0..5 {
        long.extend(text_part(
            boundary,
            &format!("f{i}"),
            &"x".repeat(60 * 1024),
        ));
    }
    long.extend(end);
    let refused = browser.post_multipart("/bills", boundary, long).await;
    assert_eq!(
        refused.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        refused.body
    );
    assert!(browser.get("/bills").await.body.contains("No bills yet."));
}

#[actix_web::test]
async fn a_quote_never_reads_the_file_again_and_an_older_pdf_is_read_once() {
    use crate::fixtures::PASSWORD;
    use crate::harness::TestApp;
    use actix_web::http::StatusCode;
    use diesel::connection::SimpleConnection;
    let mut app = TestApp::new();
    let mut conn = app.db.conn();
    let customer = Customer::named(&mut conn, "Posters", Subscription::None);
    customer.user(&mut conn, "pia@posters.test", Role::User);
    let lucille = crate::snailmail::contact(&mut conn, &customer, "1000", "BE");
    let form_at = {
        let browser = app.browser();
        browser.sign_in("pia@posters.test", PASSWORD).await;
        let pdf = crate::sample_bills::letter_pdf(2, 595, 842);
        let uploaded = browser
            .upload("/letters", "/letters", &[], ("file", "reminder.pdf", &pdf))
            .await;
        assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.body);
        uploaded.location().to_string()
    };
    let working = app.state.readers.clone();
    // A reader that cannot even start: quotes do not need it.
    app.state.readers = std::sync::Arc::new(iap_credits::services::digitization::Readers::new(
        iap_credits::services::documents::pdf::PdfInspector {
            helper: "/nonexistent/pdf-reader".into(),
        },
        working.ocr.clone(),
    ));
    let quote_page = format!("{form_at}?contact={lucille}");
    {
        let browser = app.browser();
        browser.sign_in("pia@posters.test", PASSWORD).await;
        let priced = browser.get(&quote_page).await;
        assert_eq!(priced.status, StatusCode::OK, "{}", priced.body);
        assert!(priced.body.contains("class=\"price\""), "{}", priced.body);

        // A PDF stored before its facts were kept: read when first quoted, so with no reader,
        // the page says it cannot be read (and nothing is kept).
        conn.batch_execute("UPDATE documents SET pdf_facts = NULL, text_layer = NULL")
            .unwrap();
        let unread = browser.get(&quote_page).await;
        assert_eq!(
            unread.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            unread.body
        );
    }
    app.state.readers = working;
    let browser = app.browser();
    browser.sign_in("pia@posters.test", PASSWORD).await;
    let priced = browser.get(&quote_page).await;
    assert_eq!(priced.status, StatusCode::OK, "{}", priced.body);
    let kept: i64 = diesel::RunQueryDsl::get_result(
        diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "SELECT count(*) FROM documents WHERE pdf_facts IS NOT NULL",
        ),
        &mut conn,
    )
    .unwrap();
    assert_eq!(kept, 1, "read once, then kept");
}

/// OCR that reads nothing, and notes how many pages it was given and whether any database
/// connection of `pool` was in use meanwhile.
struct ProbeOcr {
    pool: iap_credits::platform::db::DbPool,
    pages: std::sync::atomic::AtomicUsize,
    connections_in_use: std::sync::atomic::AtomicU32,
}

impl iap_credits::services::digitization::ocr::OcrEngine for ProbeOcr {
    fn recognize(
        &self,
        _image: &[u8],
    ) -> Result<String, iap_credits::services::digitization::ocr::OcrError> {
        use std::sync::atomic::Ordering;
        self.pages.fetch_add(1, Ordering::SeqCst);
        let state = self.pool.state();
        self.connections_in_use
            .fetch_max(state.connections - state.idle_connections, Ordering::SeqCst);
        Ok("nothing a bill is made of".into())
    }
}

#[test]
fn ocr_runs_off_the_request_holding_no_connection_and_reads_at_most_five_pages() {
    use crate::fixtures::{c, reload};
    use iap_credits::services::digitization::{self, Digitized, reading};
    use std::sync::atomic::Ordering;
    let db = TestDb::new();
    let pool = db.pool();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let user = customer.user(&mut conn, "ada@example.test", Role::User);
    let account = customer.funded(&mut conn, "documents-digitization", "1");
    let (scan, _) = scanned_pages_pdf(&db, 30);
    let upload = iap_credits::services::documents::check(
        &crate::digitization::inspector(),
        "scan.pdf",
        scan,
    )
    .unwrap();
    let bill = digitization::create_bill(&mut conn, customer.database_id, user, &upload).unwrap();
    drop(conn);
    let probe = std::sync::Arc::new(ProbeOcr {
        pool: pool.clone(),
        pages: Default::default(),
        connections_in_use: Default::default(),
    });
    let readers = digitization::Readers::new(crate::digitization::inspector(), probe.clone());
    {
        let mut conn = pool.get().unwrap();
        assert_eq!(
            digitization::digitize(&mut conn, customer.database_id, user, bill.id).unwrap(),
            Digitized::Reading
        );
        // Nothing read on the request's path.
        assert_eq!(probe.pages.load(Ordering::SeqCst), 0);
    }
    let read = reading::read_all(&pool, &readers).unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(probe.pages.load(Ordering::SeqCst), reading::MAX_OCR_PAGES);
    assert_eq!(probe.connections_in_use.load(Ordering::SeqCst), 0);
    // Nothing found: unreadable, nothing charged, and not read again for free.
    let mut conn = pool.get().unwrap();
    assert_eq!(reload(&mut conn, account.id).available(), c("1"));
    assert_eq!(
        digitization::digitize(&mut conn, customer.database_id, user, bill.id).unwrap(),
        Digitized::Unreadable
    );
}

/// A little HTTP server on loopback answering `answer` to every request after `delay`; answers
/// its URL and when each request arrived.
fn serve(
    answer: String,
    delay: Duration,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Instant>>>) {
    use std::io::{BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sms/status", listener.local_addr().unwrap());
    let arrived = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = arrived.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (answer, seen) = (answer.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                crate::odoo_sms::read_request_body(&mut reader);
                seen.lock().unwrap().push(Instant::now());
                std::thread::sleep(delay);
                let _ = reader.get_mut().write_all(answer.as_bytes());
            });
        }
    });
    (url, arrived)
}

fn ok_answer() -> String {
    let ok = r#"{"jsonrpc":"2.0","id":null,"result":"OK"}"#;
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ok}",
        ok.len()
    )
}

/// An SMS sent through Odoo's SMS API with `webhook`, its delivery report due.
async fn sms_with_webhook(app: &crate::harness::TestApp, token: &str, webhook: &str) {
    let uuid = format!("{:032x}", rand::random::<u128>());
    let send = serde_json::json!({"account_token": token, "dbuuid": crate::odoo::DBUUID,
        "webhook_url": webhook,
        "messages": [{"content": "Hello", "numbers": [{"uuid": uuid, "number": "+32470123456"}]}]});
    let answer = crate::odoo::call(app, "/api/sms/3/send", send)
        .await
        .unwrap();
    assert_eq!(answer[0]["state"], "success", "{answer}");
}

#[actix_web::test]
async fn a_webhook_on_our_own_network_is_refused_and_a_redirect_is_not_followed() {
    use crate::odoo::{DBUUID, call, fund, odoo_token};
    use iap_credits::platform::outbound::OutboundPolicy;
    use iap_credits::services::sms::webhooks::{TIMEOUT, deliver_due};
    let mut app = crate::harness::TestApp::new();
    let mut conn = app.db.conn();
    let token = odoo_token();
    let register =
        serde_json::json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    call(&app, "/iap/1/balance", register).await.unwrap();
    fund(&mut conn, &token, "10");
    let (internal, reached) = serve(ok_answer(), Duration::ZERO);

    // As a public server runs: loopback, private, link-local and metadata webhooks are refused
    // when the SMS is sent, with Odoo's error, and nothing is sent.
    for webhook in [
        internal.as_str(),
        "http://localhost:8069/sms/status",
        "http://10.0.0.7/sms/status",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:8069/",
    ] {
        let send = serde_json::json!({"account_token": token, "dbuuid": DBUUID, "webhook_url": webhook,
            "messages": [{"content": "Hi", "numbers": [{"uuid": "a1", "number": "+32470123456"}]}]});
        let refused = call(&app, "/api/sms/3/send", send).await;
        let (_, message) = refused.expect_err(webhook);
        assert!(message.contains("webhook_url"), "{webhook}: {message}");
    }
    // A name that resolves to the machine itself is refused on the address it resolves to.
    let by_name = internal.replace("127.0.0.1", "localhost");
    let sent = OutboundPolicy::default()
        .client(TIMEOUT)
        .post(&by_name)
        .send_body("{}")
        .await;
    assert!(sent.is_err(), "{sent:?}");
    assert!(
        reached.lock().unwrap().is_empty(),
        "nothing reached the internal server"
    );

    // A private deployment allows its network; a webhook there that redirects elsewhere is not
    // followed: the report is not taken, and the second server is never called.
    let outbound = OutboundPolicy::parse("127.0.0.1").unwrap();
    app.state.outbound = outbound.clone();
    let (second, second_reached) = serve(ok_answer(), Duration::ZERO);
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {second}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (first, first_reached) = serve(redirect, Duration::ZERO);
    sms_with_webhook(&app, &token, &first).await;
    iap_credits::services::sms::messages::apply_delivery_reports(&mut conn, app.state.sms.as_ref())
        .unwrap();
    let run = deliver_due(
        &app.state.pool,
        &outbound,
        &outbound.client(TIMEOUT),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!((run.reported, run.failed), (0, 1));
    assert_eq!(first_reached.lock().unwrap().len(), 1);
    assert!(
        second_reached.lock().unwrap().is_empty(),
        "the redirect was followed"
    );
}

#[actix_web::test]
async fn slow_webhooks_do_not_hold_up_another_webhooks_report() {
    use crate::odoo::{DBUUID, call, fund, odoo_token};
    use iap_credits::platform::outbound::OutboundPolicy;
    use iap_credits::services::sms::webhooks::{TIMEOUT, deliver_due};
    let mut app = crate::harness::TestApp::new();
    let outbound = OutboundPolicy::parse("127.0.0.1").unwrap();
    app.state.outbound = outbound.clone();
    let mut conn = app.db.conn();
    let token = odoo_token();
    let register =
        serde_json::json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    call(&app, "/iap/1/balance", register).await.unwrap();
    fund(&mut conn, &token, "10");
    // Four webhooks that answer only after 30 s, then one that answers at once.
    for _ in 0..4 {
        let (slow, _) = serve(ok_answer(), Duration::from_secs(30));
        sms_with_webhook(&app, &token, &slow).await;
    }
    let (fast, fast_reached) = serve(ok_answer(), Duration::ZERO);
    sms_with_webhook(&app, &token, &fast).await;
    iap_credits::services::sms::messages::apply_delivery_reports(&mut conn, app.state.sms.as_ref())
        .unwrap();
    let started = Instant::now();
    let run = deliver_due(
        &app.state.pool,
        &outbound,
        &outbound.client(TIMEOUT),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let took = started.elapsed();
    assert_eq!((run.reported, run.failed), (1, 4));
    let fast_at = fast_reached.lock().unwrap()[0] - started;
    eprintln!("the fast webhook had its report after {fast_at:?}; the run took {took:?}");
    assert!(fast_at < Duration::from_secs(3), "{fast_at:?}");
    // Each slow one was given up at the timeout, all at once: not 4 × 30 s.
    assert!(took < TIMEOUT + Duration::from_secs(5), "{took:?}");
}

#[actix_web::test]
async fn the_account_token_alone_cannot_charge_the_saved_card_nor_redirect_warnings() {
    use crate::odoo::{DBUUID, call, odoo_token};
    use iap_credits::domain::payments::{Card, MockProvider, methods};
    let app = crate::harness::TestApp::new();
    let mut conn = app.db.conn();
    let token = odoo_token();
    let register =
        serde_json::json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    call(&app, "/iap/1/balance", register).await.unwrap();
    let account = iap_credits::domain::ledger::accounts::by_token(&mut conn, &token)
        .unwrap()
        .unwrap();
    let card = Card::parse("Ada", "4242424242424242", "12/39", "123").unwrap();
    methods::save(
        &mut conn,
        &MockProvider::default(),
        account.database_id,
        None,
        &card,
    )
    .unwrap()
    .unwrap();
    let sms = iap_credits::domain::catalog::service_by_slug(&mut conn, "sms")
        .unwrap()
        .unwrap();
    let expert = iap_credits::domain::catalog::active_packs(&mut conn, sms.id)
        .unwrap()
        .into_iter()
        .max_by_key(|p| p.price_minor)
        .unwrap();
    // What the audit did: the largest pack, a threshold of 1,000,000.
    let attack = serde_json::json!({"account_token": token, "auto_refill_threshold": 1_000_000,
        "auto_refill_pack_id": expert.id.0});
    let answer = call(&app, "/iap/1/update-auto-refill-settings", attack)
        .await
        .unwrap();
    assert_eq!(answer["status"], "error", "{answer}");
    assert!(
        iap_credits::domain::topup::find(&mut conn, account.id)
            .unwrap()
            .is_none()
    );
    // Nothing ordered, nothing paid, even after the top-up worker's turn.
    let run = iap_credits::domain::topup::pay_due(
        &mut conn,
        app.state.payments.as_ref(),
        chrono::Utc::now(),
        20,
    )
    .unwrap();
    assert_eq!(run, iap_credits::domain::topup::TopupRun::default());
    assert!(
        iap_credits::domain::orders::auto::recent(&mut conn, account.id, 5)
            .unwrap()
            .is_empty()
    );

    // Warnings to an attacker's address: not taken; the link shows it to an administrator.
    let redirect = serde_json::json!({"account_token": token, "warning_threshold": 5,
        "warning_emails": [{"email": "mallory@attack.test"}]});
    let (_, message) = call(&app, "/iap/1/update-warning-email-alerts", redirect)
        .await
        .unwrap_err();
    let account = iap_credits::domain::ledger::accounts::by_token(&mut conn, &token)
        .unwrap()
        .unwrap();
    assert_eq!(account.warning_email, "");
    let link = &message[message.find("/iap/accounts/").unwrap()..message.find("#alerts").unwrap()];
    let admin = crate::odoo::admin_of(&app, &mut conn, account.database_id).await;
    let page = admin.get(link).await;
    assert!(
        page.body
            .contains("An Odoo database asked for these settings"),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"value="mallory@attack.test""#));
    // Shown, not saved: the administrator sees whose address it is and may simply not save.
    let account = iap_credits::domain::ledger::accounts::by_token(&mut conn, &token)
        .unwrap()
        .unwrap();
    assert_eq!(account.warning_email, "");
}

#[actix_web::test]
async fn whoever_knows_a_dbuuid_cannot_lock_its_database_out_nor_learn_its_name() {
    use crate::odoo::{DBUUID, call, odoo_token};
    use crate::odoo_accounts::buy_link;
    use actix_web::http::StatusCode;
    let app = crate::harness::TestApp::new();
    let mut conn = app.db.conn();
    // The real database was registered, and named by its operator.
    let real = odoo_token();
    let register = |token: &str| serde_json::json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    call(&app, "/iap/1/balance", register(&real)).await.unwrap();
    let real_account = iap_credits::domain::ledger::accounts::by_token(&mut conn, &real)
        .unwrap()
        .unwrap();
    diesel::RunQueryDsl::execute(
        diesel::update(
            iap_credits::platform::schema::databases::table.find(real_account.database_id),
        )
        .set(iap_credits::platform::schema::databases::name.eq("Acme Secret Projects")),
        &mut app.db.owner_conn(),
    )
    .unwrap();
    // An attacker who learned the dbuuid registers a token of their own for it.
    let attacker = odoo_token();
    assert_eq!(
        call(&app, "/iap/1/balance", register(&attacker)).await,
        Ok(serde_json::json!(0.0))
    );
    // The real database's token still works, and so does its buy link.
    assert_eq!(
        call(&app, "/iap/1/balance", register(&real)).await,
        Ok(serde_json::json!(0.0))
    );
    let real_link = app.browser().get(&buy_link(&real, "10")).await;
    assert_eq!(real_link.status, StatusCode::OK, "{}", real_link.body);
    // A token registered after the attacker's (a second company) works too.
    let second = odoo_token();
    assert_eq!(
        call(&app, "/iap/1/balance", register(&second)).await,
        Ok(serde_json::json!(0.0))
    );
    // The attacker's buy page shows their account and nothing of the database.
    let page = app.browser().get(&buy_link(&attacker, "10")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Acme Secret Projects"), "{}", page.body);
    assert!(!page.body.contains(DBUUID));
    assert!(page.body.contains(&format!("…{}", &attacker[28..])));
}

#[actix_web::test]
async fn made_up_dbuuids_register_only_so_many_databases_and_stay_out_of_the_operators_list() {
    use crate::odoo::{call, odoo_token};
    let app = crate::harness::TestApp::new().with_demo();
    let databases = |conn: &mut diesel::PgConnection| -> i64 {
        diesel::RunQueryDsl::get_result(
            iap_credits::platform::schema::databases::table.count(),
            conn,
        )
        .unwrap()
    };
    let mut conn = app.db.conn();
    let before = databases(&mut conn);
    // What the audit did: balance calls with random dbuuids, from one address.
    let mut refused = 0;
    for _ in 0..40 {
        let dbuuid = format!("{:08x}-1d2f-11ef-9a3b-0242ac120002", rand::random::<u32>());
        let call_ = serde_json::json!({"dbuuid": dbuuid, "account_token": odoo_token(), "service_name": "sms"});
        match call(&app, "/iap/1/balance", call_).await {
            Ok(_) => {}
            Err((_, message)) => {
                assert!(message.contains("Too many new IAP accounts"), "{message}");
                refused += 1;
            }
        }
    }
    let limit = iap_credits::domain::auth::throttle::REGISTRATIONS as i64;
    assert_eq!(refused, 40 - limit);
    assert_eq!(
        databases(&mut conn) - before,
        limit,
        "a refused one leaves no database"
    );
    // The operator's list shows the databases in use, not these; a name search or the
    // checkbox finds them.
    let ops = app.browser();
    ops.sign_in("platform@demo.test", "demo-password").await;
    let list = ops.get("/admin/databases").await;
    assert!(list.body.contains("Demo Company"), "{}", list.body);
    assert!(!list.body.contains("Odoo "), "{}", list.body);
    let all = ops.get("/admin/databases?all=on").await;
    assert!(all.body.contains("Odoo "), "{}", all.body);
    let by_name = ops.get("/admin/databases?q=Odoo").await;
    assert!(by_name.body.contains("Odoo "));
}

#[actix_web::test]
async fn only_the_key_that_authorized_a_transaction_captures_or_cancels_it() {
    use crate::odoo::{DBUUID, available, call, fund, odoo_token, provider_key};
    let app = crate::harness::TestApp::new();
    let mut conn = app.db.conn();
    let (first, second) = (
        provider_key(&mut conn, "sms"),
        provider_key(&mut conn, "sms"),
    );
    let token = odoo_token();
    let register =
        serde_json::json!({"dbuuid": DBUUID, "account_token": token, "service_name": "sms"});
    call(&app, "/iap/1/balance", register).await.unwrap();
    fund(&mut conn, &token, "10");
    let authorize = serde_json::json!({"account_token": token, "key": first, "credit": 6,
        "description": "SMS", "dbuuid": DBUUID});
    let transaction = call(&app, "/iap/1/authorize", authorize).await.unwrap();
    // Another key of the same service: as if the transaction did not exist.
    for (path, extra) in [
        (
            "/iap/1/capture",
            serde_json::json!({"credit_to_capture": 6}),
        ),
        ("/iap/1/cancel", serde_json::json!({})),
    ] {
        let mut params = serde_json::json!({"token": transaction, "key": second});
        params
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let refused = call(&app, path, params).await;
        assert_eq!(
            crate::odoo::error_name(refused),
            "odoo.exceptions.AccessError",
            "{path}"
        );
    }
    assert_eq!(
        available(&mut conn, &token),
        crate::fixtures::c("4"),
        "still held"
    );
    let capture = serde_json::json!({"token": transaction, "key": first, "credit_to_capture": 6});
    assert_eq!(
        call(&app, "/iap/1/capture", capture).await,
        Ok(serde_json::json!(true))
    );
    assert_eq!(available(&mut conn, &token), crate::fixtures::c("4"));
}

#[test]
fn contact_fields_are_one_line_without_control_characters() {
    use iap_credits::services::contacts::ContactInput;
    let valid = || ContactInput {
        name: "Lucille Dupont".into(),
        street: "Rue de la Loi 16".into(),
        postal_code: "1000".into(),
        city: "Brussels".into(),
        country: "BE".into(),
        ..ContactInput::default()
    };
    assert!(valid().validate().is_ok());
    let errors = ContactInput {
        name: "Lucille\rDupont".into(),
        ..valid()
    }
    .validate()
    .unwrap_err();
    assert!(errors.name.unwrap().contains("control characters"));
    let errors = ContactInput {
        street: "Rue de la Loi 16\u{1b}[2J".into(),
        ..valid()
    }
    .validate()
    .unwrap_err();
    assert!(errors.address.unwrap().contains("control characters"));
    let errors = ContactInput {
        city: "Brussels\nParis".into(),
        ..valid()
    }
    .validate()
    .unwrap_err();
    assert!(errors.address.is_some());
}

#[actix_web::test]
async fn every_price_a_page_shows_is_the_catalogs_and_said_with_the_right_plural() {
    use crate::fixtures::PASSWORD;
    use iap_credits::domain::catalog::{self, usage_prices};
    let app = crate::harness::TestApp::new();
    let mut conn = app.db.conn();
    let customer = Customer::named(&mut conn, "Priced", Subscription::None);
    customer.user(&mut conn, "pat@priced.test", Role::User);
    let contact = crate::snailmail::contact(&mut conn, &customer, "1000", "BE");
    let bill = crate::sample_bills::sample(&mut conn, 4);
    // A company of the directory: the vendor of a sample bill.
    let company = bill.vendor.replace(' ', "+");
    let upload = iap_credits::services::documents::check(
        &crate::digitization::inspector(),
        "bill.pdf",
        crate::sample_bills::pdf(&bill),
    )
    .unwrap();
    let user = customer.user(&mut conn, "ann@priced.test", Role::User);
    let bill = iap_credits::services::digitization::create_bill(
        &mut conn,
        customer.database_id,
        user,
        &upload,
    )
    .unwrap();
    let browser = app.browser();
    browser.sign_in("pat@priced.test", PASSWORD).await;
    let pages = |price: &str| {
        [
            (
                format!("/contacts/{contact}/companies?q={company}"),
                format!("Enrich ({price})"),
            ),
            ("/contacts/new".to_string(), format!("logo for {price}.")),
            (
                "/sign".to_string(),
                format!("the Netherlands; {price} each"),
            ),
            (format!("/bills/{}", bill.id), format!("Digitize ({price})")),
        ]
    };
    for (path, text) in pages("1 credit") {
        let page = browser.get(&path).await;
        assert!(page.body.contains(&text), "{path}: {text}\n{}", page.body);
    }
    // The operator changes every price: every page says the new one.
    let operator = crate::fixtures::operator(&mut conn);
    for (slug, unit) in [
        ("partner-autocomplete", usage_prices::ENRICHMENT),
        ("itsme", usage_prices::IDENTIFICATION),
        ("documents-digitization", usage_prices::DOCUMENT),
    ] {
        let service = catalog::service_by_slug(&mut conn, slug).unwrap().unwrap();
        usage_prices::update(&mut conn, &operator, service.id, unit, "2").unwrap();
    }
    for (path, text) in pages("2 credits") {
        let page = browser.get(&path).await;
        assert!(page.body.contains(&text), "{path}: {text}\n{}", page.body);
    }
}

#[test]
fn card_attempts_are_counted_per_address_per_session_and_per_account() {
    use iap_credits::domain::auth::throttle::{
        CHECKOUT_ATTEMPTS, CheckoutAttempt, reserve_checkout,
    };
    use iap_credits::kernel::ids::AccountId;
    let db = TestDb::new();
    let mut conn = db.conn();
    let now = chrono::Utc::now();
    // One session trying cards from ever new addresses on ever new accounts: its own count.
    let addresses: Vec<String> = (0..20).map(|i| format!("198.51.100.{i}")).collect();
    let mut allowed = 0;
    for (i, address) in addresses.iter().enumerate() {
        let attempt = CheckoutAttempt {
            address,
            session: "one-session",
            account_id: AccountId(1000 + i as i64),
        };
        allowed += reserve_checkout(&mut conn, &attempt, now).unwrap().is_ok() as i32;
    }
    assert_eq!(allowed, CHECKOUT_ATTEMPTS);
    // Another session, address and account is not held up by it.
    let other = CheckoutAttempt {
        address: "203.0.113.9",
        session: "another-session",
        account_id: AccountId(1),
    };
    assert!(reserve_checkout(&mut conn, &other, now).unwrap().is_ok());
}

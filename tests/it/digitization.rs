//! Documents Digitization: the extractor on generated bills (text layer and OCR), Digitize on
//! the paid-service steps (1 credit, nothing for an unreadable file), and uploads checked by
//! content.

use iap_credits::services::digitization::extract::{self, Extracted};
use iap_credits::services::documents::pdf::PdfInspector;

use crate::harness::TestDb;
use crate::sample_bills::{self, SampleBill};

pub fn inspector() -> PdfInspector {
    PdfInspector {
        helper: env!("CARGO_BIN_EXE_iap-credits").into(),
    }
}

/// Per field: how many of the bills it was read right on.
#[derive(Debug, Default)]
struct Score {
    bills: usize,
    vendor: usize,
    number: usize,
    date: usize,
    due: usize,
    currency: usize,
    total: usize,
    tax: usize,
    vat: usize,
}

impl Score {
    fn add(&mut self, bill: &SampleBill, x: &Extracted) {
        let is =
            |f: &Option<extract::Field<String>>, v: &str| f.as_ref().is_some_and(|f| f.value == v);
        self.bills += 1;
        self.vendor += is(&x.vendor, &bill.vendor) as usize;
        self.number += is(&x.invoice_number, &bill.number) as usize;
        self.date += x
            .invoice_date
            .as_ref()
            .is_some_and(|f| f.value == bill.date) as usize;
        self.due += x.due_date.as_ref().is_some_and(|f| f.value == bill.due) as usize;
        self.currency += is(&x.currency, bill.currency) as usize;
        self.total += x
            .total
            .as_ref()
            .is_some_and(|f| f.value == bill.total_minor) as usize;
        self.tax += x.tax.as_ref().is_some_and(|f| f.value == bill.tax_minor) as usize;
        self.vat += match &bill.vat {
            Some(v) => is(&x.vat, v),
            None => x.vat.is_none(),
        } as usize;
    }

    fn fields(&self) -> [(&'static str, usize); 8] {
        [
            ("vendor", self.vendor),
            ("invoice number", self.number),
            ("invoice date", self.date),
            ("due date", self.due),
            ("currency", self.currency),
            ("total", self.total),
            ("tax", self.tax),
            ("VAT number", self.vat),
        ]
    }

    fn report(&self, what: &str) -> String {
        let parts: Vec<String> = self
            .fields()
            .iter()
            .map(|(name, n)| format!("{name} {n}/{}", self.bills))
            .collect();
        format!("{what}: {}", parts.join(", "))
    }
}

#[test]
fn every_field_is_read_right_on_at_least_95_of_100_generated_bills() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let inspector = inspector();
    let mut score = Score::default();
    let mut misses = Vec::new();
    for n in 0..100 {
        let bill = sample_bills::sample(&mut conn, n);
        let facts = inspector.inspect(&sample_bills::pdf(&bill)).unwrap();
        assert_eq!(facts.pages.len(), 1);
        assert!(facts.pages[0].is_a4());
        let x = extract::extract(&facts.text());
        let before = score.fields();
        score.add(&bill, &x);
        if score
            .fields()
            .iter()
            .zip(before.iter())
            .any(|(a, b)| a.1 == b.1)
        {
            misses.push(format!("{n}: {x:?}\n{}", facts.text()));
        }
    }
    let report = score.report("text layer");
    eprintln!("{report}");
    for (name, n) in score.fields() {
        assert!(n >= 95, "{name}: {report}\n{}", misses.join("\n---\n"));
    }
}

#[test]
fn ocr_reads_the_same_bills_rendered_as_scans() {
    use iap_credits::services::digitization::ocr::{OcrEngine, Tesseract};
    let db = TestDb::new();
    let mut conn = db.conn();
    let tesseract = Tesseract::default();
    let mut score = Score::default();
    let mut misses = Vec::new();
    // Every tenth bill: OCR takes a second or two a page.
    for n in (0..100).step_by(10) {
        let bill = sample_bills::sample(&mut conn, n);
        let png = sample_bills::png(&sample_bills::pdf(&bill));
        let text = tesseract.recognize(&png).unwrap();
        let x = extract::extract(&text);
        let before = score.fields();
        score.add(&bill, &x);
        if score
            .fields()
            .iter()
            .zip(before.iter())
            .any(|(a, b)| a.1 == b.1)
        {
            misses.push(format!("{n}: {x:?}\n{text}"));
        }
    }
    let report = score.report("OCR of scans");
    eprintln!("{report}");
    for (name, n) in score.fields() {
        assert!(n >= 9, "{name}: {report}\n{}", misses.join("\n---\n"));
    }
}

#[test]
fn bills_in_sans_serif_and_monospace_are_read_right_from_their_text_and_their_scans() {
    use iap_credits::services::digitization::ocr::{OcrEngine, Tesseract};
    use sample_bills::SampleFont;
    let db = TestDb::new();
    let mut conn = db.conn();
    let tesseract = Tesseract::default();
    let inspector = inspector();
    let mut failures = Vec::new();
    let mut flagged = Vec::new();
    let (mut readings, mut exact) = (0, 0);
    for font in SampleFont::ALL {
        for n in [3, 7, 10, 14, 19, 23, 26, 31] {
            let bill = sample_bills::sample(&mut conn, n);
            let pdf = sample_bills::pdf_in(&bill, font);
            let from_text = inspector.inspect(&pdf).unwrap().text();
            let from_scan = tesseract.recognize(&sample_bills::png(&pdf)).unwrap();
            for (how, text) in [("text layer", from_text), ("scan", from_scan)] {
                let x = extract::extract(&text);
                if x.invoice_number
                    .as_ref()
                    .is_some_and(|f| f.confidence <= extract::REVIEW)
                {
                    flagged.push(format!("{font:?} {how} {n}: {:?}", x.invoice_number));
                }
                let number = x.invoice_number.as_ref().map(|f| f.value.clone());
                let date = x.invoice_date.as_ref().map(|f| f.value);
                let total = x.total.as_ref().map(|f| f.value);
                // A number read right, or one the page flags for review.
                let number_ok = number.as_deref() == Some(bill.number.as_str())
                    || x.invoice_number
                        .as_ref()
                        .is_some_and(|f| f.confidence <= extract::REVIEW);
                readings += 1;
                exact += (number.as_deref() == Some(bill.number.as_str())) as usize;
                if !number_ok || (date, total) != (Some(bill.date), Some(bill.total_minor)) {
                    failures.push(format!(
                        "{font:?} {how} bill {n}: read {number:?} {date:?} {total:?}, is {} {} {}\n{text}",
                        bill.number, bill.date, bill.total_minor
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
    eprintln!("invoice numbers read exactly: {exact}/{readings}; flagged for review: {flagged:?}");
    // A few, in a typeface with a dotted zero, are misread and flagged; most are read right.
    assert!(exact * 10 >= readings * 9, "{exact}/{readings}");
}

pub fn readers() -> std::sync::Arc<iap_credits::services::digitization::Readers> {
    std::sync::Arc::new(iap_credits::services::digitization::Readers::new(
        inspector(),
        std::sync::Arc::new(iap_credits::services::digitization::ocr::Tesseract::default()),
    ))
}

/// What the reading worker does with what Digitize handed it: every waiting bill read.
fn read_waiting(db: &TestDb) -> usize {
    iap_credits::services::digitization::reading::read_all(&db.pool(), &readers())
        .unwrap()
        .len()
}

#[test]
fn digitize_costs_one_credit_once_and_nothing_for_an_unreadable_file() {
    use crate::fixtures::{Customer, assert_consistent, c, reload};
    use iap_credits::domain::tenancy::{Role, Subscription};
    use iap_credits::services::digitization::{self, Digitized};
    use iap_credits::services::documents;
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let user = customer.user(&mut conn, "ada@example.test", Role::User);
    let account = customer.funded(&mut conn, "documents-digitization", "1");
    let bill = sample_bills::sample(&mut conn, 3);
    let upload = documents::check(&inspector(), "bill.pdf", sample_bills::pdf(&bill)).unwrap();
    let made = digitization::create_bill(&mut conn, customer.database_id, user, &upload).unwrap();

    let digitize = |conn: &mut diesel::PgConnection, id| {
        digitization::digitize(conn, customer.database_id, user, id).unwrap()
    };
    // Digitize hands the bill over: the credit held, nothing read on the request's path.
    assert_eq!(digitize(&mut conn, made.id), Digitized::Reading);
    let held = reload(&mut conn, account.id);
    assert_eq!((held.balance, held.available()), (c("1"), c("0")));
    assert!(digitization::is_being_read(&mut conn, made.id).unwrap());
    assert_eq!(digitize(&mut conn, made.id), Digitized::UnderWay);
    assert_eq!(read_waiting(&db), 1);
    assert!(!digitization::is_being_read(&mut conn, made.id).unwrap());
    assert_eq!(reload(&mut conn, account.id).balance, c("0"));
    let (read, _) = digitization::find(&mut conn, customer.database_id, made.id)
        .unwrap()
        .unwrap();
    assert_eq!(read.status.as_str(), "digitized");
    assert_eq!(read.invoice_number.as_deref(), Some(bill.number.as_str()));
    assert_eq!(read.total_minor, Some(bill.total_minor));
    assert_eq!(read.confidence_of("total"), Some(95));
    // Again: read already, nothing to pay.
    assert_eq!(digitize(&mut conn, made.id), Digitized::AlreadyDigitized);

    // No credits left: refused before anything is read or written.
    let second = digitization::create_bill(&mut conn, customer.database_id, user, &upload).unwrap();
    assert!(matches!(
        digitize(&mut conn, second.id),
        Digitized::InsufficientCredits { account_id, .. } if account_id == account.id
    ));
    assert_eq!(read_waiting(&db), 0);
    customer.funded(&mut conn, "documents-digitization", "1");

    // A PDF with nothing a bill is made of: unreadable, nothing charged.
    let blank = sample_bills::pdf(&SampleBill {
        lines: vec!["Lorem ipsum dolor sit amet, consectetur adipiscing elit.".into()],
        ..bill.clone()
    });
    let upload = documents::check(&inspector(), "notes.pdf", blank.clone()).unwrap();
    let unreadable =
        digitization::create_bill(&mut conn, customer.database_id, user, &upload).unwrap();
    assert_eq!(digitize(&mut conn, unreadable.id), Digitized::Reading);
    assert_eq!(read_waiting(&db), 1);
    let after = reload(&mut conn, account.id);
    assert_eq!((after.balance, after.available()), (c("1"), c("1")));
    let (read, _) = digitization::find(&mut conn, customer.database_id, unreadable.id)
        .unwrap()
        .unwrap();
    assert_eq!(read.status.as_str(), "unreadable");
    // Not read again for free: neither this bill nor the same file uploaded again.
    assert_eq!(digitize(&mut conn, unreadable.id), Digitized::Unreadable);
    let again = documents::check(&inspector(), "notes again.pdf", blank).unwrap();
    let again = digitization::create_bill(&mut conn, customer.database_id, user, &again).unwrap();
    assert_eq!(digitize(&mut conn, again.id), Digitized::Unreadable);
    assert_eq!(read_waiting(&db), 0);

    // An image: OCR, one credit.
    let png = sample_bills::png(&sample_bills::pdf(&bill));
    let upload = documents::check(&inspector(), "scan.png", png).unwrap();
    assert_eq!(upload.media_type, documents::PNG);
    let scan = digitization::create_bill(&mut conn, customer.database_id, user, &upload).unwrap();
    assert_eq!(digitize(&mut conn, scan.id), Digitized::Reading);
    assert_eq!(read_waiting(&db), 1);
    let (read, _) = digitization::find(&mut conn, customer.database_id, scan.id)
        .unwrap()
        .unwrap();
    assert_eq!(read.invoice_number.as_deref(), Some(bill.number.as_str()));
    assert_eq!(reload(&mut conn, account.id).balance, c("0"));
    // Another database's bill is not there.
    let stranger = Customer::new(&mut conn, Subscription::None);
    assert!(
        digitization::find(&mut conn, stranger.database_id, scan.id)
            .unwrap()
            .is_none()
    );
    assert_consistent(&mut conn);
}

#[test]
fn bad_files_are_refused_with_a_clear_error() {
    use iap_credits::services::documents::pdf::PdfError;
    use iap_credits::services::documents::{self, UploadError};
    use lopdf::dictionary;
    use std::io::Write;
    let check =
        |name: &str, content: Vec<u8>| documents::check(&inspector(), name, content).map(|_| ());
    assert_eq!(check("bill.pdf", Vec::new()), Err(UploadError::Empty));
    assert_eq!(
        check("bill.pdf", b"just some text, renamed".to_vec()),
        Err(UploadError::WrongType)
    );
    // A Windows executable renamed .png.
    assert_eq!(
        check("bill.png", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".repeat(10)),
        Err(UploadError::WrongType)
    );
    let mut big = b"%PDF-1.5\n".to_vec();
    big.resize(11 * 1024 * 1024, b' ');
    assert_eq!(check("big.pdf", big), Err(UploadError::TooLarge));
    assert!(matches!(
        check("broken.pdf", b"%PDF-1.5\nthis is not a PDF at all".to_vec()),
        Err(UploadError::Pdf(PdfError::Unreadable(_)))
    ));
    // A decompression bomb: 2 MB that inflate to 2 GB in the page's content stream.
    let mut zeros = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..2048 {
        zeros.write_all(&chunk).unwrap();
    }
    let bomb_stream = zeros.finish().unwrap();
    let mut doc = lopdf::Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let content_id = doc.add_object(
        lopdf::Stream::new(dictionary! { "Filter" => "FlateDecode" }, bomb_stream)
            .with_compression(false),
    );
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    });
    doc.objects.insert(
        pages_id,
        lopdf::Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut bomb = Vec::new();
    doc.save_to(&mut bomb).unwrap();
    assert!(bomb.len() < 10 * 1024 * 1024, "{}", bomb.len());
    let started = std::time::Instant::now();
    let refused = check("bomb.pdf", bomb);
    eprintln!("the bomb: {refused:?} after {:?}", started.elapsed());
    assert!(
        matches!(
            refused,
            Err(UploadError::Pdf(
                PdfError::TooCostly | PdfError::Unreadable(_)
            ))
        ),
        "{refused:?}"
    );
}

#[actix_web::test]
async fn vendor_bills_work_without_javascript() {
    use crate::fixtures::{Customer, PASSWORD, assert_consistent, c, reload};
    use crate::harness::TestApp;
    use actix_web::http::StatusCode;
    use iap_credits::domain::tenancy::{Role, Subscription};
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let customer = Customer::named(&mut conn, "Payables", Subscription::None);
    customer.user(&mut conn, "pat@payables.test", Role::User);
    let browser = app.browser();
    browser.sign_in("pat@payables.test", PASSWORD).await;
    let bill = sample_bills::sample(&mut conn, 8);
    let pdf = sample_bills::pdf(&bill);

    let empty = browser.get("/bills").await;
    assert!(empty.body.contains("No bills yet."), "{}", empty.body);
    // Bad files: the list again, the message next to the file field, nothing stored.
    let renamed = browser
        .upload(
            "/bills",
            "/bills",
            &[],
            ("file", "bill.pdf", b"not a pdf at all"),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(renamed.body.contains("id=\"file-error\""));
    assert!(renamed.body.contains("whatever its name says"));
    let big = vec![b'%'; 11 * 1024 * 1024];
    let too_big = browser
        .upload("/bills", "/bills", &[], ("file", "big.pdf", &big))
        .await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(too_big.body.contains("larger than 10 MB"));
    // Far larger: answered without reading it all.
    let huge = vec![b'%'; 40 * 1024 * 1024];
    let way_too_big = browser
        .upload("/bills", "/bills", &[], ("file", "huge.pdf", &huge))
        .await;
    assert_eq!(way_too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    let nothing = browser
        .upload("/bills", "/bills", &[], ("file", "", b""))
        .await;
    assert_eq!(nothing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(browser.get("/bills").await.body.contains("No bills yet."));

    // Upload, then Digitize with no credits: refused with the Buy link, nothing read.
    let uploaded = browser
        .upload("/bills", "/bills", &[], ("file", "march/bill 8.pdf", &pdf))
        .await;
    assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.body);
    let at = uploaded.location().to_string();
    let page = browser.get(&at).await;
    assert!(
        page.body.contains("bill 8.pdf"),
        "the name without its folder"
    );
    assert!(page.body.contains("Digitize (1 credit)"));
    let short = browser.submit(&at, &format!("{at}/digitize"), &[]).await;
    assert_eq!(short.status, StatusCode::SEE_OTHER);
    let page = browser.get(short.location()).await;
    assert!(page.body.contains("Buy Credits for Documents Digitization"));
    let account = customer.funded(&mut conn, "documents-digitization", "2");
    let done = browser.submit(&at, &format!("{at}/digitize"), &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    // Handed to the reading worker: the page says so (and asks again by itself, with script).
    let page = browser.get(&at).await;
    assert!(page.body.contains("Reading…"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("data-reading=\"{at}/reading\""))
    );
    let asked = browser.get(&format!("{at}/reading")).await;
    assert_eq!(asked.body, r#"{"reading":true}"#);
    assert_eq!(read_waiting(&app.db), 1);
    let asked = browser.get(&format!("{at}/reading")).await;
    assert_eq!(asked.body, r#"{"reading":false}"#);
    let page = browser.get(&at).await;
    assert!(
        page.body.contains(&format!("value=\"{}\"", bill.number)),
        "{}",
        page.body
    );
    assert!(page.body.contains("95% sure"));
    assert_eq!(reload(&mut conn, account.id).balance, c("1"));
    // Posted again (a double click): read already, nothing charged.
    browser.submit(&at, &format!("{at}/digitize"), &[]).await;
    assert_eq!(read_waiting(&app.db), 0);
    assert_eq!(reload(&mut conn, account.id).balance, c("1"));

    // The review: a bad date and VAT come back with their messages and values; then saved.
    let bad = browser
        .submit(
            &at,
            &at,
            &[
                ("vendor", "Fixed Vendor SA"),
                ("invoice_date", "14 March"),
                ("vat", "BE0123456789"),
                ("total", "12.5x"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Enter a date as YYYY-MM-DD."));
    assert!(bad.body.contains("fails its country"));
    assert!(bad.body.contains("value=\"Fixed Vendor SA\""));
    let saved = browser
        .submit(
            &at,
            &at,
            &[
                ("vendor", "Fixed Vendor SA"),
                ("invoice_number", &bill.number),
                ("invoice_date", "2026-03-14"),
                ("currency", "eur"),
                ("total", "1190.00"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let list = browser.get("/bills").await;
    assert!(list.body.contains("Fixed Vendor SA"));
    assert!(list.body.contains("EUR 1,190.00"));

    // The file: to its database only, as a file, never as a page of the site.
    let file = browser.get(&format!("{at}/file")).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.header("content-type"), "application/pdf");
    assert!(file.header("content-security-policy").contains("sandbox"));
    assert_eq!(file.bytes, pdf);
    let other = Customer::named(&mut conn, "Elsewhere Ltd", Subscription::None);
    other.user(&mut conn, "eve@elsewhere.test", Role::User);
    let eve = app.browser();
    eve.sign_in("eve@elsewhere.test", PASSWORD).await;
    assert_eq!(
        eve.get(&format!("{at}/file")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(eve.get(&at).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        eve.submit("/bills", &format!("{at}/digitize"), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_consistent(&mut conn);
}

#[test]
fn a_scanned_pdf_is_read_by_ocr_of_its_pages() {
    use crate::fixtures::{Customer, c, reload};
    use iap_credits::domain::tenancy::{Role, Subscription};
    use iap_credits::services::digitization::{self, Digitized};
    use iap_credits::services::documents;
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let user = customer.user(&mut conn, "ada@example.test", Role::User);
    let account = customer.funded(&mut conn, "documents-digitization", "1");
    let bill = sample_bills::sample(&mut conn, 17);
    let scan = sample_bills::scanned_pdf(&bill);
    let upload = documents::check(&inspector(), "scan.pdf", scan).unwrap();
    let facts = upload.pdf.as_ref().unwrap();
    assert!(facts.text().trim().is_empty(), "no text layer");
    assert_eq!(facts.scanned_pages, vec![0]);
    let made = digitization::create_bill(&mut conn, customer.database_id, user, &upload).unwrap();
    assert_eq!(
        digitization::digitize(&mut conn, customer.database_id, user, made.id).unwrap(),
        Digitized::Reading
    );
    assert_eq!(read_waiting(&db), 1);
    assert_eq!(reload(&mut conn, account.id).balance, c("0"));
    let (read, _) = digitization::find(&mut conn, customer.database_id, made.id)
        .unwrap()
        .unwrap();
    let text = read.extracted_text.clone().unwrap_or_default();
    assert_eq!(
        read.invoice_number.as_deref(),
        Some(bill.number.as_str()),
        "{text}"
    );
    assert_eq!(read.total_minor, Some(bill.total_minor), "{text}");
}

#[test]
fn digitize_pressed_twice_at_once_is_charged_once() {
    use crate::fixtures::{Customer, c, reload};
    use iap_credits::domain::tenancy::{Role, Subscription};
    use iap_credits::services::digitization::{self, Digitized};
    use iap_credits::services::documents;
    use std::sync::{Arc, Barrier};
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let user = customer.user(&mut conn, "ada@example.test", Role::User);
    let account = customer.funded(&mut conn, "documents-digitization", "5");
    let bill = sample_bills::sample(&mut conn, 5);
    let upload = documents::check(&inspector(), "bill.pdf", sample_bills::pdf(&bill)).unwrap();
    let made = digitization::create_bill(&mut conn, customer.database_id, user, &upload).unwrap();
    let start = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (pool, start) = (db.pool(), start.clone());
            let database_id = customer.database_id;
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                start.wait();
                digitization::digitize(&mut conn, database_id, user, made.id).unwrap()
            })
        })
        .collect();
    let outcomes: Vec<Digitized> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let begun = outcomes
        .iter()
        .filter(|o| matches!(o, Digitized::Reading))
        .count();
    assert_eq!(begun, 1, "{outcomes:?}");
    assert_eq!(read_waiting(&db), 1);
    assert_eq!(reload(&mut conn, account.id).balance, c("4"));
}

//! Documents Digitization: the extractor on generated bills (text layer and OCR), Digitize on
//! the paid-service steps (1 credit, nothing for an unreadable file), and uploads checked by
//! content.

use iap_credits::digitization::extract::{self, Extracted};
use iap_credits::documents::pdf::PdfInspector;

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
    use iap_credits::digitization::ocr::{OcrEngine, Tesseract};
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

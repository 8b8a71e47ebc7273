//! Documents Digitization, in a **Vendor Bills** app: a bill is an uploaded PDF, PNG or JPEG;
//! **Digitize** reads its fields for the catalog's price per document, on the common
//! paid-service steps:
//!
//! - **begin**: the price is held and the digitization recorded;
//! - **perform**: the text is read with no transaction open — a PDF's text layer (in a limited
//!   child process), or OCR of an image or a scanned PDF's pages — and the fields found
//!   (`extract`) are saved on the bill in one short transaction;
//! - **settle**: a digitization that read the bill is charged; one that found nothing readable
//!   costs nothing (its hold is cancelled) and says so.
//!
//! The user reviews and corrects the fields afterwards. Owner of `vendor_bills` and
//! `digitizations`.

pub mod extract;
pub mod ocr;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::json;

use crate::catalog::usage_prices;
use crate::credits::Credits;
use crate::documents::pdf::PdfInspector;
use crate::documents::{self, CheckedUpload, Document};
use crate::forms::{FieldErrors, FormError};
use crate::ids::{AccountId, DatabaseId, UserId};
use crate::ledger::Actor;
use crate::metering::{self, Job, MeteringError, PaidService, PerformError, Request};
use crate::schema::{digitizations, documents as documents_table, vendor_bills};
use ocr::OcrEngine;

pub const SERVICE: &str = "documents-digitization";
/// Bills per page of the list.
pub const PAGE_SIZE: crate::pagination::Keyset = crate::pagination::Keyset(50);
/// Fewer letters and digits than this in a PDF's text layer: it is a scan, read by OCR.
const MIN_TEXT: usize = 20;

fn hold_ttl() -> Duration {
    metering::LEASE * (metering::MAX_ATTEMPTS as u32 + 1)
}

/// What reads documents: the PDF inspector and the OCR engine.
#[derive(Clone)]
pub struct Readers {
    pub pdf: PdfInspector,
    pub ocr: Arc<dyn OcrEngine>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = vendor_bills, check_for_backend(diesel::pg::Pg))]
pub struct VendorBill {
    pub id: i64,
    pub database_id: DatabaseId,
    pub document_id: i64,
    pub status: String,
    pub vendor: Option<String>,
    pub invoice_number: Option<String>,
    pub invoice_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub currency: Option<String>,
    pub total_minor: Option<i64>,
    pub tax_minor: Option<i64>,
    pub vat: Option<String>,
    pub confidence: serde_json::Value,
    pub extracted_text: Option<String>,
    pub reviewed: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl VendorBill {
    /// The confidence of a field read by digitization, if it was.
    pub fn confidence_of(&self, field: &str) -> Option<u64> {
        self.confidence.get(field).and_then(|c| c.as_u64())
    }

    /// "1,190.00" for 119000 minor units.
    pub fn amount_text(minor: Option<i64>) -> String {
        minor
            .map(|m| {
                let whole = crate::credits::group_thousands((m / 100) as u64);
                format!("{whole}.{:02}", m % 100)
            })
            .unwrap_or_default()
    }
}

/// Uploads a bill: the checked file and its bill (a draft), together.
pub fn create_bill(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    uploaded_by: UserId,
    upload: &CheckedUpload,
) -> QueryResult<VendorBill> {
    conn.transaction(|conn| {
        let document = documents::store(conn, database_id, Some(uploaded_by), upload)?;
        diesel::insert_into(vendor_bills::table)
            .values((
                vendor_bills::database_id.eq(database_id),
                vendor_bills::document_id.eq(document.id),
            ))
            .returning(VendorBill::as_returning())
            .get_result(conn)
    })
}

/// A page of the database's bills, newest first, with their files.
pub fn list(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    before: Option<i64>,
) -> QueryResult<Vec<(VendorBill, Document)>> {
    let mut query = vendor_bills::table
        .inner_join(documents_table::table)
        .filter(vendor_bills::database_id.eq(database_id))
        .order(vendor_bills::id.desc())
        .limit(PAGE_SIZE.fetch())
        .select((VendorBill::as_select(), Document::as_select()))
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(vendor_bills::id.lt(before));
    }
    query.load(conn)
}

/// The database's bill `id` with its file: `None` for another database's.
pub fn find(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    id: i64,
) -> QueryResult<Option<(VendorBill, Document)>> {
    vendor_bills::table
        .inner_join(documents_table::table)
        .filter(vendor_bills::database_id.eq(database_id))
        .filter(vendor_bills::id.eq(id))
        .select((VendorBill::as_select(), Document::as_select()))
        .first(conn)
        .optional()
}

#[derive(Debug, Clone, PartialEq)]
pub enum Digitized {
    /// Read, and the price spent.
    Done(Credits),
    /// Nothing a bill is made of was found: nothing charged.
    Unreadable,
    /// Read before: nothing to do, nothing to pay.
    AlreadyDigitized,
    /// The reader failed for a passing reason: the credit stays held, the worker tries again.
    UnderWay,
    /// Too few credits: nothing held, nothing read.
    InsufficientCredits {
        account_id: AccountId,
        available: Credits,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DigitizeError {
    #[error("no such bill")]
    NotFound,
    #[error(transparent)]
    Metering(MeteringError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

impl From<MeteringError> for DigitizeError {
    fn from(e: MeteringError) -> Self {
        match e {
            MeteringError::Database(e) => DigitizeError::Database(e),
            other => DigitizeError::Metering(other),
        }
    }
}

/// **Digitize**: reads the bill's fields for the price of one document.
pub fn digitize(
    conn: &mut PgConnection,
    readers: &Arc<Readers>,
    database_id: DatabaseId,
    user_id: UserId,
    bill_id: i64,
) -> Result<Digitized, DigitizeError> {
    let (bill, document) = find(conn, database_id, bill_id)?.ok_or(DigitizeError::NotFound)?;
    if bill.status == "digitized" {
        return Ok(Digitized::AlreadyDigitized);
    }
    let price = usage_prices::price(conn, SERVICE, usage_prices::DOCUMENT)?;
    let actor = Actor::user(user_id);
    let description = format!("Digitization: {}", document.file_name);
    let request = Request {
        database_id,
        service: SERVICE,
        credits: price,
        hold_ttl: hold_ttl(),
        description: &description,
        actor: &actor,
    };
    let begun = metering::begin(conn, &request, |conn, job| {
        diesel::insert_into(digitizations::table)
            .values((
                digitizations::job_id.eq(job.id),
                digitizations::database_id.eq(database_id),
                digitizations::bill_id.eq(bill_id),
                digitizations::requested_by.eq(user_id),
                digitizations::price.eq(price),
            ))
            .execute(conn)
    });
    let job = match begun {
        Ok((job, _)) => job,
        Err(MeteringError::InsufficientCredits {
            account_id,
            available,
            ..
        }) => {
            return Ok(Digitized::InsufficientCredits {
                account_id,
                available,
            });
        }
        // Digitize pressed twice at once: the other request reads it (and is charged).
        Err(MeteringError::Database(e)) if crate::db::is_unique_violation(&e) => {
            let (bill, _) = find(conn, database_id, bill_id)?.ok_or(DigitizeError::NotFound)?;
            return Ok(if bill.status == "digitized" {
                Digitized::AlreadyDigitized
            } else {
                Digitized::UnderWay
            });
        }
        Err(e) => return Err(e.into()),
    };
    metering::run(conn, &DigitizationWorker(readers.clone()), job.id)?;
    let status: String = digitizations::table
        .filter(digitizations::job_id.eq(job.id))
        .select(digitizations::status)
        .first(conn)?;
    Ok(match status.as_str() {
        "done" => Digitized::Done(price),
        "unreadable" => Digitized::Unreadable,
        _ => Digitized::UnderWay,
    })
}

/// Why the text could not be read at all.
enum ReadError {
    /// The document itself: nothing to read (a broken PDF, an empty page).
    Unreadable(String),
    /// The reader: try again later.
    Passing(String),
}

/// The document's text: the PDF's text layer, else OCR of its scanned pages or of the image.
fn read_text(readers: &Readers, document: &Document, content: &[u8]) -> Result<String, ReadError> {
    let ocr = |image: &[u8]| {
        readers
            .ocr
            .recognize(image)
            .map_err(|e| ReadError::Passing(e.to_string()))
    };
    if document.is_pdf() {
        let facts = readers
            .pdf
            .inspect(content)
            .map_err(|e| ReadError::Unreadable(e.to_string()))?;
        let text = facts.text();
        if text.chars().filter(|c| c.is_alphanumeric()).count() >= MIN_TEXT {
            return Ok(text);
        }
        let mut pages = Vec::new();
        for image in facts.jpeg_images() {
            pages.push(ocr(&image)?);
        }
        Ok(pages.join("\n"))
    } else {
        ocr(content)
    }
}

/// The worker's Documents Digitization: the reading and what a job used.
pub struct DigitizationWorker(pub Arc<Readers>);

impl PaidService for DigitizationWorker {
    fn slug(&self) -> &'static str {
        SERVICE
    }

    fn perform(&self, conn: &mut PgConnection, job: &Job) -> Result<(), PerformError> {
        let pending: Vec<(i64, i64)> = digitizations::table
            .filter(digitizations::job_id.eq(job.id))
            .filter(digitizations::status.eq("pending"))
            .select((digitizations::id, digitizations::bill_id))
            .load(conn)?;
        for (id, bill_id) in pending {
            let Some((bill, document)) = find(conn, job.database_id, bill_id)? else {
                continue;
            };
            let content = documents::content(conn, job.database_id, document.id)?
                .ok_or_else(|| PerformError("the bill's file is gone".into()))?;
            // Read with no transaction open; saved in a short one.
            let (text, fields) = match read_text(&self.0, &document, &content) {
                Ok(text) => {
                    let fields = extract::extract(&text);
                    (text, fields)
                }
                Err(ReadError::Unreadable(why)) => (why, extract::Extracted::default()),
                Err(ReadError::Passing(why)) => return Err(PerformError(why)),
            };
            conn.transaction(|conn| save_reading(conn, id, &bill, &text, &fields))?;
        }
        Ok(())
    }

    fn settle(&self, conn: &mut PgConnection, job: &Job, giving_up: bool) -> QueryResult<Credits> {
        if giving_up {
            diesel::update(
                digitizations::table
                    .filter(digitizations::job_id.eq(job.id))
                    .filter(digitizations::status.eq("pending")),
            )
            .set(digitizations::status.eq("failed"))
            .execute(conn)?;
        }
        let prices: Vec<Credits> = digitizations::table
            .filter(digitizations::job_id.eq(job.id))
            .filter(digitizations::status.eq("done"))
            .select(digitizations::price)
            .load(conn)?;
        Ok(prices.into_iter().sum())
    }
}

/// Saves what a digitization read on its bill, once (the digitization must still be pending).
fn save_reading(
    conn: &mut PgConnection,
    digitization_id: i64,
    bill: &VendorBill,
    text: &str,
    fields: &extract::Extracted,
) -> QueryResult<()> {
    let pending: Option<i64> = digitizations::table
        .find(digitization_id)
        .filter(digitizations::status.eq("pending"))
        .select(digitizations::id)
        .for_update()
        .first(conn)
        .optional()?;
    if pending.is_none() {
        return Ok(());
    }
    let text: String = text.chars().take(100_000).collect();
    if fields.is_unreadable() {
        diesel::update(vendor_bills::table.find(bill.id))
            .set((
                vendor_bills::status.eq("unreadable"),
                vendor_bills::extracted_text.eq(&text),
                vendor_bills::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
        diesel::update(digitizations::table.find(digitization_id))
            .set(digitizations::status.eq("unreadable"))
            .execute(conn)?;
        return Ok(());
    }
    let value = |f: &Option<extract::Field<String>>, max: usize| {
        f.as_ref()
            .map(|f| f.value.chars().take(max).collect::<String>())
    };
    diesel::update(vendor_bills::table.find(bill.id))
        .set((
            vendor_bills::status.eq("digitized"),
            vendor_bills::vendor.eq(value(&fields.vendor, 200)),
            vendor_bills::invoice_number.eq(value(&fields.invoice_number, 100)),
            vendor_bills::invoice_date.eq(fields.invoice_date.as_ref().map(|f| f.value)),
            vendor_bills::due_date.eq(fields.due_date.as_ref().map(|f| f.value)),
            vendor_bills::currency.eq(value(&fields.currency, 3)),
            vendor_bills::total_minor.eq(fields.total.as_ref().map(|f| f.value)),
            vendor_bills::tax_minor.eq(fields.tax.as_ref().map(|f| f.value)),
            vendor_bills::vat.eq(value(&fields.vat, 20)),
            vendor_bills::confidence.eq(json!(fields.confidences())),
            vendor_bills::extracted_text.eq(&text),
            vendor_bills::reviewed.eq(false),
            vendor_bills::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    diesel::update(digitizations::table.find(digitization_id))
        .set(digitizations::status.eq("done"))
        .execute(conn)?;
    Ok(())
}

/// The review form as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct BillInput {
    #[serde(default)]
    pub vendor: String,
    #[serde(default)]
    pub invoice_number: String,
    #[serde(default)]
    pub invoice_date: String,
    #[serde(default)]
    pub due_date: String,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub total: String,
    #[serde(default)]
    pub tax: String,
    #[serde(default)]
    pub vat: String,
}

impl BillInput {
    pub fn from_bill(bill: &VendorBill) -> Self {
        let amount = |m: Option<i64>| m.map(|m| format!("{}.{:02}", m / 100, m % 100));
        BillInput {
            vendor: bill.vendor.clone().unwrap_or_default(),
            invoice_number: bill.invoice_number.clone().unwrap_or_default(),
            invoice_date: bill.invoice_date.map(|d| d.to_string()).unwrap_or_default(),
            due_date: bill.due_date.map(|d| d.to_string()).unwrap_or_default(),
            currency: bill.currency.clone().unwrap_or_default(),
            total: amount(bill.total_minor).unwrap_or_default(),
            tax: amount(bill.tax_minor).unwrap_or_default(),
            vat: bill.vat.clone().unwrap_or_default(),
        }
    }
}

fn optional(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The user's review: the fields as corrected, each checked.
pub fn save_review(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    bill_id: i64,
    input: &BillInput,
) -> Result<VendorBill, FormError> {
    let mut errors = FieldErrors::default();
    let mut text = |field: &'static str, value: &str, max: usize, label: &str| {
        let v = optional(value);
        if v.as_ref().is_some_and(|v| v.chars().count() > max) {
            errors.add(field, format!("The {label} is at most {max} characters."));
        }
        v
    };
    let vendor = text("vendor", &input.vendor, 200, "vendor");
    let number = text(
        "invoice_number",
        &input.invoice_number,
        100,
        "invoice number",
    );
    let mut date = |field: &'static str, value: &str| {
        optional(value).and_then(|v| match NaiveDate::parse_from_str(&v, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                errors.add(field, "Enter a date as YYYY-MM-DD.");
                None
            }
        })
    };
    let invoice_date = date("invoice_date", &input.invoice_date);
    let due_date = date("due_date", &input.due_date);
    let currency = optional(&input.currency).map(|c| c.to_uppercase());
    if currency
        .as_ref()
        .is_some_and(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        errors.add(
            "currency",
            "Use the currency's three-letter code, e.g. EUR.",
        );
    }
    let mut amount = |field: &'static str, value: &str| {
        optional(value).and_then(|v| match crate::money::Price::parse_minor(&v) {
            Ok(m) if m >= 0 => Some(m),
            _ => {
                errors.add(field, "Enter an amount such as 1190.00.");
                None
            }
        })
    };
    let total = amount("total", &input.total);
    let tax = amount("tax", &input.tax);
    let vat = optional(&input.vat).map(|v| {
        v.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_uppercase()
    });
    if let Some(v) = &vat
        && !crate::directory::generate::COUNTRIES
            .iter()
            .any(|c| crate::directory::vat::is_valid(c.code, v))
    {
        errors.add("vat", "This VAT number fails its country's check.");
    }
    errors.into_result().map_err(FormError::Invalid)?;
    let updated = diesel::update(
        vendor_bills::table
            .filter(vendor_bills::database_id.eq(database_id))
            .filter(vendor_bills::id.eq(bill_id)),
    )
    .set((
        vendor_bills::vendor.eq(vendor),
        vendor_bills::invoice_number.eq(number),
        vendor_bills::invoice_date.eq(invoice_date),
        vendor_bills::due_date.eq(due_date),
        vendor_bills::currency.eq(currency),
        vendor_bills::total_minor.eq(total),
        vendor_bills::tax_minor.eq(tax),
        vendor_bills::vat.eq(vat),
        vendor_bills::reviewed.eq(true),
        vendor_bills::updated_at.eq(diesel::dsl::now),
    ))
    .returning(VendorBill::as_returning())
    .get_result(conn)
    .optional()?;
    updated.ok_or(FormError::NotFound)
}

//! Documents Digitization, in a **Vendor Bills** app: a bill is an uploaded PDF, PNG or JPEG;
//! **Digitize** reads its fields for the catalog's price per document, on the common
//! paid-service steps:
//!
//! - **begin** (the request): the price is held and the digitization recorded; the page says
//!   "reading…" and the request is over;
//! - **read** (`reading`, off the request path): the reading worker takes the digitization,
//!   reads the text holding no database connection — the PDF's text layer kept at upload, or
//!   OCR of an image or of a scanned PDF's first pages, each under a wall-clock limit — and
//!   saves the fields found (`extract`) on the bill in one short transaction;
//! - **settle**: a digitization that read the bill is charged; one that found nothing readable
//!   costs nothing (its hold is cancelled) and says so. The same file is not read again for
//!   free: an unreadable file asks for a new upload.
//!
//! The user reviews and corrects the fields afterwards. Owner of `vendor_bills` and
//! `digitizations`.

pub mod extract;
pub mod history;
pub mod ocr;
pub mod reading;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::json;

use crate::domain::catalog::usage_prices;
use crate::domain::ledger::Actor;
use crate::domain::metering::{self, Job, MeteringError, PaidService, PerformError, Request};
use crate::kernel::credits::Credits;
use crate::kernel::forms::{FieldErrors, FormError};
use crate::kernel::ids::{
    AccountId, BillId, DatabaseId, DigitizationId, DocumentId, JobId, UserId,
};
use crate::platform::schema::{digitizations, documents as documents_table, vendor_bills};
use crate::services::documents::gate::ReaderGate;
use crate::services::documents::pdf::PdfInspector;
use crate::services::documents::{self, CheckedUpload, Document};
use ocr::OcrEngine;

pub const SERVICE: &str = "documents-digitization";

crate::sql_text_enum! {
    /// Where a vendor bill is: uploaded, read, or found unreadable.
    pub enum BillStatus {
        Draft => "draft",
        Digitized => "digitized",
        Unreadable => "unreadable",
    }
}

crate::sql_text_enum! {
    /// Where a digitization (one paid reading of a bill) is.
    pub enum DigitizationStatus {
        /// Paid for by a hold; waiting for the reading worker.
        Pending => "pending",
        /// Read: the fields are on the bill, and it is charged.
        Done => "done",
        /// Read, and nothing a bill is made of was found: not charged.
        Unreadable => "unreadable",
        /// The reader gave up (or the job did): not charged.
        Failed => "failed",
    }
}
/// Bills per page of the list.
pub const PAGE_SIZE: crate::kernel::pagination::Keyset = crate::kernel::pagination::Keyset(50);

fn hold_ttl() -> Duration {
    metering::LEASE * (metering::MAX_ATTEMPTS as u32 + 1)
}

/// Digitizations one database may have being read at once: more waits for those.
pub const MAX_READING_PER_DATABASE: i64 = 3;
/// Readings of one file that failed (the reader gave up) before it is not read again for free.
const MAX_FAILED_READINGS: i64 = 2;

/// What reads documents: the PDF inspector, the gate uploads are read through, the OCR engine,
/// and the reading worker's doorbell (rung when a digitization is begun).
#[derive(Clone)]
pub struct Readers {
    pub pdf: PdfInspector,
    pub gate: ReaderGate,
    pub ocr: Arc<dyn OcrEngine>,
    pub doorbell: Arc<tokio::sync::Notify>,
}

impl Readers {
    pub fn new(pdf: PdfInspector, ocr: Arc<dyn OcrEngine>) -> Self {
        Readers {
            pdf,
            gate: ReaderGate::default(),
            ocr,
            doorbell: Arc::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = vendor_bills, check_for_backend(diesel::pg::Pg))]
pub struct VendorBill {
    pub id: BillId,
    pub database_id: DatabaseId,
    pub document_id: DocumentId,
    pub status: BillStatus,
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
                let whole = crate::kernel::credits::group_thousands((m / 100) as u64);
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
    before: Option<BillId>,
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
    id: BillId,
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
    /// Begun: the price held, the bill given to the reading worker.
    Reading,
    /// Read before: nothing to do, nothing to pay.
    AlreadyDigitized,
    /// A reading of this bill is under way: the fields appear when it is done.
    UnderWay,
    /// This file (the bill's, or the same content uploaded again) was read before and nothing
    /// could be read from it, or the reader failed on it twice: it is not read again for free.
    Unreadable,
    /// The database has `MAX_READING_PER_DATABASE` bills being read: nothing held.
    TooManyReading,
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

crate::from_metering_error!(DigitizeError);

/// A digitization as it is written when its price is held.
#[derive(Insertable)]
#[diesel(table_name = digitizations, check_for_backend(diesel::pg::Pg))]
struct NewDigitization {
    job_id: JobId,
    database_id: DatabaseId,
    bill_id: BillId,
    requested_by: Option<UserId>,
    price: Credits,
}

/// **Digitize**: begins reading the bill's fields for the price of one document. The reading
/// worker (`reading::read_next`) reads it; ring `Readers::doorbell` after this returns.
pub fn digitize(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    user_id: UserId,
    bill_id: BillId,
) -> Result<Digitized, DigitizeError> {
    let (bill, document) = find(conn, database_id, bill_id)?.ok_or(DigitizeError::NotFound)?;
    match bill.status {
        BillStatus::Digitized => return Ok(Digitized::AlreadyDigitized),
        BillStatus::Unreadable => return Ok(Digitized::Unreadable),
        BillStatus::Draft => {}
    }
    if is_being_read(conn, bill_id)? {
        return Ok(Digitized::UnderWay);
    }
    if same_file_cannot_be_read(conn, database_id, &document.sha256)? {
        return Ok(Digitized::Unreadable);
    }
    if being_read_in(conn, database_id)? >= MAX_READING_PER_DATABASE {
        return Ok(Digitized::TooManyReading);
    }
    let price = usage_prices::price(conn, SERVICE, usage_prices::DOCUMENT)?;
    let actor = Actor::user(user_id);
    let description = format!("Digitization: {}", document.file_name);
    let request = Request {
        database_id,
        account: None,
        service: &DigitizationWorker,
        credits: price,
        hold_ttl: hold_ttl(),
        description: &description,
        actor: &actor,
    };
    let begun = metering::begin(conn, &request, |conn, job| {
        // The reading worker runs this job; the outbox worker only finishes what it left.
        metering::hand_over_after(conn, job, reading::GRACE)?;
        diesel::insert_into(digitizations::table)
            .values(NewDigitization {
                job_id: job.id,
                database_id,
                bill_id,
                requested_by: Some(user_id),
                price,
            })
            .execute(conn)
    });
    match begun {
        Ok(_) => Ok(Digitized::Reading),
        Err(MeteringError::InsufficientCredits {
            account_id,
            available,
            ..
        }) => Ok(Digitized::InsufficientCredits {
            account_id,
            available,
        }),
        // Digitize pressed twice at once: the other request's reading is the one.
        Err(MeteringError::Database(e)) if crate::platform::db::is_unique_violation(&e) => {
            Ok(Digitized::UnderWay)
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether a digitization of the bill is being read.
pub fn is_being_read(conn: &mut PgConnection, bill_id: BillId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        digitizations::table
            .filter(digitizations::bill_id.eq(bill_id))
            .filter(digitizations::status.eq(DigitizationStatus::Pending)),
    ))
    .get_result(conn)
}

/// How many of the database's digitizations are being read.
fn being_read_in(conn: &mut PgConnection, database_id: DatabaseId) -> QueryResult<i64> {
    digitizations::table
        .filter(digitizations::status.eq(DigitizationStatus::Pending))
        .filter(digitizations::database_id.eq(database_id))
        .count()
        .get_result(conn)
}

/// Whether a file with this content was found unreadable in the database, or failed the reader
/// `MAX_FAILED_READINGS` times: reading it again would cost the reader and find nothing.
fn same_file_cannot_be_read(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    sha256: &str,
) -> QueryResult<bool> {
    let outcomes: Vec<DigitizationStatus> = digitizations::table
        .inner_join(vendor_bills::table.inner_join(documents_table::table))
        .filter(digitizations::database_id.eq(database_id))
        .filter(documents_table::sha256.eq(sha256))
        .filter(
            digitizations::status
                .eq_any([DigitizationStatus::Unreadable, DigitizationStatus::Failed]),
        )
        .select(digitizations::status)
        .load(conn)?;
    let failed = outcomes
        .iter()
        .filter(|s| **s == DigitizationStatus::Failed)
        .count() as i64;
    Ok(outcomes.contains(&DigitizationStatus::Unreadable) || failed >= MAX_FAILED_READINGS)
}

/// The worker's Documents Digitization: the reading worker reads; this finishes the job with
/// what was read (or, after the reading worker's grace, gives it up).
pub struct DigitizationWorker;

impl PaidService for DigitizationWorker {
    fn slug(&self) -> &'static str {
        SERVICE
    }

    fn perform(&self, conn: &mut PgConnection, job: &Job) -> Result<(), PerformError> {
        let unread: i64 = digitizations::table
            .filter(digitizations::job_id.eq(job.id))
            .filter(digitizations::status.eq(DigitizationStatus::Pending))
            .count()
            .get_result(conn)?;
        if unread > 0 {
            return Err(PerformError("the bill is still being read".into()));
        }
        Ok(())
    }

    fn close_unfinished(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<()> {
        diesel::update(
            digitizations::table
                .filter(digitizations::job_id.eq(job.id))
                .filter(digitizations::status.eq(DigitizationStatus::Pending)),
        )
        .set((
            digitizations::status.eq(DigitizationStatus::Failed),
            digitizations::error.eq("not read in time"),
        ))
        .execute(conn)
        .map(drop)
    }

    fn used(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<Credits> {
        let prices: Vec<Credits> = digitizations::table
            .filter(digitizations::job_id.eq(job.id))
            .filter(digitizations::status.eq(DigitizationStatus::Done))
            .select(digitizations::price)
            .load(conn)?;
        Ok(prices.into_iter().sum())
    }
}

/// Saves what a digitization read on its bill, once (the digitization must still be pending).
pub(crate) fn save_reading(
    conn: &mut PgConnection,
    digitization_id: DigitizationId,
    bill_id: BillId,
    text: &str,
    fields: &extract::Extracted,
) -> QueryResult<()> {
    let pending: Option<i64> = digitizations::table
        .find(digitization_id)
        .filter(digitizations::status.eq(DigitizationStatus::Pending))
        .select(digitizations::id)
        .for_update()
        .first(conn)
        .optional()?;
    if pending.is_none() {
        return Ok(());
    }
    let text: String = text.chars().take(100_000).collect();
    if fields.is_unreadable() {
        diesel::update(vendor_bills::table.find(bill_id))
            .set((
                vendor_bills::status.eq(BillStatus::Unreadable),
                vendor_bills::extracted_text.eq(&text),
                vendor_bills::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
        diesel::update(digitizations::table.find(digitization_id))
            .set(digitizations::status.eq(DigitizationStatus::Unreadable))
            .execute(conn)?;
        return Ok(());
    }
    let value = |f: &Option<extract::Field<String>>, max: usize| {
        f.as_ref()
            .map(|f| f.value.chars().take(max).collect::<String>())
    };
    diesel::update(vendor_bills::table.find(bill_id))
        .set((
            vendor_bills::status.eq(BillStatus::Digitized),
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
        .set(digitizations::status.eq(DigitizationStatus::Done))
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
    bill_id: BillId,
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
        optional(value).and_then(|v| match crate::kernel::money::Price::parse_minor(&v) {
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
        && !crate::services::directory::data::COUNTRIES
            .iter()
            .any(|c| crate::services::directory::vat::is_valid(c.code, v))
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

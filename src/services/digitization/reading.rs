//! The reading worker: reads the bills that **Digitize** handed over, off the request path. It
//! leases one pending digitization, loads what to read, gives its database connection back,
//! reads (the text layer kept at upload, or OCR of the image or of a scanned PDF's first
//! pages, each run under a wall-clock limit), then saves the fields and settles the job in
//! short transactions. A crash leaves the lease to run out and the next worker reads it again;
//! a reading that fails `MAX_READS` times is closed as failed and costs nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{DigitizationStatus, DigitizationWorker, Readers, extract, save_reading};
use crate::domain::metering;
use crate::kernel::ids::{BillId, DatabaseId, DigitizationId, DocumentId, JobId};
use crate::platform::db::DbPool;
use crate::platform::schema::{digitizations, documents as documents_table, vendor_bills};
use crate::services::documents::{self, PDF};

/// How long the reading worker has a digitization's job before the outbox worker may finish
/// it (and, if it is still unread then, give it up).
pub const GRACE: Duration = Duration::from_secs(20 * 60);
/// How long one reading may take before another worker may take it over: more than OCR of
/// `MAX_OCR_PAGES` pages at its wall-clock limit.
const LEASE: Duration = Duration::from_secs(5 * 60);
/// Readings of one digitization before it is given up.
pub const MAX_READS: i32 = 3;
/// The wait before a reading that failed for a passing reason is tried again.
const RETRY_DELAY: Duration = Duration::from_secs(30);
/// A scanned PDF's pages read by OCR: a bill's fields are on its first pages.
pub const MAX_OCR_PAGES: usize = 5;
/// Fewer letters and digits than this in a PDF's text layer: it is a scan, read by OCR.
const MIN_TEXT: usize = 20;

/// A digitization leased to this worker.
#[derive(Debug, Clone, Queryable)]
struct Claimed {
    id: DigitizationId,
    job_id: JobId,
    database_id: DatabaseId,
    bill_id: BillId,
    read_attempts: i32,
}

/// What one call of `read_next` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Read (fields found, or nothing readable) and settled.
    Read { digitization_id: DigitizationId },
    /// The reader failed for a passing reason: tried again later.
    Retried { digitization_id: DigitizationId },
    /// Failed `MAX_READS` times: closed as failed, nothing charged.
    GaveUp { digitization_id: DigitizationId },
}

#[derive(Debug, thiserror::Error)]
pub enum ReadingError {
    #[error(transparent)]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Metering(#[from] metering::MeteringError),
}

/// Leases the oldest pending digitization not leased to a live worker, its attempt counted.
fn claim(conn: &mut PgConnection, now: DateTime<Utc>) -> QueryResult<Option<Claimed>> {
    conn.transaction(|conn| {
        let found: Option<i64> = digitizations::table
            .filter(digitizations::status.eq(DigitizationStatus::Pending))
            .filter(
                digitizations::reading_until
                    .is_null()
                    .or(digitizations::reading_until.lt(now)),
            )
            .order(digitizations::id)
            .select(digitizations::id)
            .for_update()
            .skip_locked()
            .first(conn)
            .optional()?;
        let Some(id) = found else { return Ok(None) };
        let lease = chrono::Duration::from_std(LEASE).unwrap_or_default();
        diesel::update(digitizations::table.find(id))
            .set((
                digitizations::reading_until.eq(now + lease),
                digitizations::read_attempts.eq(digitizations::read_attempts + 1),
            ))
            .returning((
                digitizations::id,
                digitizations::job_id,
                digitizations::database_id,
                digitizations::bill_id,
                digitizations::read_attempts,
            ))
            .get_result(conn)
            .map(Some)
    })
}

/// What there is to read of a bill.
enum Source {
    /// A PDF's text layer, as kept at upload.
    Text(String),
    /// Images to OCR, in order (at most `MAX_OCR_PAGES`).
    Images(Vec<Vec<u8>>),
    /// A scanned PDF whose pages are read one at a time (each image asked of the PDF reader).
    ScannedPdf { pdf: Vec<u8>, pages: Vec<u32> },
    /// Nothing to read, and why.
    Nothing(String),
}

/// Loads what to read of the claimed digitization's bill.
fn load_source(conn: &mut PgConnection, claimed: &Claimed) -> QueryResult<Source> {
    let (document_id, media_type): (DocumentId, String) = vendor_bills::table
        .inner_join(documents_table::table)
        .filter(vendor_bills::id.eq(claimed.bill_id))
        .select((documents_table::id, documents_table::media_type))
        .first(conn)?;
    let database_id = claimed.database_id;
    if media_type != PDF {
        let content = documents::content(conn, database_id, document_id)?.unwrap_or_default();
        return Ok(Source::Images(vec![content]));
    }
    let Some(facts) = documents::facts(conn, database_id, document_id)? else {
        // Stored before facts were kept: read by the PDF reader here, off the request path.
        let content = documents::content(conn, database_id, document_id)?.unwrap_or_default();
        return Ok(Source::ScannedPdf {
            pdf: content,
            pages: Vec::new(),
        });
    };
    let text = facts.text();
    if text.chars().filter(|c| c.is_alphanumeric()).count() >= MIN_TEXT {
        return Ok(Source::Text(text));
    }
    if facts.scanned_pages.is_empty() {
        return Ok(Source::Nothing(
            "the PDF has no text layer and no scanned page".into(),
        ));
    }
    let content = documents::content(conn, database_id, document_id)?.unwrap_or_default();
    Ok(Source::ScannedPdf {
        pdf: content,
        pages: facts
            .scanned_pages
            .iter()
            .copied()
            .take(MAX_OCR_PAGES)
            .collect(),
    })
}

/// Why the text could not be read.
enum ReadError {
    /// The document itself: nothing to read (a broken PDF, an empty page).
    Unreadable(String),
    /// The reader: try again later.
    Passing(String),
}

/// The text of `source`, read with no database connection held.
fn read(readers: &Readers, source: Source) -> Result<String, ReadError> {
    let ocr = |image: &[u8]| {
        readers
            .ocr
            .recognize(image)
            .map_err(|e| ReadError::Passing(e.to_string()))
    };
    match source {
        Source::Text(text) => Ok(text),
        Source::Nothing(why) => Err(ReadError::Unreadable(why)),
        Source::Images(images) => {
            let pages: Result<Vec<String>, ReadError> = images.iter().map(|i| ocr(i)).collect();
            Ok(pages?.join("\n"))
        }
        Source::ScannedPdf { pdf, mut pages } => {
            if pages.is_empty() {
                // A PDF stored before its facts were kept: read them now.
                let facts = readers
                    .pdf
                    .inspect(&pdf)
                    .map_err(|e| ReadError::Unreadable(e.to_string()))?;
                let text = facts.text();
                if text.chars().filter(|c| c.is_alphanumeric()).count() >= MIN_TEXT {
                    return Ok(text);
                }
                pages = facts
                    .scanned_pages
                    .into_iter()
                    .take(MAX_OCR_PAGES)
                    .collect();
            }
            let mut read = Vec::new();
            for page in pages {
                let image = readers
                    .pdf
                    .page_jpeg(&pdf, page)
                    .map_err(|e| ReadError::Unreadable(e.to_string()))?;
                read.push(ocr(&image)?);
            }
            Ok(read.join("\n"))
        }
    }
}

/// Reads the next pending digitization, if any: leases it, reads it holding no connection,
/// saves what was read and settles its job. `None` when there is nothing to read.
pub fn read_next(pool: &DbPool, readers: &Readers) -> Result<Option<ReadOutcome>, ReadingError> {
    let now = Utc::now();
    let (claimed, source) = {
        let mut conn = pool.get()?;
        let Some(claimed) = claim(&mut conn, now)? else {
            return Ok(None);
        };
        if claimed.read_attempts > MAX_READS {
            give_up(
                &mut conn,
                &claimed,
                "the reader failed on it again and again",
            )?;
            return Ok(Some(ReadOutcome::GaveUp {
                digitization_id: claimed.id,
            }));
        }
        let source = load_source(&mut conn, &claimed)?;
        (claimed, source)
    };
    // No connection held from here until the text is read.
    let read = read(readers, source);
    let mut conn = pool.get()?;
    let (text, fields) = match read {
        Ok(text) => {
            let fields = extract::extract(&text);
            (text, fields)
        }
        Err(ReadError::Unreadable(why)) => (why, extract::Extracted::default()),
        Err(ReadError::Passing(why)) => {
            tracing::warn!(
                digitization = %claimed.id,
                "reading to be tried again: {why}"
            );
            retry_later(&mut conn, &claimed, &why)?;
            return Ok(Some(ReadOutcome::Retried {
                digitization_id: claimed.id,
            }));
        }
    };
    conn.transaction(|conn| save_reading(conn, claimed.id, claimed.bill_id, &text, &fields))?;
    metering::run(&mut conn, &DigitizationWorker, claimed.job_id)?;
    Ok(Some(ReadOutcome::Read {
        digitization_id: claimed.id,
    }))
}

/// Reads every digitization waiting now (tests, and a worker catching up).
pub fn read_all(pool: &DbPool, readers: &Readers) -> Result<Vec<ReadOutcome>, ReadingError> {
    let mut done = Vec::new();
    while let Some(outcome) = read_next(pool, readers)? {
        done.push(outcome);
    }
    Ok(done)
}

fn retry_later(conn: &mut PgConnection, claimed: &Claimed, why: &str) -> QueryResult<()> {
    let next = Utc::now() + chrono::Duration::from_std(RETRY_DELAY).unwrap_or_default();
    diesel::update(
        digitizations::table
            .find(claimed.id)
            .filter(digitizations::status.eq(DigitizationStatus::Pending)),
    )
    .set((
        digitizations::reading_until.eq(next),
        digitizations::error.eq(why.chars().take(1000).collect::<String>()),
    ))
    .execute(conn)?;
    Ok(())
}

/// Closes the digitization as failed and settles its job: nothing is charged.
fn give_up(conn: &mut PgConnection, claimed: &Claimed, why: &str) -> Result<(), ReadingError> {
    tracing::error!(
        digitization = %claimed.id,
        attempts = claimed.read_attempts,
        "giving up a reading: {why}"
    );
    diesel::update(
        digitizations::table
            .find(claimed.id)
            .filter(digitizations::status.eq(DigitizationStatus::Pending)),
    )
    .set((
        digitizations::status.eq(DigitizationStatus::Failed),
        digitizations::error.eq(why),
    ))
    .execute(conn)?;
    metering::run(conn, &DigitizationWorker, claimed.job_id)?;
    Ok(())
}

//! Bills digitized in the past (the first start's history): each uploaded as a PDF of our own
//! making, read by the same extractor the reading worker uses, its fields saved as the worker
//! saves them — for the jobs `metering::history` wrote.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{DigitizationStatus, NewDigitization, extract, save_reading};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{BillId, DatabaseId, DigitizationId, JobId};
use crate::platform::schema::{digitizations, vendor_bills};
use crate::services::documents::{self, PastDocument, PastDocumentError};

/// A bill uploaded at `at` and read at `read_at`: its text, a line each.
pub struct PastBill {
    pub job_id: JobId,
    pub at: DateTime<Utc>,
    pub read_at: DateTime<Utc>,
    pub file_name: String,
    pub lines: Vec<String>,
    pub price: Credits,
}

/// Writes the database's past bills and their digitizations, done; how many. A bill the
/// extractor cannot read refuses the history (it was charged: it must have been read).
pub fn digitized_in_past(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    past: &[PastBill],
) -> Result<usize, PastDocumentError> {
    let stored = documents::stored_in_past(
        conn,
        database_id,
        &past
            .iter()
            .map(|b| PastDocument {
                at: b.at,
                file_name: b.file_name.clone(),
                pages: vec![b.lines.clone()],
            })
            .collect::<Vec<_>>(),
    )?;
    for (bill, document) in past.iter().zip(stored) {
        let bill_id: BillId = diesel::insert_into(vendor_bills::table)
            .values((
                vendor_bills::database_id.eq(database_id),
                vendor_bills::document_id.eq(document.id),
                vendor_bills::created_at.eq(bill.at),
            ))
            .returning(vendor_bills::id)
            .get_result(conn)?;
        let digitization_id: DigitizationId = diesel::insert_into(digitizations::table)
            .values((
                NewDigitization {
                    job_id: bill.job_id,
                    database_id,
                    bill_id,
                    requested_by: None,
                    price: bill.price,
                },
                digitizations::created_at.eq(bill.at),
                digitizations::read_attempts.eq(1),
            ))
            .returning(digitizations::id)
            .get_result(conn)?;
        let text = bill.lines.join("\n");
        let fields = extract::extract(&text);
        if fields.is_unreadable() {
            return Err(PastDocumentError::Unreadable(bill.file_name.clone()));
        }
        save_reading(conn, digitization_id, bill_id, &text, &fields)?;
        diesel::update(vendor_bills::table.find(bill_id))
            .set(vendor_bills::updated_at.eq(bill.read_at))
            .execute(conn)?;
        debug_assert!(
            digitizations::table
                .find(digitization_id)
                .select(digitizations::status)
                .first::<DigitizationStatus>(conn)
                .is_ok_and(|s| s == DigitizationStatus::Done)
        );
    }
    Ok(past.len())
}

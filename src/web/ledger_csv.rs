//! An account's ledger as CSV, streamed oldest first in batches (any number of rows in flat
//! memory): the operator's export and the customer's own, with the same columns. Text cells
//! that a spreadsheet would run as formulas are escaped.

use actix_web::{HttpResponse, web};
use futures_util::StreamExt;

use crate::domain::ledger::{LedgerEntry, entries};
use crate::http::error::AppError;
use crate::http::state::AppState;
use crate::kernel::ids::AccountId;

/// Rows read per batch.
const CSV_BATCH: i64 = 1_000;

/// The CSV download of the account `id` (the caller checked who may see it).
pub fn response(state: &AppState, id: AccountId) -> Result<HttpResponse, AppError> {
    let header = csv_chunk(&[], true).map_err(AppError::Internal)?;
    // (after, done): the last id sent, and whether the last batch was short.
    let pool = state.read_pool().clone();
    let rows = futures_util::stream::unfold((None::<i64>, false), move |(after, done)| {
        let pool = pool.clone();
        async move {
            if done {
                return None;
            }
            let batch = web::block(move || {
                let mut conn = pool.get().map_err(|e| e.to_string())?;
                entries::oldest_first(&mut conn, id, after, CSV_BATCH).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            match batch {
                Ok(batch) if batch.is_empty() => None,
                Ok(batch) => {
                    let last = batch.last().map(|e| e.id);
                    let short = (batch.len() as i64) < CSV_BATCH;
                    let chunk = csv_chunk(&batch, false).map(web::Bytes::from);
                    Some((chunk.map_err(std::io::Error::other), (last, short)))
                }
                Err(e) => {
                    tracing::warn!("ledger CSV export of account {id} stopped: {e}");
                    Some((Err(std::io::Error::other(e)), (after, true)))
                }
            }
        }
    });
    let body = futures_util::stream::once(async move { Ok(web::Bytes::from(header)) }).chain(rows);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"account-{id}-ledger.csv\""),
        ))
        .streaming(body))
}

/// A text cell that a spreadsheet will not run as a formula: one starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return gets a leading apostrophe. (Only text cells: the numeric
/// columns are written by us and stay numbers.)
fn csv_text(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// CSV lines for `entries` (or just the header line).
fn csv_chunk(entries: &[LedgerEntry], header: bool) -> Result<Vec<u8>, String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| e.to_string();
    if header {
        writer
            .write_record([
                "id",
                "created_at",
                "kind",
                "amount",
                "reserved_change",
                "balance_after",
                "reserved_after",
                "hold_id",
                "order_id",
                "actor",
                "description",
            ])
            .map_err(fail)?;
    }
    for e in entries {
        writer
            .write_record([
                e.id.to_string(),
                e.created_at.to_rfc3339(),
                e.kind.to_string(),
                e.amount.to_string(),
                e.reserved_change.to_string(),
                e.balance_after.to_string(),
                e.reserved_after.to_string(),
                e.hold_id.map(|h| h.to_string()).unwrap_or_default(),
                e.order_id.map(|o| o.to_string()).unwrap_or_default(),
                csv_text(&e.actor),
                csv_text(&e.description),
            ])
            .map_err(fail)?;
    }
    writer.into_inner().map_err(|e| e.to_string())
}

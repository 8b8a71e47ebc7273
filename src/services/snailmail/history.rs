//! Letters posted in the past (the first start's history): written as the worker leaves a
//! letter the post delivered, for the jobs `metering::history` wrote.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::postage::{self, LetterOptions};
use super::{Address, LetterSource, LetterStatus, NewLetter};
use crate::kernel::credits::Credits;
use crate::kernel::forms::new_form_key;
use crate::kernel::ids::{DatabaseId, JobId};
use crate::platform::schema::letters;
use crate::platform::simulation::fresh_reference;
use crate::services::documents::{self, PastDocument, PastDocumentError};

/// A letter the post delivered: its job, its text, where it went and what it cost.
pub struct PastLetter {
    pub job_id: JobId,
    pub at: DateTime<Utc>,
    pub delivered_at: DateTime<Utc>,
    /// The first page's lines (the others say which page they are).
    pub text: Vec<String>,
    pub address: Address,
    pub pages: i32,
    pub zone: String,
    pub price: Credits,
    pub source: LetterSource,
}

/// Writes the database's past letters, each with its document, delivered; how many.
pub fn delivered_in_past(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    past: &[PastLetter],
) -> Result<usize, PastDocumentError> {
    let options = LetterOptions::default();
    let documents = documents::stored_in_past(
        conn,
        database_id,
        &past
            .iter()
            .map(|letter| PastDocument {
                at: letter.at,
                file_name: format!("Letter to {}.pdf", letter.address.recipient),
                pages: std::iter::once(letter.text.clone())
                    .chain(
                        (2..=letter.pages).map(|n| vec![format!("Page {n} of {}", letter.pages)]),
                    )
                    .collect(),
            })
            .collect::<Vec<_>>(),
    )?;
    let form_keys: Vec<String> = past.iter().map(|_| new_form_key()).collect();
    let letters: Vec<NewLetter> = past
        .iter()
        .zip(&documents)
        .zip(&form_keys)
        .map(|((letter, document), form_key)| NewLetter {
            job_id: letter.job_id,
            database_id,
            document_id: document.id,
            contact_id: None,
            sent_by: None,
            form_key,
            address: letter.address.clone(),
            pages: letter.pages,
            sheets: postage::sheets(letter.pages, options),
            options,
            zone: &letter.zone,
            price: letter.price,
            source: letter.source,
        })
        .collect();
    let rows: Vec<_> = letters
        .into_iter()
        .zip(past)
        .map(|(new, letter)| {
            (
                new,
                letters::status.eq(LetterStatus::Delivered),
                letters::provider_reference.eq(fresh_reference("SIM-POST-").to_uppercase()),
                letters::created_at.eq(letter.at),
                letters::sent_at.eq(letter.at),
                letters::finished_at.eq(letter.delivered_at),
            )
        })
        .collect();
    if !rows.is_empty() {
        diesel::insert_into(letters::table)
            .values(&rows)
            .execute(conn)?;
    }
    Ok(past.len())
}

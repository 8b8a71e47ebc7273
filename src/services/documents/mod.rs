//! Files a database uploads: vendor bills (Documents Digitization), letters to post and
//! documents to sign. A file is checked by its content, never by its name (PDF, PNG or JPEG, at
//! most 10 MB, a PDF that can be read within limits), kept in the database with its SHA-256
//! and, for a PDF, the facts read from it once at upload (so that nothing reads it again), and
//! read back only within its database. Owner of `documents`.

pub mod gate;
pub mod limited;
pub mod pdf;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::kernel::ids::{DatabaseId, DocumentId, UserId};
use crate::platform::schema::documents;
use gate::{Busy, ReaderGate};
use pdf::{PdfError, PdfFacts, PdfInspector};

/// The largest file one may upload.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

pub const PDF: &str = "application/pdf";
pub const PNG: &str = "image/png";
pub const JPEG: &str = "image/jpeg";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UploadError {
    #[error("Choose a file to upload.")]
    Empty,
    #[error("The file is larger than 10 MB.")]
    TooLarge,
    #[error(
        "Only PDF, PNG and JPEG files can be uploaded; this file is none of them, whatever its name says."
    )]
    WrongType,
    #[error("{0}")]
    Pdf(PdfError),
    /// The reader is busy: nothing stored, try again.
    #[error("{0}")]
    Busy(Busy),
}

/// An upload that passed the checks, ready to store.
#[derive(Debug, Clone)]
pub struct CheckedUpload {
    pub file_name: String,
    pub media_type: &'static str,
    pub content: Vec<u8>,
    /// For a PDF: what it holds.
    pub pdf: Option<PdfFacts>,
}

/// The type of `content` by its first bytes (the `infer` crate's signatures).
pub fn media_type_of(content: &[u8]) -> Option<&'static str> {
    match infer::get(content)?.mime_type() {
        "application/pdf" => Some(PDF),
        "image/png" => Some(PNG),
        "image/jpeg" => Some(JPEG),
        _ => None,
    }
}

/// Bidirectional controls: a U+202E in "invoice\u{202E}fdp.exe" shows as "invoiceexe.pdf".
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A file name as it may be shown and sent back: its last path part, without control
/// characters, bidirectional controls or quotes, at most 255 characters.
pub fn clean_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c) && *c != '"')
        .take(255)
        .collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() {
        "document".into()
    } else {
        cleaned
    }
}

/// The checks that need no reader: not empty, not too large, a type we take by its content.
fn check_kind(content: &[u8]) -> Result<&'static str, UploadError> {
    if content.is_empty() {
        return Err(UploadError::Empty);
    }
    if content.len() > MAX_BYTES {
        return Err(UploadError::TooLarge);
    }
    media_type_of(content).ok_or(UploadError::WrongType)
}

/// Checks an upload: size, type by content, and for a PDF that it can be read (in a limited
/// child process, on the calling thread: for tests and tools; requests use `check_upload`).
pub fn check(
    inspector: &PdfInspector,
    file_name: &str,
    content: Vec<u8>,
) -> Result<CheckedUpload, UploadError> {
    let media_type = check_kind(&content)?;
    let pdf = if media_type == PDF {
        Some(inspector.inspect(&content).map_err(UploadError::Pdf)?)
    } else {
        None
    };
    Ok(CheckedUpload {
        file_name: clean_file_name(file_name),
        media_type,
        content,
        pdf,
    })
}

/// The same checks for an upload to `database_id`, a PDF read through `gate` (a few at a
/// time, off the request's threads): a busy reader answers `UploadError::Busy` at once.
pub async fn check_upload(
    gate: &ReaderGate,
    inspector: &PdfInspector,
    database_id: DatabaseId,
    file_name: &str,
    content: Vec<u8>,
) -> Result<CheckedUpload, UploadError> {
    let media_type = check_kind(&content)?;
    let file_name = clean_file_name(file_name);
    if media_type != PDF {
        return Ok(CheckedUpload {
            file_name,
            media_type,
            content,
            pdf: None,
        });
    }
    let inspector = inspector.clone();
    let (facts, content) = gate
        .read(database_id, move || {
            let facts = inspector.inspect(&content);
            (facts, content)
        })
        .await
        .map_err(UploadError::Busy)?;
    Ok(CheckedUpload {
        file_name,
        media_type,
        content,
        pdf: Some(facts.map_err(UploadError::Pdf)?),
    })
}

/// A stored file, without its content.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = documents, check_for_backend(diesel::pg::Pg))]
pub struct Document {
    pub id: DocumentId,
    pub database_id: DatabaseId,
    pub file_name: String,
    pub media_type: String,
    pub size_bytes: i32,
    pub sha256: String,
    pub pages: Option<i32>,
    pub created_at: DateTime<Utc>,
}

impl Document {
    pub fn is_pdf(&self) -> bool {
        self.media_type == PDF
    }

    /// "1.2 MB", "830 kB".
    pub fn size_text(&self) -> String {
        let bytes = f64::from(self.size_bytes);
        if bytes >= 1_000_000.0 {
            format!("{:.1} MB", bytes / 1_000_000.0)
        } else {
            format!("{} kB", (bytes / 1000.0).ceil())
        }
    }
}

pub fn sha256_hex(content: &[u8]) -> String {
    Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stores a checked upload for the database.
pub fn store(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    uploaded_by: Option<UserId>,
    upload: &CheckedUpload,
) -> QueryResult<Document> {
    let pages = upload
        .pdf
        .as_ref()
        .map(|p| i32::try_from(p.pages.len()).unwrap_or(i32::MAX));
    let facts = upload.pdf.as_ref().map(stored_facts);
    let text_layer = upload.pdf.as_ref().map(PdfFacts::text);
    diesel::insert_into(documents::table)
        .values((
            documents::database_id.eq(database_id),
            documents::uploaded_by.eq(uploaded_by),
            documents::file_name.eq(&upload.file_name),
            documents::media_type.eq(upload.media_type),
            documents::size_bytes.eq(upload.content.len() as i32),
            documents::sha256.eq(sha256_hex(&upload.content)),
            documents::pages.eq(pages),
            documents::content.eq(&upload.content),
            documents::pdf_facts.eq(facts),
            documents::text_layer.eq(text_layer),
        ))
        .returning(Document::as_returning())
        .get_result(conn)
}

/// A document of our own making, stored as it was on a past day (the first start's history):
/// a PDF of A4 text pages.
pub struct PastDocument {
    pub at: DateTime<Utc>,
    pub file_name: String,
    pub pages: Vec<Vec<String>>,
}

/// Renders and stores the past documents for the database, with their facts (so that nothing
/// reads them again), in the documents' order.
pub fn stored_in_past(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    past: &[PastDocument],
) -> Result<Vec<Document>, PastDocumentError> {
    if past.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = Vec::with_capacity(past.len());
    for document in past {
        let content = pdf::text_document(&document.pages)?;
        let facts = PdfFacts {
            pages: vec![
                pdf::PageSize {
                    width: 595.0,
                    height: 842.0,
                };
                document.pages.len()
            ],
            text: document
                .pages
                .iter()
                .map(|lines| lines.join("\n"))
                .collect(),
            scanned_pages: Vec::new(),
        };
        rows.push((
            documents::database_id.eq(database_id),
            documents::file_name.eq(&document.file_name),
            documents::media_type.eq(PDF),
            documents::size_bytes.eq(i32::try_from(content.len()).unwrap_or(i32::MAX)),
            documents::sha256.eq(sha256_hex(&content)),
            documents::pages.eq(i32::try_from(document.pages.len()).ok()),
            documents::pdf_facts.eq(stored_facts(&facts)),
            documents::text_layer.eq(facts.text()),
            documents::created_at.eq(document.at),
            documents::content.eq(content),
        ));
    }
    let mut stored: Vec<Document> = diesel::insert_into(documents::table)
        .values(&rows)
        .returning(Document::as_returning())
        .get_results(conn)?;
    // Ids follow the order of the rows given.
    stored.sort_by_key(|d| d.id);
    Ok(stored)
}

#[derive(Debug, thiserror::Error)]
pub enum PastDocumentError {
    #[error("the PDF could not be made: {0}")]
    Pdf(#[from] lopdf::Error),
    /// A past document the extractor reads nothing from, though its reading was charged.
    #[error("nothing could be read from {0}")]
    Unreadable(String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// The database's document `id`: `None` for another database's.
pub fn find(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    id: DocumentId,
) -> QueryResult<Option<Document>> {
    documents::table
        .filter(documents::database_id.eq(database_id))
        .filter(documents::id.eq(id))
        .select(Document::as_select())
        .first(conn)
        .optional()
}

/// The content of the database's document `id`.
pub fn content(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    id: DocumentId,
) -> QueryResult<Option<Vec<u8>>> {
    documents::table
        .filter(documents::database_id.eq(database_id))
        .filter(documents::id.eq(id))
        .select(documents::content)
        .first(conn)
        .optional()
}

/// The facts kept in `pdf_facts`: all but the text, which has a column of its own.
fn stored_facts(facts: &PdfFacts) -> serde_json::Value {
    serde_json::to_value(PdfFacts {
        text: Vec::new(),
        ..facts.clone()
    })
    .unwrap_or_default()
}

/// Keeps the facts read from a PDF stored before they were (read through the gate, then kept
/// here, so that it is read once).
pub fn keep_facts(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    id: DocumentId,
    facts: &PdfFacts,
) -> QueryResult<usize> {
    diesel::update(
        documents::table
            .filter(documents::database_id.eq(database_id))
            .filter(documents::id.eq(id))
            .filter(documents::pdf_facts.is_null()),
    )
    .set((
        documents::pdf_facts.eq(stored_facts(facts)),
        documents::text_layer.eq(facts.text()),
    ))
    .execute(conn)
}

/// What was read from the database's PDF `id` when it was uploaded, its text layer as one
/// page: `None` when it is not a PDF, or one stored before facts were kept.
pub fn facts(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    id: DocumentId,
) -> QueryResult<Option<PdfFacts>> {
    let found: Option<(Option<serde_json::Value>, Option<String>)> = documents::table
        .filter(documents::database_id.eq(database_id))
        .filter(documents::id.eq(id))
        .select((documents::pdf_facts, documents::text_layer))
        .first(conn)
        .optional()?;
    Ok(found.and_then(|(facts, text)| {
        let mut facts: PdfFacts = serde_json::from_value(facts?).ok()?;
        facts.text = text.into_iter().collect();
        Some(facts)
    }))
}

#[cfg(test)]
mod tests {
    use super::clean_file_name;

    #[test]
    fn file_names_lose_their_folders_controls_and_direction_overrides() {
        assert_eq!(clean_file_name("march/bill 8.pdf"), "bill 8.pdf");
        assert_eq!(clean_file_name("C:\\bills\\a\"b\r\n.pdf"), "ab.pdf");
        // Shown as "invoiceexe.pdf" with the override kept.
        assert_eq!(clean_file_name("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(clean_file_name("\u{2067}\u{200F}"), "document");
    }
}

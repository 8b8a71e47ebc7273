//! The one way a page takes an uploaded file: the multipart form's file, checked by content and
//! (a PDF) read through the reader's gate, and the status a refusal is answered with.

use actix_web::http::StatusCode;

use crate::http::session::UploadedFile;
use crate::http::state::AppState;
use crate::kernel::ids::DatabaseId;
use crate::services::documents::{self, CheckedUpload, UploadError};

/// The form's file, checked for `database_id`: a PDF is read off the request's threads, a few
/// at a time; a busy reader is said at once (`UploadError::Busy`).
pub async fn check(
    state: &AppState,
    database_id: DatabaseId,
    file: Option<UploadedFile>,
) -> Result<CheckedUpload, UploadError> {
    let file = match file {
        Some(f) if f.too_large => return Err(UploadError::TooLarge),
        Some(f) if !f.content.is_empty() => f,
        _ => return Err(UploadError::Empty),
    };
    documents::check_upload(
        &state.readers.gate,
        &state.readers.pdf,
        database_id,
        &file.file_name,
        file.content,
    )
    .await
}

/// The status a refused upload is answered with (the page again, the message at the field).
pub fn status_of(error: &UploadError) -> StatusCode {
    match error {
        UploadError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UploadError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

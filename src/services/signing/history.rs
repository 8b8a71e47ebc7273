//! Signature requests of the past (the first start's history): a contract sent to one signer
//! who identified with itsme and signed, the request completed with its signed PDF — as the
//! worker and the signer's page leave it, for the jobs `metering::history` wrote.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;

use super::{IdentificationStatus, SignRequest, SignRequestStatus, Signer, certificate_lines};
use crate::kernel::credits::Credits;
use crate::kernel::forms::new_form_key;
use crate::kernel::ids::{DatabaseId, JobId};
use crate::platform::schema::{identifications, sign_requests, signers};
use crate::services::documents::{self, PastDocument, PastDocumentError};

/// A contract signed after an itsme identification.
pub struct PastSignature {
    pub job_id: JobId,
    pub at: DateTime<Utc>,
    pub signed_at: DateTime<Utc>,
    pub title: String,
    /// The contract's pages, as text.
    pub pages: Vec<Vec<String>>,
    pub signer_name: String,
    pub signer_email: String,
    pub signer_country: String,
    pub birth_date: NaiveDate,
    pub national_number: String,
    pub price: Credits,
}

/// Writes the database's past requests, each with its document, signer and identification;
/// how many.
pub fn signed_in_past(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    past: &[PastSignature],
) -> Result<usize, PastDocumentError> {
    let stored = documents::stored_in_past(
        conn,
        database_id,
        &past
            .iter()
            .map(|p| PastDocument {
                at: p.at,
                file_name: format!("{}.pdf", p.title),
                pages: p.pages.clone(),
            })
            .collect::<Vec<_>>(),
    )?;
    for (p, document) in past.iter().zip(stored) {
        let identified_at = p.at + (p.signed_at - p.at) / 2;
        let request: SignRequest = diesel::insert_into(sign_requests::table)
            .values((
                sign_requests::database_id.eq(database_id),
                sign_requests::document_id.eq(document.id),
                sign_requests::form_key.eq(new_form_key()),
                sign_requests::title.eq(&p.title),
                sign_requests::document_sha256.eq(&document.sha256),
                sign_requests::status.eq(SignRequestStatus::Completed),
                sign_requests::created_at.eq(p.at),
                sign_requests::completed_at.eq(p.signed_at),
            ))
            .returning(SignRequest::as_returning())
            .get_result(conn)?;
        let signer: Signer = diesel::insert_into(signers::table)
            .values((
                signers::request_id.eq(request.id),
                signers::database_id.eq(database_id),
                signers::name.eq(&p.signer_name),
                signers::email.eq(&p.signer_email),
                signers::country.eq(&p.signer_country),
                signers::itsme.eq(true),
                signers::token_hash.eq(super::new_token()),
                signers::expires_at.eq(p.at + chrono::Duration::days(30)),
                signers::identified_name.eq(&p.signer_name),
                signers::identified_birth_date.eq(p.birth_date),
                signers::identified_national_number.eq(super::itsme::mask(&p.national_number)),
                signers::identified_at.eq(identified_at),
                signers::signed_at.eq(p.signed_at),
                signers::signed_from.eq("198.51.100.24"),
                signers::signed_sha256.eq(&document.sha256),
            ))
            .returning(Signer::as_returning())
            .get_result(conn)?;
        diesel::insert_into(identifications::table)
            .values((
                identifications::job_id.eq(p.job_id),
                identifications::database_id.eq(database_id),
                identifications::signer_id.eq(signer.id),
                identifications::price.eq(p.price),
                identifications::status.eq(IdentificationStatus::Approved),
                identifications::created_at.eq(p.at),
                identifications::finished_at.eq(identified_at),
            ))
            .execute(conn)?;
        let mut signed_pages = p.pages.clone();
        signed_pages.push(certificate_lines(&request, std::slice::from_ref(&signer)));
        let signed_pdf = documents::pdf::text_document(&signed_pages)?;
        diesel::update(sign_requests::table.find(request.id))
            .set(sign_requests::signed_pdf.eq(signed_pdf))
            .execute(conn)?;
    }
    Ok(past.len())
}

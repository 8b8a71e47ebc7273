//! Signature requests of the past (the first start's history): a contract sent to one signer
//! who identified with itsme and signed, the request completed with its signed PDF — as the
//! worker and the signer's page leave it, for the jobs `metering::history` wrote.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bytea};

use super::{
    IdentificationStatus, NewIdentification, NewSignRequest, NewSigner, SignRequest,
    SignRequestStatus, Signer, certificate_lines,
};
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

impl PastSignature {
    /// Identified halfway between the request and the signature.
    fn identified_at(&self) -> DateTime<Utc> {
        self.at + (self.signed_at - self.at) / 2
    }
}

/// Writes the database's past requests, each with its document, signer and identification;
/// how many.
pub fn signed_in_past(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    past: &[PastSignature],
) -> Result<usize, PastDocumentError> {
    if past.is_empty() {
        return Ok(0);
    }
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
    let form_keys: Vec<String> = past.iter().map(|_| new_form_key()).collect();
    let request_rows: Vec<_> = past
        .iter()
        .zip(&stored)
        .zip(&form_keys)
        .map(|((p, document), form_key)| {
            (
                NewSignRequest {
                    database_id,
                    document_id: document.id,
                    created_by: None,
                    form_key,
                    title: &p.title,
                    document_sha256: &document.sha256,
                },
                sign_requests::status.eq(SignRequestStatus::Completed),
                sign_requests::created_at.eq(p.at),
                sign_requests::completed_at.eq(p.signed_at),
            )
        })
        .collect();
    let mut requests: Vec<SignRequest> = diesel::insert_into(sign_requests::table)
        .values(request_rows)
        .returning(SignRequest::as_returning())
        .get_results(conn)?;
    // Ids follow the order of the rows given.
    requests.sort_by_key(|r| r.id);
    let signer_rows: Vec<_> = past
        .iter()
        .zip(&requests)
        .zip(&stored)
        .map(|((p, request), document)| {
            (
                NewSigner {
                    request_id: request.id,
                    database_id,
                    name: &p.signer_name,
                    email: &p.signer_email,
                    country: &p.signer_country,
                    itsme: true,
                    // The link was used and is not kept: a fingerprint of nothing anyone holds.
                    token_hash: super::new_token(),
                    expires_at: p.at + chrono::Duration::days(30),
                },
                signers::identified_name.eq(&p.signer_name),
                signers::identified_birth_date.eq(p.birth_date),
                signers::identified_national_number.eq(super::itsme::mask(&p.national_number)),
                signers::identified_at.eq(p.identified_at()),
                signers::signed_at.eq(p.signed_at),
                signers::signed_from.eq("198.51.100.24"),
                signers::signed_sha256.eq(&document.sha256),
            )
        })
        .collect();
    let mut signed_by: Vec<Signer> = diesel::insert_into(signers::table)
        .values(signer_rows)
        .returning(Signer::as_returning())
        .get_results(conn)?;
    signed_by.sort_by_key(|s| s.id);
    let identification_rows: Vec<_> = past
        .iter()
        .zip(&signed_by)
        .map(|(p, signer)| {
            (
                NewIdentification {
                    job_id: p.job_id,
                    database_id,
                    signer_id: signer.id,
                    price: p.price,
                },
                identifications::status.eq(IdentificationStatus::Approved),
                identifications::created_at.eq(p.at),
                identifications::finished_at.eq(p.identified_at()),
            )
        })
        .collect();
    diesel::insert_into(identifications::table)
        .values(identification_rows)
        .execute(conn)?;
    // The signed PDFs: the contract and the certificate page the present appends.
    let mut signed_pdfs = Vec::with_capacity(past.len());
    for ((p, request), signer) in past.iter().zip(&requests).zip(&signed_by) {
        let mut pages = p.pages.clone();
        pages.push(certificate_lines(request, std::slice::from_ref(signer)));
        signed_pdfs.push(documents::pdf::text_document(&pages)?);
    }
    diesel::sql_query(
        "UPDATE sign_requests SET signed_pdf = v.pdf
         FROM unnest($1::bigint[], $2::bytea[]) AS v(id, pdf) WHERE sign_requests.id = v.id",
    )
    .bind::<Array<BigInt>, _>(requests.iter().map(|r| r.id.0).collect::<Vec<_>>())
    .bind::<Array<Bytea>, _>(signed_pdfs)
    .execute(conn)?;
    Ok(past.len())
}

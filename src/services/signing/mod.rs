//! The Sign app, with **Signer identification with itsme**: a PDF is sent to signers, each
//! through a link of their own (an unguessable token, stored hashed, expiring after 30 days; no
//! sign-in). A signer who must be identified goes through itsme first, on the common
//! paid-service steps:
//!
//! - **begin**: the price of one identification is held and the identification recorded;
//! - the provider's session is started (no transaction open) and the signer sent to its page;
//! - **perform**, when they come back: the provider is asked for the session's result, which is
//!   saved once — approved (the identity kept, the national number masked) or denied;
//! - **settle**: an approved identification is charged; a denied one costs nothing, and so does
//!   one never finished (the worker gives it up after its attempts, releasing the hold).
//!
//! Signing records who, when, from which address and the SHA-256 of the document signed. When
//! everyone has signed, the request gets its signed PDF (the original with a signature page,
//! made in the PDF reader's child process) and a certificate. Owner of `sign_requests`,
//! `signers` and `identifications`.

pub mod history;
pub mod itsme;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rand::Rng;

use crate::domain::catalog::usage_prices;
use crate::domain::ledger::Actor;
use crate::domain::metering::{self, Job, MeteringError, PaidService, PerformError, Request};
use crate::kernel::credits::Credits;
use crate::kernel::forms::FieldErrors;
use crate::kernel::ids::{
    AccountId, DatabaseId, DocumentId, IdentificationId, JobId, SignRequestId, SignerId, UserId,
};
use crate::platform::schema::{identifications, sign_requests, signers};
use crate::services::documents::pdf::PdfInspector;
use crate::services::documents::{self, Document};
use itsme::{IdentificationResult, ItsmeProvider};

pub const SERVICE: &str = "itsme";
/// How long a signer's link works.
pub const LINK_DAYS: i64 = 30;
/// Signer rows on the form.
pub const MAX_SIGNERS: usize = 5;
/// Where itsme identifies people.
pub const ITSME_COUNTRIES: &[&str] = &["BE", "NL"];
/// Per-row field names (a form's messages are keyed by static names).
const ROW_FIELDS: [&str; MAX_SIGNERS] =
    ["signer_0", "signer_1", "signer_2", "signer_3", "signer_4"];

fn hold_ttl() -> Duration {
    metering::LEASE * (metering::MAX_ATTEMPTS as u32 + 1)
}

crate::sql_text_enum! {
    /// Where a signature request is.
    pub enum SignRequestStatus {
        /// Sent to its signers; not all have signed (or the signed PDF is not made yet).
        Sent => "sent",
        /// Every signer signed and the signed PDF is made.
        Completed => "completed",
    }
}

crate::sql_text_enum! {
    /// Where an itsme identification is.
    pub enum IdentificationStatus {
        /// Paid for by a hold; the signer has not finished at itsme.
        Pending => "pending",
        /// itsme confirmed who the signer is: charged.
        Approved => "approved",
        /// The signer refused or failed at itsme: not charged.
        Denied => "denied",
        /// Never finished in time: not charged.
        Abandoned => "abandoned",
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = sign_requests, check_for_backend(diesel::pg::Pg))]
pub struct SignRequest {
    pub id: SignRequestId,
    pub database_id: DatabaseId,
    pub document_id: DocumentId,
    pub title: String,
    pub document_sha256: String,
    pub status: SignRequestStatus,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = signers, check_for_backend(diesel::pg::Pg))]
pub struct Signer {
    pub id: SignerId,
    pub request_id: SignRequestId,
    pub database_id: DatabaseId,
    pub name: String,
    pub email: String,
    pub country: String,
    pub itsme: bool,
    pub expires_at: DateTime<Utc>,
    pub identified_name: Option<String>,
    pub identified_birth_date: Option<NaiveDate>,
    pub identified_national_number: Option<String>,
    pub identified_at: Option<DateTime<Utc>>,
    pub signed_at: Option<DateTime<Utc>>,
    pub signed_from: Option<String>,
    pub signed_sha256: Option<String>,
}

impl Signer {
    /// May sign now: identified when itsme is required, and not signed yet.
    pub fn may_sign(&self) -> bool {
        self.signed_at.is_none() && (!self.itsme || self.identified_at.is_some())
    }
}

/// The request form as typed: a title and up to five signer rows.
#[derive(Debug, Clone, Default)]
pub struct RequestInput {
    /// The form's one-time key: posted twice, it sends one request.
    pub form_key: String,
    pub title: String,
    /// (name, email, country, itsme)
    pub rows: Vec<(String, String, String, bool)>,
}

impl RequestInput {
    pub fn blank() -> Self {
        RequestInput {
            form_key: crate::kernel::forms::new_form_key(),
            title: String::new(),
            rows: vec![Default::default(); MAX_SIGNERS],
        }
    }

    /// From the posted fields: `title`, and `name_N`, `email_N`, `country_N`, `itsme_N`.
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut input = RequestInput::blank();
        for (key, value) in pairs {
            if key == "title" {
                input.title = value.clone();
                continue;
            }
            if key == "form_key" {
                input.form_key = value.clone();
                continue;
            }
            let Some((field, n)) = key.rsplit_once('_') else {
                continue;
            };
            let Some(row) = n.parse::<usize>().ok().and_then(|n| input.rows.get_mut(n)) else {
                continue;
            };
            match field {
                "name" => row.0 = value.clone(),
                "email" => row.1 = value.clone(),
                "country" => row.2 = value.clone(),
                "itsme" => row.3 = true,
                _ => {}
            }
        }
        input
    }

    /// The signers, each checked: a name, a valid email, a country; itsme only in Belgium and
    /// the Netherlands. Blank rows are left out; at least one signer.
    pub fn validate(&self) -> Result<ValidRequest, FieldErrors> {
        let mut errors = FieldErrors::default();
        if !crate::kernel::forms::is_form_key(&self.form_key) {
            errors.add(
                "title",
                "This form is out of date: reload the page and try again.",
            );
        }
        let title = self.title.trim();
        if title.is_empty() {
            errors.add("title", "Give the request a title.");
        } else if title.chars().count() > 200 {
            errors.add("title", "A title has at most 200 characters.");
        }
        let mut signers = Vec::new();
        for (i, (name, email, country, itsme)) in self.rows.iter().enumerate() {
            let (name, email) = (name.trim(), email.trim());
            let country = country.trim().to_uppercase();
            if name.is_empty() && email.is_empty() && !*itsme {
                continue;
            }
            let field = ROW_FIELDS[i];
            if name.is_empty() || name.chars().count() > 200 {
                errors.add(field, "Enter the signer's name (at most 200 characters).");
            } else if crate::domain::tenancy::parse_email(email).is_err() {
                errors.add(field, format!("“{email}” is not a valid email address."));
            } else if !crate::services::contacts::phone::is_known_country(&country) {
                errors.add(
                    field,
                    "Give the signer's country as a two-letter code, e.g. BE.",
                );
            } else if *itsme && !ITSME_COUNTRIES.contains(&country.as_str()) {
                errors.add(
                    field,
                    format!("itsme identifies people in Belgium and the Netherlands only, not in {country}."),
                );
            } else {
                signers.push(ValidSigner {
                    name: name.to_string(),
                    email: email.to_lowercase(),
                    country,
                    itsme: *itsme,
                });
            }
        }
        if signers.is_empty() && errors.is_empty() {
            errors.add("signer_0", "Add at least one signer.");
        }
        errors.into_result()?;
        Ok(ValidRequest {
            form_key: self.form_key.clone(),
            title: title.to_string(),
            signers,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidSigner {
    pub name: String,
    pub email: String,
    pub country: String,
    pub itsme: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidRequest {
    pub form_key: String,
    pub title: String,
    pub signers: Vec<ValidSigner>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("not enough itsme credits: {available} available, {needed} needed")]
    InsufficientCredits {
        account_id: AccountId,
        available: Credits,
        needed: Credits,
    },
    #[error("only a PDF can be signed")]
    NotAPdf,
    /// The same form was posted before: this is the request it sent.
    #[error("sent already")]
    AlreadySent(SignRequestId),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Refused(String),
    #[error("itsme: {0}")]
    Provider(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Metering(MeteringError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

crate::from_metering_error!(SignError, with InsufficientCredits);

#[derive(Insertable)]
#[diesel(table_name = sign_requests, check_for_backend(diesel::pg::Pg))]
struct NewSignRequest<'a> {
    database_id: DatabaseId,
    document_id: DocumentId,
    created_by: Option<UserId>,
    form_key: &'a str,
    title: &'a str,
    document_sha256: &'a str,
}

/// A signer as written with their request: only the fingerprint of their link's token.
#[derive(Insertable)]
#[diesel(table_name = signers, check_for_backend(diesel::pg::Pg))]
struct NewSigner<'a> {
    request_id: SignRequestId,
    database_id: DatabaseId,
    name: &'a str,
    email: &'a str,
    country: &'a str,
    itsme: bool,
    token_hash: String,
    expires_at: DateTime<Utc>,
}

/// An identification as written when its price is held.
#[derive(Insertable)]
#[diesel(table_name = identifications, check_for_backend(diesel::pg::Pg))]
struct NewIdentification {
    job_id: JobId,
    database_id: DatabaseId,
    signer_id: SignerId,
    price: Credits,
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A request sent: its signers, each with the link token made for them (shown once).
pub struct Sent {
    pub request: SignRequest,
    pub links: Vec<(Signer, String)>,
}

/// Stores the uploaded PDF and sends it to the signers, in one transaction: a refused request
/// (too few itsme credits, a form posted again) leaves no document behind.
pub fn send_upload(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    user_id: UserId,
    upload: &documents::CheckedUpload,
    request: &ValidRequest,
) -> Result<Sent, SignError> {
    conn.transaction(|conn| {
        if let Some(id) = sent_with(conn, database_id, &request.form_key)? {
            return Err(SignError::AlreadySent(id));
        }
        let document = documents::store(conn, database_id, Some(user_id), upload)?;
        send_request(conn, database_id, user_id, &document, request)
    })
}

/// Sends `document` to the signers. With itsme signers, the database's itsme credits must cover
/// their identifications now (each is held and charged when it happens): else nothing is sent.
pub fn send_request(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    user_id: UserId,
    document: &Document,
    request: &ValidRequest,
) -> Result<Sent, SignError> {
    if !document.is_pdf() {
        return Err(SignError::NotAPdf);
    }
    if let Some(id) = sent_with(conn, database_id, &request.form_key)? {
        return Err(SignError::AlreadySent(id));
    }
    let identifications = request.signers.iter().filter(|s| s.itsme).count() as i64;
    if identifications > 0 {
        let service = crate::domain::catalog::service_by_slug(conn, SERVICE)?
            .ok_or_else(|| SignError::Refused("itsme is not sold here".into()))?;
        let account = crate::domain::ledger::accounts::get_or_create(conn, database_id, service.id)
            .map_err(|e| SignError::Refused(e.to_string()))?;
        let price = usage_prices::price(conn, SERVICE, usage_prices::IDENTIFICATION)?;
        let needed = Credits::from_units(price.units() * identifications);
        if account.available() < needed {
            return Err(SignError::InsufficientCredits {
                account_id: account.id,
                available: account.available(),
                needed,
            });
        }
    }
    let expires_at = Utc::now() + chrono::Duration::days(LINK_DAYS);
    let sent = conn.transaction(|conn| {
        let sign_request: SignRequest = diesel::insert_into(sign_requests::table)
            .values(NewSignRequest {
                database_id,
                document_id: document.id,
                created_by: Some(user_id),
                form_key: &request.form_key,
                title: &request.title,
                document_sha256: &document.sha256,
            })
            .returning(SignRequest::as_returning())
            .get_result(conn)?;
        let mut links = Vec::new();
        for s in &request.signers {
            let token = new_token();
            let signer: Signer = diesel::insert_into(signers::table)
                .values(NewSigner {
                    request_id: sign_request.id,
                    database_id,
                    name: &s.name,
                    email: &s.email,
                    country: &s.country,
                    itsme: s.itsme,
                    token_hash: documents::sha256_hex(token.as_bytes()),
                    expires_at,
                })
                .returning(Signer::as_returning())
                .get_result(conn)?;
            links.push((signer, token));
        }
        Ok(Sent {
            request: sign_request,
            links,
        })
    });
    match sent {
        // Posted twice at once: the other post sent it.
        Err(e) if crate::platform::db::is_unique_violation(&e) => {
            let id = sent_with(conn, database_id, &request.form_key)?.ok_or(SignError::NotFound)?;
            Err(SignError::AlreadySent(id))
        }
        other => Ok(other?),
    }
}

/// The request the form with this key sent, if it was sent.
pub fn sent_with(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    form_key: &str,
) -> QueryResult<Option<SignRequestId>> {
    sign_requests::table
        .filter(sign_requests::database_id.eq(database_id))
        .filter(sign_requests::form_key.eq(form_key))
        .select(sign_requests::id)
        .first(conn)
        .optional()
}

/// The database's requests, newest first.
pub fn requests(conn: &mut PgConnection, database_id: DatabaseId) -> QueryResult<Vec<SignRequest>> {
    sign_requests::table
        .filter(sign_requests::database_id.eq(database_id))
        .order(sign_requests::id.desc())
        .limit(100)
        .select(SignRequest::as_select())
        .load(conn)
}

/// One of the database's requests with its signers.
pub fn request(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    id: SignRequestId,
) -> QueryResult<Option<(SignRequest, Vec<Signer>)>> {
    let Some(found) = sign_requests::table
        .filter(sign_requests::database_id.eq(database_id))
        .filter(sign_requests::id.eq(id))
        .select(SignRequest::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let signers = signers::table
        .filter(signers::request_id.eq(id))
        .order(signers::id)
        .select(Signer::as_select())
        .load(conn)?;
    Ok(Some((found, signers)))
}

/// The signed PDF of a completed request of the database.
pub fn signed_pdf(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    id: SignRequestId,
) -> QueryResult<Option<Vec<u8>>> {
    Ok(sign_requests::table
        .filter(sign_requests::database_id.eq(database_id))
        .filter(sign_requests::id.eq(id))
        .select(sign_requests::signed_pdf)
        .first::<Option<Vec<u8>>>(conn)
        .optional()?
        .flatten())
}

/// The signer a link token names, with their request, while the link works.
pub fn by_token(
    conn: &mut PgConnection,
    token: &str,
) -> QueryResult<Option<(Signer, SignRequest)>> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    signers::table
        .inner_join(sign_requests::table)
        .filter(signers::token_hash.eq(documents::sha256_hex(token.as_bytes())))
        .filter(signers::expires_at.gt(Utc::now()))
        .select((Signer::as_select(), SignRequest::as_select()))
        .first(conn)
        .optional()
}

/// Where an identification stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Identified {
    /// Sent to the provider's page: go to `session`.
    Started {
        session: String,
    },
    AlreadyIdentified,
    Approved(Credits),
    Denied,
    /// The signer has not answered in the app yet.
    Pending,
    /// Given up (never finished in time): start again.
    Expired,
}

/// Starts (or resumes) the signer's identification: the price held, the record written, then
/// the provider's session started with no transaction open.
pub fn start_identification(
    conn: &mut PgConnection,
    provider: &Arc<dyn ItsmeProvider>,
    signer: &Signer,
    return_to: &str,
) -> Result<Identified, SignError> {
    if !signer.itsme || signer.identified_at.is_some() {
        return Ok(Identified::AlreadyIdentified);
    }
    let open: Option<(IdentificationId, Option<String>)> = identifications::table
        .filter(identifications::signer_id.eq(signer.id))
        .filter(identifications::status.eq(IdentificationStatus::Pending))
        .order(identifications::id.desc())
        .select((identifications::id, identifications::provider_session))
        .first(conn)
        .optional()?;
    let id = match open {
        Some((_, Some(session))) => return Ok(Identified::Started { session }),
        Some((id, None)) => id,
        None => {
            let price = usage_prices::price(conn, SERVICE, usage_prices::IDENTIFICATION)?;
            let actor = Actor::system("itsme");
            let description = format!("itsme identification: {}", signer.name);
            let request = Request {
                database_id: signer.database_id,
                account: None,
                service: &IdentificationWorker(provider.clone()),
                credits: price,
                hold_ttl: hold_ttl(),
                description: &description,
                actor: &actor,
            };
            let begun = metering::begin(conn, &request, |conn, job| {
                diesel::insert_into(identifications::table)
                    .values(NewIdentification {
                        job_id: job.id,
                        database_id: signer.database_id,
                        signer_id: signer.id,
                        price,
                    })
                    .returning(identifications::id)
                    .get_result::<IdentificationId>(conn)
            });
            match begun {
                Ok((_, id)) => id,
                // Pressed twice at once: the other press started it.
                Err(MeteringError::Database(e)) if crate::platform::db::is_unique_violation(&e) => {
                    return Ok(Identified::Pending);
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let session = provider
        .start(
            &format!("identification-{id}"),
            &signer.name,
            &signer.country,
            return_to,
        )
        .map_err(SignError::Provider)?;
    diesel::update(identifications::table.find(id))
        .set(identifications::provider_session.eq(&session))
        .execute(conn)?;
    Ok(Identified::Started { session })
}

/// The signer is back from the provider: asks it for the result of their latest
/// identification and settles it, once (a repeat changes nothing).
pub fn finish_identification(
    conn: &mut PgConnection,
    provider: &Arc<dyn ItsmeProvider>,
    signer: &Signer,
) -> Result<Identified, SignError> {
    let latest: Option<(crate::kernel::ids::JobId, IdentificationStatus, Credits)> =
        identifications::table
            .filter(identifications::signer_id.eq(signer.id))
            .order(identifications::id.desc())
            .select((
                identifications::job_id,
                identifications::status,
                identifications::price,
            ))
            .first(conn)
            .optional()?;
    let Some((job_id, status, price)) = latest else {
        return Ok(Identified::Expired);
    };
    if status == IdentificationStatus::Pending {
        metering::run(conn, &IdentificationWorker(provider.clone()), job_id)?;
    }
    let status: IdentificationStatus = identifications::table
        .filter(identifications::job_id.eq(job_id))
        .select(identifications::status)
        .first(conn)?;
    Ok(match status {
        IdentificationStatus::Approved => Identified::Approved(price),
        IdentificationStatus::Denied => Identified::Denied,
        IdentificationStatus::Pending => Identified::Pending,
        IdentificationStatus::Abandoned => Identified::Expired,
    })
}

/// The worker's itsme: the provider's result and what a job used.
pub struct IdentificationWorker(pub Arc<dyn ItsmeProvider>);

impl PaidService for IdentificationWorker {
    fn slug(&self) -> &'static str {
        SERVICE
    }

    fn perform(&self, conn: &mut PgConnection, job: &Job) -> Result<(), PerformError> {
        let pending: Option<(IdentificationId, SignerId, Option<String>)> = identifications::table
            .filter(identifications::job_id.eq(job.id))
            .filter(identifications::status.eq(IdentificationStatus::Pending))
            .select((
                identifications::id,
                identifications::signer_id,
                identifications::provider_session,
            ))
            .first(conn)
            .optional()?;
        let Some((id, signer_id, session)) = pending else {
            return Ok(());
        };
        let session = session.ok_or_else(|| PerformError("not started at itsme yet".into()))?;
        // Asked with no transaction open; the answer saved in a short one.
        let result = self.0.result(&session).map_err(PerformError)?;
        let identity = match result {
            IdentificationResult::Pending => {
                return Err(PerformError(
                    "the signer has not answered in itsme yet".into(),
                ));
            }
            IdentificationResult::Approved(identity) => Some(identity),
            IdentificationResult::Denied => None,
        };
        conn.transaction(|conn| {
            let changed = diesel::update(
                identifications::table
                    .find(id)
                    .filter(identifications::status.eq(IdentificationStatus::Pending)),
            )
            .set((
                identifications::status.eq(if identity.is_some() {
                    IdentificationStatus::Approved
                } else {
                    IdentificationStatus::Denied
                }),
                identifications::finished_at.eq(Utc::now()),
            ))
            .execute(conn)?;
            if changed == 1
                && let Some(identity) = &identity
            {
                diesel::update(signers::table.find(signer_id))
                    .set((
                        signers::identified_name.eq(&identity.name),
                        signers::identified_birth_date.eq(identity.birth_date),
                        signers::identified_national_number
                            .eq(itsme::mask(&identity.national_number)),
                        signers::identified_at.eq(Utc::now()),
                    ))
                    .execute(conn)?;
            }
            QueryResult::Ok(())
        })?;
        Ok(())
    }

    fn close_unfinished(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<()> {
        diesel::update(
            identifications::table
                .filter(identifications::job_id.eq(job.id))
                .filter(identifications::status.eq(IdentificationStatus::Pending)),
        )
        .set((
            identifications::status.eq(IdentificationStatus::Abandoned),
            identifications::finished_at.eq(Utc::now()),
        ))
        .execute(conn)
        .map(drop)
    }

    fn used(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<Credits> {
        let prices: Vec<Credits> = identifications::table
            .filter(identifications::job_id.eq(job.id))
            .filter(identifications::status.eq(IdentificationStatus::Approved))
            .select(identifications::price)
            .load(conn)?;
        Ok(prices.into_iter().sum())
    }
}

/// The lines of the signature page and the certificate.
pub fn certificate_lines(request: &SignRequest, signers: &[Signer]) -> Vec<String> {
    let mut lines = vec![
        format!("Signature certificate: {}", request.title),
        format!("Document SHA-256: {}", request.document_sha256),
        format!(
            "Sent: {} UTC",
            request.created_at.format("%Y-%m-%d %H:%M:%S")
        ),
        String::new(),
    ];
    for s in signers {
        lines.push(format!("{} <{}>, {}", s.name, s.email, s.country));
        if let Some(at) = s.identified_at {
            lines.push(format!(
                "  Identified with itsme at {} UTC: {}, born {}, national number {}",
                at.format("%Y-%m-%d %H:%M:%S"),
                s.identified_name.as_deref().unwrap_or_default(),
                s.identified_birth_date
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                s.identified_national_number.as_deref().unwrap_or_default(),
            ));
        }
        if let Some(at) = s.signed_at {
            lines.push(format!(
                "  Signed at {} UTC from {}, document SHA-256 {}",
                at.format("%Y-%m-%d %H:%M:%S"),
                s.signed_from.as_deref().unwrap_or("an unknown address"),
                s.signed_sha256.as_deref().unwrap_or_default(),
            ));
        }
    }
    lines
}

/// The signer signs: they type their name; itsme signers must be identified first. Answers
/// whether every signer has signed now: then `complete` makes the signed PDF (in the PDF
/// reader, through its gate) and completes the request.
pub fn sign(
    conn: &mut PgConnection,
    signer: &Signer,
    typed_name: &str,
    from: Option<&str>,
) -> Result<bool, SignError> {
    if signer.signed_at.is_some() {
        return Ok(false);
    }
    if signer.itsme && signer.identified_at.is_none() {
        return Err(SignError::Refused(
            "Identify yourself with itsme before signing.".into(),
        ));
    }
    if typed_name.trim().to_lowercase() != signer.name.trim().to_lowercase() {
        return Err(SignError::Refused(format!(
            "Type your name as it is written here ({}) to sign.",
            signer.name
        )));
    }
    let all_signed = conn.transaction(|conn| {
        let request: SignRequest = sign_requests::table
            .find(signer.request_id)
            .select(SignRequest::as_select())
            .for_update()
            .first(conn)?;
        diesel::update(
            signers::table
                .find(signer.id)
                .filter(signers::signed_at.is_null()),
        )
        .set((
            signers::signed_at.eq(Utc::now()),
            signers::signed_from.eq(from.map(|f| f.chars().take(100).collect::<String>())),
            signers::signed_sha256.eq(&request.document_sha256),
        ))
        .execute(conn)?;
        let unsigned: i64 = signers::table
            .filter(signers::request_id.eq(request.id))
            .filter(signers::signed_at.is_null())
            .count()
            .get_result(conn)?;
        QueryResult::Ok(unsigned == 0)
    })?;
    Ok(all_signed)
}

/// Whether the request is sent and every signer has signed: its signed PDF is to be made.
pub fn awaits_completion(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    request_id: SignRequestId,
) -> QueryResult<bool> {
    Ok(
        request(conn, database_id, request_id)?.is_some_and(|(request, signers)| {
            request.status == SignRequestStatus::Sent
                && signers.iter().all(|s| s.signed_at.is_some())
        }),
    )
}

/// Makes the signed PDF of a request every signer has signed (in the PDF reader's child
/// process, holding no connection) and completes the request, once. Run it through the PDF
/// reader's gate; a request left signed but not completed (a busy reader) is completed when
/// its page is shown again.
pub fn complete(
    pool: &crate::platform::db::DbPool,
    inspector: &PdfInspector,
    database_id: DatabaseId,
    request_id: SignRequestId,
) -> Result<(), SignError> {
    let (original, lines) = {
        let mut conn = pool
            .get()
            .map_err(|e| SignError::Unavailable(e.to_string()))?;
        let (request, signers) =
            request(&mut conn, database_id, request_id)?.ok_or(SignError::NotFound)?;
        if request.status != SignRequestStatus::Sent
            || signers.iter().any(|s| s.signed_at.is_none())
        {
            return Ok(());
        }
        let original = documents::content(&mut conn, database_id, request.document_id)?
            .ok_or(SignError::NotFound)?;
        (original, certificate_lines(&request, &signers))
    };
    let signed = inspector
        .append_page(&original, &lines)
        .map_err(|e| SignError::Refused(e.to_string()))?;
    let conn = &mut pool
        .get()
        .map_err(|e| SignError::Unavailable(e.to_string()))?;
    diesel::update(
        sign_requests::table
            .find(request_id)
            .filter(sign_requests::status.eq(SignRequestStatus::Sent)),
    )
    .set((
        sign_requests::status.eq(SignRequestStatus::Completed),
        sign_requests::signed_pdf.eq(signed),
        sign_requests::completed_at.eq(Utc::now()),
    ))
    .execute(conn)?;
    Ok(())
}

//! The Sign app's pages: requests (new, list, one with its certificate and signed PDF), the
//! signer's pages behind their link (no sign-in), and the simulated itsme provider's page.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::auth::session as auth_session;
use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::{CsrfForm, CsrfUpload, CurrentUser};
use crate::http::state::{AppState, with_conn};
use crate::kernel::forms::FieldErrors;
use crate::kernel::ids::{AccountId, SignRequestId};
use crate::services::documents::{self, UploadError};
use crate::services::signing::{
    self, Identified, RequestInput, SignError, SignRequest, SignRequestStatus, Signer,
};

#[derive(Template)]
#[template(path = "sign/list.html")]
struct ListPage {
    nav: Nav,
    requests: Vec<SignRequest>,
    input: RequestInput,
    errors: FieldErrors,
    file_error: Option<String>,
    /// Too few itsme credits: (account, needed, available).
    shortfall: Option<(AccountId, String, String)>,
    /// What identifying one signer with itsme costs now (the catalog's price).
    itsme_price: crate::kernel::credits::Credits,
}

impl ListPage {
    fn row_error(&self, i: &usize) -> Option<String> {
        self.errors.get(&format!("signer_{i}")).cloned()
    }
}

async fn list_page(
    state: &AppState,
    current: &CurrentUser,
    input: RequestInput,
) -> Result<ListPage, AppError> {
    let database_id = current.user.database_id;
    let (requests, itsme_price) = with_conn(state, move |conn| {
        let price = crate::domain::catalog::usage_prices::price(
            conn,
            signing::SERVICE,
            crate::domain::catalog::usage_prices::IDENTIFICATION,
        )?;
        Ok((signing::requests(conn, database_id)?, price))
    })
    .await?;
    Ok(ListPage {
        nav: Nav::for_user(current),
        requests,
        itsme_price,
        input,
        errors: FieldErrors::default(),
        file_error: None,
        shortfall: None,
    })
}

pub async fn list(
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, AppError> {
    let page = list_page(&state, &current, RequestInput::blank()).await?;
    page::render(&page)
}

#[derive(Template)]
#[template(path = "sign/sent.html")]
struct SentPage {
    nav: Nav,
    request: SignRequest,
    /// Each signer and their link, shown this once.
    links: Vec<(Signer, String)>,
}

/// `POST /sign`: a PDF and its signers (multipart).
pub async fn create(
    state: web::Data<AppState>,
    current: CurrentUser,
    form: CsrfUpload,
) -> Result<HttpResponse, AppError> {
    let input = RequestInput::from_pairs(&form.fields);
    let valid = input.validate();
    // The form's fields first: a file is read only for a request that can be sent.
    let valid = match valid {
        Ok(valid) => valid,
        Err(errors) => {
            let mut page = list_page(&state, &current, input).await?;
            page.errors = errors;
            page.file_error = match &form.file {
                Some(f) if f.too_large => Some(UploadError::TooLarge.to_string()),
                Some(f) if !f.content.is_empty() => None,
                _ => Some(UploadError::Empty.to_string()),
            };
            return page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let checked = match super::uploads::check(&state, current.user.database_id, form.file).await {
        Ok(c) if c.media_type == documents::PDF => Ok(c),
        Ok(_) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "Only a PDF can be sent for signature.".to_string(),
        )),
        Err(e) => Err((super::uploads::status_of(&e), e.to_string())),
    };
    let checked = match checked {
        Ok(c) => c,
        Err((status, message)) => {
            let mut page = list_page(&state, &current, input).await?;
            page.file_error = Some(message);
            return page::render_with_status(&page, status);
        }
    };
    let (database_id, user_id) = (current.user.database_id, current.user.id);
    let sent = with_conn(&state, move |conn| {
        match signing::send_upload(conn, database_id, user_id, &checked, &valid) {
            Ok(sent) => Ok(Ok(sent)),
            Err(SignError::AlreadySent(id)) => Ok(Err(Ok(id))),
            Err(SignError::InsufficientCredits {
                account_id,
                available,
                needed,
            }) => Ok(Err(Err((
                account_id,
                needed.with_unit(),
                available.to_display(),
            )))),
            Err(SignError::Database(e)) => Err(e.into()),
            Err(e) => Err(AppError::Internal(e.to_string())),
        }
    })
    .await?;
    match sent {
        Ok(sent) => {
            let base = state.base_url.clone();
            page::render(&SentPage {
                nav: Nav::for_user(&current),
                request: sent.request,
                links: sent
                    .links
                    .into_iter()
                    .map(|(s, token)| (s, format!("{base}/s/{token}")))
                    .collect(),
            })
        }
        // The same form again: its request (the links were shown the first time).
        Err(Ok(id)) => Ok(page::see_other(format!("/sign/requests/{id}"))),
        Err(Err(shortfall)) => {
            let mut page = list_page(&state, &current, input).await?;
            page.shortfall = Some(shortfall);
            page::render_with_status(&page, StatusCode::PAYMENT_REQUIRED)
        }
    }
}

#[derive(Template)]
#[template(path = "sign/request.html")]
struct RequestPage {
    nav: Nav,
    request: SignRequest,
    signers: Vec<Signer>,
    certificate: Vec<String>,
}

pub async fn request(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<SignRequestId>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    let (request, signers) = with_conn(&state, move |conn| {
        signing::request(conn, database_id, id)?.ok_or(AppError::NotFound)
    })
    .await?;
    let certificate = signing::certificate_lines(&request, &signers);
    page::render(&RequestPage {
        nav: Nav::for_user(&current),
        request,
        signers,
        certificate,
    })
}

fn pdf_response(content: Vec<u8>, name: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            "Content-Disposition",
            format!("inline; filename=\"{name}\""),
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Security-Policy", "sandbox; default-src 'none'"))
        .insert_header(("Cache-Control", "private, no-store"))
        .body(content)
}

pub async fn signed_pdf(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<SignRequestId>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    let pdf = with_conn(&state, move |conn| {
        signing::signed_pdf(conn, database_id, id)?.ok_or(AppError::NotFound)
    })
    .await?;
    Ok(pdf_response(pdf, &format!("signed-{id}.pdf")))
}

/// The signer's pages' navigation: nobody signed in, the session's CSRF token for the forms.
fn signer_nav(session: &Session) -> Nav {
    Nav {
        user: None,
        csrf: auth_session::csrf_token(session),
    }
}

async fn signer_of(state: &AppState, token: String) -> Result<(Signer, SignRequest), AppError> {
    with_conn(state, move |conn| {
        signing::by_token(conn, &token)?.ok_or(AppError::NotFound)
    })
    .await
}

#[derive(Template)]
#[template(path = "sign/signer.html")]
struct SignerPage {
    nav: Nav,
    token: String,
    signer: Signer,
    request: SignRequest,
    notice: Option<String>,
    error: Option<String>,
    typed: String,
}

#[derive(Deserialize)]
pub struct SignerQuery {
    identified: Option<String>,
}

pub async fn signer_page(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    query: web::Query<SignerQuery>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let (mut signer, mut request) = signer_of(&state, token.clone()).await?;
    if request.status == SignRequestStatus::Sent && signer.signed_at.is_some() {
        // Everyone may have signed while the reader was busy: finish it now (if so).
        complete(&state, &signer).await;
        (signer, request) = signer_of(&state, token.clone()).await?;
    }
    let notice = match query.identified.as_deref() {
        Some("approved") => Some("itsme identified you. You can sign now.".to_string()),
        Some("denied") => Some(
            "You refused the identification in itsme. Nothing was signed; you can try again."
                .into(),
        ),
        Some("pending") => {
            Some("itsme has not had your answer yet. Answer in the app, then come back.".into())
        }
        Some("expired") => {
            Some("The identification took too long and was cancelled. Start again.".into())
        }
        _ => None,
    };
    page::render(&SignerPage {
        nav: signer_nav(&session),
        token,
        signer,
        request,
        notice,
        error: None,
        typed: String::new(),
    })
}

pub async fn signer_document(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (signer, request) = signer_of(&state, path.into_inner()).await?;
    let pdf = with_conn(&state, move |conn| {
        documents::content(conn, signer.database_id, request.document_id)?.ok_or(AppError::NotFound)
    })
    .await?;
    Ok(pdf_response(pdf, "document.pdf"))
}

/// `POST /s/{token}/itsme`: to itsme's page.
pub async fn identify(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _form: CsrfForm<page::EmptyForm>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let (signer, _) = signer_of(&state, token.clone()).await?;
    let provider = state.itsme.clone();
    let return_to = format!("/s/{token}/itsme");
    let started = with_conn(&state, move |conn| {
        signing::start_identification(conn, &provider, &signer, &return_to).map_err(|e| match e {
            SignError::Database(e) => e.into(),
            SignError::InsufficientCredits { .. } => AppError::Unavailable(
                "The identification cannot be paid for: ask the sender to buy itsme credits."
                    .into(),
            ),
            other => AppError::Unavailable(other.to_string()),
        })
    })
    .await?;
    Ok(page::see_other(match started {
        Identified::Started { session } => format!("/itsme-sim/{session}"),
        _ => format!("/s/{token}"),
    }))
}

/// `GET /s/{token}/itsme`: back from itsme: its answer, settled once.
pub async fn identified(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let (signer, _) = signer_of(&state, token.clone()).await?;
    let provider = state.itsme.clone();
    let outcome = with_conn(&state, move |conn| {
        signing::finish_identification(conn, &provider, &signer).map_err(|e| match e {
            SignError::Database(e) => e.into(),
            other => AppError::Unavailable(other.to_string()),
        })
    })
    .await?;
    let said = match outcome {
        Identified::Approved(_) | Identified::AlreadyIdentified => "approved",
        Identified::Denied => "denied",
        Identified::Pending | Identified::Started { .. } => "pending",
        Identified::Expired => "expired",
    };
    Ok(page::see_other(format!("/s/{token}?identified={said}")))
}

#[derive(Deserialize)]
pub struct SignForm {
    #[serde(default)]
    name: String,
}

/// `POST /s/{token}/sign`.
pub async fn sign(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<SignForm>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let (signer, request) = signer_of(&state, token.clone()).await?;
    let from = Some(crate::http::client::address(&req));
    let (kept, typed) = (signer.clone(), form.name.clone());
    let outcome = with_conn(&state, move |conn| {
        match signing::sign(conn, &kept, &typed, from.as_deref()) {
            Ok(all_signed) => Ok(Ok(all_signed)),
            Err(SignError::Refused(why)) => Ok(Err(why)),
            Err(SignError::Database(e)) => Err(e.into()),
            Err(e) => Err(AppError::Internal(e.to_string())),
        }
    })
    .await?;
    match outcome {
        Ok(all_signed) => {
            if all_signed {
                complete(&state, &signer).await;
            }
            Ok(page::see_other(format!("/s/{token}")))
        }
        Err(why) => page::render_with_status(
            &SignerPage {
                nav: signer_nav(&session),
                token,
                signer,
                request,
                notice: None,
                error: Some(why),
                typed: form.name,
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

/// Makes the signed PDF of the signer's request once everyone has signed, through the PDF
/// reader's gate. A busy or failing reader leaves it for the next time a page of the request is
/// shown: the signatures are kept either way.
async fn complete(state: &AppState, signer: &Signer) {
    let (database_id, request_id) = (signer.database_id, signer.request_id);
    let due = with_conn(state, move |conn| {
        Ok(signing::awaits_completion(conn, database_id, request_id)?)
    })
    .await;
    if !matches!(due, Ok(true)) {
        return;
    }
    let (pool, inspector) = (state.pool.clone(), state.readers.pdf.clone());
    let completed = state
        .readers
        .gate
        .read(database_id, move || {
            signing::complete(&pool, &inspector, database_id, request_id)
        })
        .await;
    match completed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(request = %request_id, "signed PDF not made yet: {e}"),
        Err(busy) => tracing::info!(request = %request_id, "signed PDF not made yet: {busy}"),
    }
}

#[derive(Template)]
#[template(path = "sign/itsme_sim.html")]
struct ItsmePage {
    nav: Nav,
    session_id: String,
    session: crate::services::signing::itsme::SimulatedSession,
}

/// The simulated itsme's page: what the signer would see in the itsme app.
pub async fn itsme_page(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    // The simulated provider keeps its sessions in the database: asked on the blocking pool.
    let (itsme, asked) = (state.itsme_sim.clone(), id.clone());
    let found = web::block(move || itsme.session(&asked))
        .await?
        .ok_or(AppError::NotFound)?;
    page::render(&ItsmePage {
        nav: signer_nav(&session),
        session_id: id,
        session: found,
    })
}

#[derive(Deserialize)]
pub struct Decision {
    #[serde(default)]
    decision: String,
}

pub async fn itsme_decide(
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<Decision>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (itsme, approve) = (state.itsme_sim.clone(), form.decision == "approve");
    let found = web::block(move || {
        let found = itsme.session(&id)?;
        itsme.decide(&id, approve);
        Some(found)
    })
    .await?
    .ok_or(AppError::NotFound)?;
    // Back to where the identification began: only a signer's page of this site.
    if !found.return_to.starts_with("/s/") {
        return Err(AppError::NotFound);
    }
    Ok(page::see_other(found.return_to))
}

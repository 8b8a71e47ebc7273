//! The Vendor Bills app: upload a bill, see it, **Digitize** it (Documents Digitization), and
//! review the fields it read.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::{CsrfForm, CsrfUpload, CurrentUser};
use crate::http::state::{AppState, with_conn};
use crate::kernel::credits::Credits;
use crate::kernel::forms::{FieldErrors, FormError};
use crate::kernel::ids::{AccountId, BillId};
use crate::kernel::pagination::Page;
use crate::services::digitization::{
    self, BillInput, BillStatus, DigitizeError, Digitized, VendorBill,
};
use crate::services::documents::{self, Document, UploadError};

#[derive(Template)]
#[template(path = "bills/list.html")]
struct ListPage {
    nav: Nav,
    bills: Vec<(VendorBill, Document)>,
    next: Option<BillId>,
    /// What was wrong with the file just uploaded.
    upload_error: Option<String>,
}

impl ListPage {
    fn amount(minor: &Option<i64>) -> String {
        VendorBill::amount_text(*minor)
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    before: Option<BillId>,
}

async fn list_page(
    state: &AppState,
    current: &CurrentUser,
    before: Option<BillId>,
    upload_error: Option<String>,
) -> Result<ListPage, AppError> {
    let database_id = current.user.database_id;
    let found = with_conn(state, move |conn| {
        Ok(digitization::list(conn, database_id, before)?)
    })
    .await?;
    let Page { rows, next } = digitization::PAGE_SIZE.page(found, |(b, _)| b.id);
    Ok(ListPage {
        nav: Nav::for_user(current),
        bills: rows,
        next,
        upload_error,
    })
}

pub async fn list(
    state: web::Data<AppState>,
    current: CurrentUser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let page = list_page(&state, &current, query.before, None).await?;
    page::render(&page)
}

/// The list again, with what was wrong with the file next to the file field.
async fn refused(
    state: &AppState,
    current: &CurrentUser,
    error: UploadError,
) -> Result<HttpResponse, AppError> {
    let status = super::uploads::status_of(&error);
    let page = list_page(state, current, None, Some(error.to_string())).await?;
    page::render_with_status(&page, status)
}

/// `POST /bills`: uploads a bill (multipart), checked by its content.
pub async fn upload(
    state: web::Data<AppState>,
    current: CurrentUser,
    form: CsrfUpload,
) -> Result<HttpResponse, AppError> {
    let (database_id, user_id) = (current.user.database_id, current.user.id);
    // Read (a PDF in its limited child process, through the gate) holding no connection.
    let checked = match super::uploads::check(&state, database_id, form.file).await {
        Ok(checked) => checked,
        Err(error) => return refused(&state, &current, error).await,
    };
    let bill = with_conn(&state, move |conn| {
        Ok(digitization::create_bill(
            conn,
            database_id,
            user_id,
            &checked,
        )?)
    })
    .await?;
    Ok(page::see_other(format!("/bills/{}", bill.id)))
}

#[derive(Template)]
#[template(path = "bills/show.html")]
struct ShowPage {
    nav: Nav,
    bill: VendorBill,
    document: Document,
    input: BillInput,
    errors: FieldErrors,
    price: Credits,
    notice: Option<String>,
    /// Too few credits to digitize: the account to buy for.
    short_of_credits: Option<AccountId>,
    /// A digitization of the bill is being read.
    reading: bool,
}

impl ShowPage {
    /// "95% sure", for a field digitization filled in; said plainly when it needs review.
    fn sure(&self, field: &str) -> String {
        self.bill
            .confidence_of(field)
            .map(|c| {
                if c < u64::from(crate::services::digitization::extract::REVIEW) + 10 {
                    format!("Needs review: {c}% sure. Check it against the file.")
                } else {
                    format!("{c}% sure")
                }
            })
            .unwrap_or_default()
    }
}

#[derive(Deserialize)]
pub struct ShowQuery {
    short: Option<AccountId>,
    notice: Option<String>,
}

async fn show_page(
    state: &AppState,
    current: &CurrentUser,
    id: BillId,
) -> Result<ShowPage, AppError> {
    let database_id = current.user.database_id;
    let ((bill, document), price, reading) = with_conn(state, move |conn| {
        let found = digitization::find(conn, database_id, id)?.ok_or(AppError::NotFound)?;
        let price = crate::domain::catalog::usage_prices::price(
            conn,
            digitization::SERVICE,
            crate::domain::catalog::usage_prices::DOCUMENT,
        )?;
        let reading = digitization::is_being_read(conn, id)?;
        Ok((found, price, reading))
    })
    .await?;
    Ok(ShowPage {
        nav: Nav::for_user(current),
        input: BillInput::from_bill(&bill),
        bill,
        document,
        errors: FieldErrors::default(),
        price,
        notice: None,
        short_of_credits: None,
        reading,
    })
}

pub async fn show(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<BillId>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, AppError> {
    let mut page = show_page(&state, &current, path.into_inner()).await?;
    page.short_of_credits = query.short;
    page.notice = match query.notice.as_deref() {
        Some("unreadable") => Some(
            "This file was read before and nothing a bill is made of could be read from it; reading it again would find nothing. Upload a clearer scan or the PDF the vendor sent."
                .into(),
        ),
        Some("too-many") => Some(format!(
            "{} of your bills are being read already. Digitize this one when they are done.",
            digitization::MAX_READING_PER_DATABASE
        )),
        Some("saved") => Some("Saved.".into()),
        _ => None,
    };
    page::render(&page)
}

/// `GET /bills/{id}/file`: the bill's file, to its database's users only.
pub async fn file(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<BillId>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    let (document, content) = with_conn(&state, move |conn| {
        let (_, document) = digitization::find(conn, database_id, id)?.ok_or(AppError::NotFound)?;
        let content =
            documents::content(conn, database_id, document.id)?.ok_or(AppError::NotFound)?;
        Ok((document, content))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type(document.media_type.as_str())
        .insert_header((
            "Content-Disposition",
            format!("inline; filename=\"{}\"", document.file_name),
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        // Shown as a file, never as a page of this site.
        .insert_header(("Content-Security-Policy", "sandbox; default-src 'none'"))
        .insert_header(("Cache-Control", "private, no-store"))
        .body(content))
}

/// `POST /bills/{id}/digitize`: hands the bill to the reading worker for the price of one
/// document; the page says "reading…" until the fields are read.
pub async fn digitize(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<BillId>,
    _form: CsrfForm<page::EmptyForm>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id, user_id) = (path.into_inner(), current.user.database_id, current.user.id);
    let outcome = with_conn(&state, move |conn| {
        digitization::digitize(conn, database_id, user_id, id).map_err(|e| match e {
            DigitizeError::NotFound => AppError::NotFound,
            DigitizeError::Database(e) => e.into(),
            other => AppError::Internal(other.to_string()),
        })
    })
    .await?;
    if outcome == Digitized::Reading {
        state.readers.doorbell.notify_one();
    }
    Ok(page::see_other(match outcome {
        Digitized::Reading | Digitized::UnderWay => format!("/bills/{id}#digitize"),
        Digitized::AlreadyDigitized => format!("/bills/{id}#fields"),
        Digitized::Unreadable => format!("/bills/{id}?notice=unreadable#digitize"),
        Digitized::TooManyReading => format!("/bills/{id}?notice=too-many#digitize"),
        Digitized::InsufficientCredits { account_id, .. } => {
            format!("/bills/{id}?short={account_id}#digitize")
        }
    }))
}

/// `GET /bills/{id}/reading`: whether the bill is still being read (the page asks, to show the
/// fields when they are).
pub async fn reading(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<BillId>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    let reading = with_conn(&state, move |conn| {
        digitization::find(conn, database_id, id)?.ok_or(AppError::NotFound)?;
        Ok(digitization::is_being_read(conn, id)?)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({ "reading": reading })))
}

/// `POST /bills/{id}`: the fields as the user reviewed them.
pub async fn review(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<BillId>,
    CsrfForm(input): CsrfForm<BillInput>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    let kept = input.clone();
    let saved = with_conn(&state, move |conn| {
        match digitization::save_review(conn, database_id, id, &kept) {
            Ok(_) => Ok(None),
            Err(FormError::Invalid(errors)) => Ok(Some(errors)),
            Err(FormError::NotFound) => Err(AppError::NotFound),
            Err(FormError::Database(e)) => Err(e.into()),
        }
    })
    .await?;
    match saved {
        None => Ok(page::see_other(format!("/bills/{id}?notice=saved#fields"))),
        Some(errors) => {
            let mut page = show_page(&state, &current, id).await?;
            page.input = input;
            page.errors = errors;
            page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

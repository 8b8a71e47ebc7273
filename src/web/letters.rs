//! Snailmail's pages: **Letters** (the database's letters and their status, and a PDF to post)
//! and **Send by Post** for a document (choose the contact and the options, see the price,
//! send).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::{CsrfForm, CsrfUpload, CurrentUser};
use crate::http::state::{AppState, with_conn};
use crate::kernel::ids::{AccountId, ContactId, DocumentId, LetterId};
use crate::kernel::pagination::Page;
use crate::services::documents::{self, Document, UploadError};
use crate::services::snailmail::postage::LetterOptions;
use crate::services::snailmail::{self, Letter, Quote, SendError, Sent};

#[derive(Template)]
#[template(path = "letters/list.html")]
struct ListPage {
    nav: Nav,
    letters: Vec<Letter>,
    next: Option<LetterId>,
    upload_error: Option<String>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    before: Option<LetterId>,
}

async fn list_page(
    state: &AppState,
    current: &CurrentUser,
    before: Option<LetterId>,
    upload_error: Option<String>,
) -> Result<ListPage, AppError> {
    let database_id = current.user.database_id;
    let post = state.post.clone();
    let found = with_conn(state, move |conn| {
        // Where the letters in transit are now (the post is asked with no transaction open).
        snailmail::track(conn, post.as_ref(), Some(database_id))?;
        Ok(snailmail::list(conn, database_id, before)?)
    })
    .await?;
    let Page { rows, next } = snailmail::PAGE_SIZE.page(found, |l| l.id);
    Ok(ListPage {
        nav: Nav::for_user(current),
        letters: rows,
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

/// `POST /letters`: a PDF to send by post (any PDF, not a bill).
pub async fn upload(
    state: web::Data<AppState>,
    current: CurrentUser,
    form: CsrfUpload,
) -> Result<HttpResponse, AppError> {
    let refused = |error: UploadError| (super::uploads::status_of(&error), error.to_string());
    let outcome = super::uploads::check(&state, current.user.database_id, form.file)
        .await
        .map_err(refused)
        .and_then(|checked| {
            if checked.media_type == documents::PDF {
                Ok(checked)
            } else {
                Err((
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Only a PDF can be sent by post.".to_string(),
                ))
            }
        });
    match outcome {
        Ok(checked) => {
            let (database_id, user_id) = (current.user.database_id, current.user.id);
            let document = with_conn(&state, move |conn| {
                Ok(documents::store(
                    conn,
                    database_id,
                    Some(user_id),
                    &checked,
                )?)
            })
            .await?;
            Ok(page::see_other(format!("/documents/{}/post", document.id)))
        }
        Err((status, message)) => {
            let page = list_page(&state, &current, None, Some(message)).await?;
            page::render_with_status(&page, status)
        }
    }
}

#[derive(Template)]
#[template(path = "letters/send.html")]
struct SendPage {
    nav: Nav,
    document: Document,
    contacts: Vec<(ContactId, String)>,
    chosen: Option<ContactId>,
    options: LetterOptions,
    quote: Option<Quote>,
    refusal: Option<String>,
    /// Too few Snailmail credits: (account, needed, available).
    shortfall: Option<(AccountId, String, String)>,
    /// The send form's one-time key.
    form_key: String,
}

impl SendPage {
    fn selected(&self, id: &ContactId) -> bool {
        self.chosen == Some(*id)
    }

    /// This page with its choices, as a `back` parameter (encoded) for the buy page.
    fn back_here(&self) -> String {
        let mut path = format!("/documents/{}/post", self.document.id);
        if let Some(contact) = self.chosen {
            let options = [
                ("colour", self.options.colour),
                ("duplex", self.options.duplex),
                ("cover", self.options.cover),
            ];
            path += &format!("?contact={contact}");
            for (name, on) in options {
                if on {
                    path += &format!("&{name}=on");
                }
            }
        }
        percent_encoding::utf8_percent_encode(&path, percent_encoding::NON_ALPHANUMERIC).to_string()
    }
}

/// Reads a PDF stored before its facts were kept at upload, once, through the reader's gate,
/// and keeps them; why it cannot be posted when it cannot be read.
async fn read_missing_facts(
    state: &AppState,
    database_id: crate::kernel::ids::DatabaseId,
    document_id: DocumentId,
) -> Result<Result<(), SendError>, AppError> {
    let content = with_conn(state, move |conn| {
        documents::content(conn, database_id, document_id)?.ok_or(AppError::NotFound)
    })
    .await?;
    let inspector = state.readers.pdf.clone();
    let read = state
        .readers
        .gate
        .read(database_id, move || inspector.inspect(&content))
        .await
        .map_err(AppError::from)?;
    match read {
        Ok(facts) => {
            with_conn(state, move |conn| {
                Ok(documents::keep_facts(
                    conn,
                    database_id,
                    document_id,
                    &facts,
                )?)
            })
            .await?;
            Ok(Ok(()))
        }
        Err(e) => Ok(Err(
            snailmail::LetterRefused::Unreadable(e.to_string()).into()
        )),
    }
}

/// The send form's fields (GET for the price, POST to send).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SendInput {
    form_key: Option<String>,
    contact: Option<String>,
    colour: Option<String>,
    duplex: Option<String>,
    cover: Option<String>,
}

impl SendInput {
    fn contact(&self) -> Option<ContactId> {
        self.contact.as_deref().and_then(|c| c.parse().ok())
    }

    fn options(&self) -> LetterOptions {
        LetterOptions {
            colour: self.colour.is_some(),
            duplex: self.duplex.is_some(),
            cover: self.cover.is_some(),
        }
    }
}

/// The page for `document_id` with the quote for the chosen contact, from what was read of the
/// PDF at upload (one stored before that is read once now, through the reader's gate).
async fn send_page(
    state: &AppState,
    current: &CurrentUser,
    document_id: DocumentId,
    input: &SendInput,
) -> Result<SendPage, AppError> {
    let database_id = current.user.database_id;
    let (chosen, options) = (input.contact(), input.options());
    let quote_now = || {
        with_conn(state, move |conn| {
            let document =
                documents::find(conn, database_id, document_id)?.ok_or(AppError::NotFound)?;
            let contacts = crate::services::contacts::choices(conn, database_id)?;
            let quoted = chosen
                .map(|contact| snailmail::quote(conn, database_id, document_id, contact, options));
            Ok((document, contacts, quoted))
        })
    };
    let (mut document, mut contacts, mut quoted) = quote_now().await?;
    if let Some(Err(SendError::NotReadYet)) = quoted {
        quoted = match read_missing_facts(state, database_id, document_id).await? {
            Ok(()) => {
                (document, contacts, quoted) = quote_now().await?;
                quoted
            }
            Err(refused) => Some(Err(refused)),
        };
    }
    let (quote, refusal) = match quoted {
        None => (None, None),
        Some(Ok(quote)) => (Some(quote), None),
        Some(Err(SendError::Refused(why))) => (None, Some(why.to_string())),
        Some(Err(SendError::NotFound)) => return Err(AppError::NotFound),
        Some(Err(SendError::Database(e))) => return Err(e.into()),
        Some(Err(e)) => return Err(AppError::Internal(e.to_string())),
    };
    Ok(SendPage {
        nav: Nav::for_user(current),
        document,
        contacts,
        chosen,
        options,
        quote,
        refusal,
        shortfall: None,
        form_key: crate::kernel::forms::new_form_key(),
    })
}

pub async fn send_form(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<DocumentId>,
    query: web::Query<SendInput>,
) -> Result<HttpResponse, AppError> {
    let page = send_page(&state, &current, path.into_inner(), &query).await?;
    if page.refusal.is_some() {
        return page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    page::render(&page)
}

/// `POST /documents/{id}/post`: **Send by Post**, priced again at the moment it is sent.
pub async fn send(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<DocumentId>,
    CsrfForm(input): CsrfForm<SendInput>,
) -> Result<HttpResponse, AppError> {
    let document_id = path.into_inner();
    let mut page = send_page(&state, &current, document_id, &input).await?;
    let Some(quote) = page.quote.clone() else {
        if page.refusal.is_none() {
            page.refusal = Some("Choose the contact to send it to.".into());
        }
        return page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let Some(form_key) = input
        .form_key
        .clone()
        .filter(|k| crate::kernel::forms::is_form_key(k))
    else {
        page.refusal = Some("This form is out of date: show the price again, then send.".into());
        return page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let (database_id, user_id) = (current.user.database_id, current.user.id);
    let post = state.post.clone();
    let sent = with_conn(&state, move |conn| {
        snailmail::send(conn, &post, database_id, user_id, &quote, &form_key).map_err(|e| match e {
            SendError::NotFound => AppError::NotFound,
            SendError::Database(e) => e.into(),
            other => AppError::Internal(other.to_string()),
        })
    })
    .await?;
    match sent {
        Sent::Sent { letter_id, .. }
        | Sent::Refused { letter_id, .. }
        | Sent::UnderWay { letter_id } => {
            Ok(page::see_other(format!("/letters#letter-{letter_id}")))
        }
        Sent::InsufficientCredits {
            account_id,
            available,
            needed,
        } => {
            page.shortfall = Some((account_id, needed.with_unit(), available.to_display()));
            page::render_with_status(&page, StatusCode::PAYMENT_REQUIRED)
        }
    }
}

//! Send SMS Text Message (from a contact's Phone or Mobile), and the SMS history (`/sms`).

use crate::http::page;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::session::{CsrfForm, CurrentUser};
use crate::http::state::{AppState, with_conn};
use crate::kernel::credits::Credits;
use crate::kernel::ids::ContactId;
use crate::services::contacts::{self, Contact, phone};
use crate::services::sms::encoding::MAX_PARTS;
use crate::services::sms::messages::{self, SmsMessage};
use crate::services::sms::pricing;
use crate::services::sms::sending::{self, NumberField, SendError};
use page::Nav;

#[derive(Template)]
#[template(path = "sms/send.html")]
struct SendPage {
    nav: Nav,
    contact: Contact,
    to: &'static str,
    recipient: String,
    /// Price per part to the recipient's country, for the live counter.
    price_per_part: Credits,
    message: String,
    error: Option<String>,
    /// Set when the SMS account ran short: (needed, available, buy link).
    shortfall: Option<(Credits, Credits, String)>,
    max_parts: usize,
}

#[derive(Deserialize)]
pub struct SendQuery {
    to: Option<NumberField>,
}

fn field_name(field: NumberField) -> &'static str {
    match field {
        NumberField::Phone => "phone",
        NumberField::Mobile => "mobile",
    }
}

/// The dialog for the contact's `field` number, with what the user typed.
fn send_page(
    conn: &mut diesel::PgConnection,
    current: &CurrentUser,
    contact_id: ContactId,
    field: NumberField,
    message: String,
) -> Result<SendPage, AppError> {
    let contact =
        contacts::find(conn, current.user.database_id, contact_id)?.ok_or(AppError::NotFound)?;
    let number = match field {
        NumberField::Phone => contact.phone.clone(),
        NumberField::Mobile => contact.mobile.clone(),
    }
    .ok_or(AppError::NotFound)?;
    let price = pricing::price_per_part(conn, phone::country_of(&number).as_deref())?;
    Ok(SendPage {
        nav: Nav::for_user(current),
        to: field_name(field),
        recipient: phone::display(&number),
        price_per_part: price.price,
        contact,
        message,
        error: None,
        shortfall: None,
        max_parts: MAX_PARTS,
    })
}

pub async fn dialog(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<ContactId>,
    query: web::Query<SendQuery>,
) -> Result<HttpResponse, AppError> {
    let (contact_id, field) = (path.into_inner(), query.to.unwrap_or(NumberField::Mobile));
    let page = with_conn(&state, move |conn| {
        send_page(conn, &current, contact_id, field, String::new())
    })
    .await?;
    page::render(&page)
}

#[derive(Deserialize)]
pub struct SendForm {
    to: NumberField,
    message: String,
}

pub async fn send(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<ContactId>,
    CsrfForm(form): CsrfForm<SendForm>,
) -> Result<HttpResponse, AppError> {
    let contact_id = path.into_inner();
    let gateway = state.sms.clone();
    let outcome = with_conn(&state, move |conn| {
        let (database_id, user_id) = (current.user.database_id, current.user.id);
        let result = sending::send_to_contact(
            conn,
            gateway.as_ref(),
            database_id,
            user_id,
            contact_id,
            form.to,
            &form.message,
        );
        let (status, error, shortfall) = match result {
            Ok(_) => return Ok(Ok(())),
            Err(
                e @ (SendError::ContactNotFound | SendError::Database(_) | SendError::Metering(_)),
            ) => {
                return Err(e.into());
            }
            Err(SendError::InsufficientCredits {
                account_id,
                available,
                needed,
            }) => (
                StatusCode::PAYMENT_REQUIRED,
                None,
                Some((needed, available, format!("/iap/accounts/{account_id}/buy"))),
            ),
            Err(e @ SendError::CarrierRefused(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, Some(e.to_string()), None)
            }
            Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, Some(e.to_string()), None),
        };
        let mut page = send_page(conn, &current, contact_id, form.to, form.message)?;
        page.error = error;
        page.shortfall = shortfall;
        Ok(Err((page, status)))
    })
    .await?;
    match outcome {
        Ok(()) => Ok(page::see_other(format!("/contacts/{contact_id}#chatter"))),
        Err((page, status)) => page::render_with_status(&page, status),
    }
}

#[derive(Template)]
#[template(path = "sms/history.html")]
struct HistoryPage {
    nav: Nav,
    messages: Vec<SmsMessage>,
}

pub async fn history(
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, AppError> {
    let database_id = current.user.database_id;
    let messages = with_conn(&state, move |conn| {
        Ok(messages::history(conn, database_id)?)
    })
    .await?;
    page::render(&HistoryPage {
        nav: Nav::for_user(&current),
        messages,
    })
}

#[derive(Template)]
#[template(path = "sms/mass.html")]
struct MassPage {
    nav: Nav,
    recipients: Vec<Contact>,
    message: String,
    error: Option<String>,
    /// (needed, available, missing, buy link) when the SMS account ran short.
    shortfall: Option<(Credits, Credits, Credits, String)>,
    outcome: Option<sending::BatchOutcome>,
}

/// The contact ids (`ids=…`, repeated) and the other fields of a query string or form.
fn ids_and_message(pairs: &[(String, String)]) -> (Vec<ContactId>, String) {
    let ids = pairs
        .iter()
        .filter(|(k, _)| k == "ids")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let message = pairs
        .iter()
        .find(|(k, _)| k == "message")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    (ids, message)
}

fn mass_page(
    conn: &mut diesel::PgConnection,
    current: &CurrentUser,
    ids: &[ContactId],
    message: String,
) -> Result<MassPage, AppError> {
    let recipients = contacts::by_ids(conn, current.user.database_id, ids)?;
    if recipients.is_empty() {
        return Err(AppError::NotFound);
    }
    Ok(MassPage {
        nav: Nav::for_user(current),
        recipients,
        message,
        error: None,
        shortfall: None,
        outcome: None,
    })
}

pub async fn mass_dialog(
    state: web::Data<AppState>,
    current: CurrentUser,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, AppError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let (ids, _) = ids_and_message(&pairs);
    let page = with_conn(&state, move |conn| {
        mass_page(conn, &current, &ids, String::new())
    })
    .await?;
    page::render(&page)
}

pub async fn mass_send(
    state: web::Data<AppState>,
    current: CurrentUser,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let (ids, message) = ids_and_message(&pairs);
    let gateway = state.sms.clone();
    let (page, status) = with_conn(&state, move |conn| {
        let (database_id, user_id) = (current.user.database_id, current.user.id);
        let result =
            sending::send_to_many(conn, gateway.as_ref(), database_id, user_id, &ids, &message);
        let mut page = mass_page(conn, &current, &ids, message)?;
        let status = match result {
            Ok(outcome) => {
                page.outcome = Some(outcome);
                StatusCode::OK
            }
            Err(
                e @ (SendError::ContactNotFound | SendError::Database(_) | SendError::Metering(_)),
            ) => {
                return Err(e.into());
            }
            Err(SendError::InsufficientCredits {
                account_id,
                available,
                needed,
            }) => {
                let missing = Credits::from_units(needed.units() - available.units());
                page.shortfall = Some((
                    needed,
                    available,
                    missing,
                    format!("/iap/accounts/{account_id}/buy"),
                ));
                StatusCode::PAYMENT_REQUIRED
            }
            Err(e) => {
                page.error = Some(e.to_string());
                StatusCode::UNPROCESSABLE_ENTITY
            }
        };
        Ok((page, status))
    })
    .await?;
    page::render_with_status(&page, status)
}

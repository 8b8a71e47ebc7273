//! Settings → Payment methods (administrators): the database's saved cards, with which
//! automatic top-ups use each; add a card (kept by the provider, not charged) or remove one
//! (the top-ups paid with it switch off and say so).

use crate::http::page;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::buy::{CheckoutForm, PayForm, read_card};
use crate::domain::payments::methods::{self, PaymentMethod};
use crate::http::error::AppError;
use crate::http::session::{Admin, CsrfForm, CurrentUser};
use crate::http::state::{AppState, with_conn};
use crate::kernel::ids::PaymentMethodId;
use page::Nav;

/// A saved card and the services whose automatic top-up it pays.
pub struct CardRow {
    pub card: PaymentMethod,
    pub expired: bool,
    pub paying_for: Vec<String>,
}

#[derive(Template)]
#[template(path = "settings/payment_methods.html")]
struct PaymentMethodsPage {
    nav: Nav,
    cards: Vec<CardRow>,
    form: CheckoutForm,
    notice: Option<String>,
}

fn load(
    conn: &mut diesel::PgConnection,
    current: &CurrentUser,
    form: CheckoutForm,
    notice: Option<String>,
) -> Result<PaymentMethodsPage, AppError> {
    let database_id = current.user.database_id;
    let mut paying = crate::domain::topup::services_by_card(conn, database_id)?;
    let now = chrono::Utc::now();
    let cards = methods::of_database(conn, database_id)?
        .into_iter()
        .map(|card| CardRow {
            expired: card.is_expired(now),
            paying_for: paying.remove(&card.id).unwrap_or_default(),
            card,
        })
        .collect();
    Ok(PaymentMethodsPage {
        nav: Nav::for_user(current),
        cards,
        form,
        notice,
    })
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    done: Option<String>,
}

pub async fn page(
    state: web::Data<AppState>,
    Admin(current): Admin,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, AppError> {
    let notice = match query.done.as_deref() {
        Some("added") => Some("The card is saved.".to_string()),
        Some("removed") => Some("The card is removed.".to_string()),
        _ => None,
    };
    let page = with_conn(&state, move |conn| {
        load(conn, &current, CheckoutForm::default(), notice)
    })
    .await?;
    page::render(&page)
}

/// Saves a card without charging it: the provider keeps it and answers its token.
pub async fn add(
    state: web::Data<AppState>,
    Admin(current): Admin,
    CsrfForm(form): CsrfForm<PayForm>,
) -> Result<HttpResponse, AppError> {
    let provider = state.payments.clone();
    let (card, typed) = read_card(&form);
    let outcome = with_conn(&state, move |conn| {
        let card = match card {
            Ok(card) => card,
            Err(errors) => {
                let form = CheckoutForm { errors, ..typed };
                return Ok(Err((
                    load(conn, &current, form, None)?,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )));
            }
        };
        let (database_id, user_id) = (current.user.database_id, current.user.id);
        match methods::save(conn, provider.as_ref(), database_id, Some(user_id), &card)? {
            Ok(_) => Ok(Ok(())),
            Err(refusal) => {
                let form = CheckoutForm {
                    declined: Some(refusal),
                    ..typed
                };
                Ok(Err((
                    load(conn, &current, form, None)?,
                    StatusCode::PAYMENT_REQUIRED,
                )))
            }
        }
    })
    .await?;
    match outcome {
        Ok(()) => Ok(page::see_other("/settings/payment-methods?done=added")),
        Err((page, status)) => page::render_with_status(&page, status),
    }
}

pub async fn remove(
    state: web::Data<AppState>,
    Admin(current): Admin,
    path: web::Path<PaymentMethodId>,
    _form: CsrfForm<page::EmptyForm>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    let provider = state.payments.clone();
    with_conn(&state, move |conn| {
        crate::domain::topup::remove_card(conn, provider.as_ref(), database_id, id)?
            .ok_or(AppError::NotFound)
    })
    .await?;
    Ok(page::see_other("/settings/payment-methods?done=removed"))
}

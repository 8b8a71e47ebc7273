//! The pages of Odoo's "Buy credits" link, opened without signing in: the link is the
//! credential, and opening it grants this browser's session the right to buy for that one
//! account for an hour (kept in the encrypted session cookie). Buying then goes through the
//! same orders and mock checkout as the signed-in pages, credited exactly once.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};

use super::buy::{
    CheckoutForm, CheckoutUrls, Paid, PayForm, checkout_page_with, pay_order, read_card,
};
use crate::domain::auth::{session, throttle};
use crate::domain::catalog::{Pack, Service};
use crate::domain::credit_link::{self, LinkQuery};
use crate::domain::ledger::{IapAccount, LedgerEntry, accounts};
use crate::domain::orders::{self, Order};
use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::CsrfForm;
use crate::http::state::{AppState, with_conn};
use crate::kernel::ids::{AccountId, DatabaseId, OrderId, PackId};

/// The session's grant: which account this browser may buy for, until when, and where the
/// user came from (the Odoo database's origin, to send them back).
#[derive(Serialize, Deserialize)]
struct Grant {
    account_id: AccountId,
    database_id: DatabaseId,
    until: i64,
    back: Option<String>,
}

const GRANT: &str = "iap_link";
const GRANT_SECONDS: i64 = 3600;

fn grant_of(session: &Session) -> Result<Grant, AppError> {
    let grant: Grant = session
        .get(GRANT)
        .ok()
        .flatten()
        .ok_or(AppError::UnknownLink)?;
    if grant.until < chrono::Utc::now().timestamp() {
        return Err(AppError::UnknownLink);
    }
    Ok(grant)
}

fn nav(session: &Session) -> Nav {
    Nav {
        csrf: session::csrf_token(session),
        ..Nav::anonymous()
    }
}

/// The origin of the page that opened the link (the Odoo database), if it is a web page.
fn origin_of_referer(req: &HttpRequest) -> Option<String> {
    let referer = req.headers().get("Referer")?.to_str().ok()?;
    let url = url::Url::parse(referer).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

fn address(req: &HttpRequest) -> String {
    crate::http::client::address(req)
}

#[derive(Template)]
#[template(path = "iap/link_packs.html")]
struct LinkPacksPage {
    nav: Nav,
    service: Service,
    account: IapAccount,
    packs: Vec<Pack>,
    preselected: Option<PackId>,
}

/// `GET /iap/1/credit`: Buy Credits for (service), for the account the link names.
pub async fn open(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, AppError> {
    let address = address(&req);
    let query = query.into_inner();
    let linked = with_conn(&state, move |conn| {
        let now = chrono::Utc::now();
        if throttle::lookup_locked(conn, &address, now)?.is_some() {
            return Err(AppError::TooManyAttempts);
        }
        let linked = credit_link::resolve(conn, &address, &query);
        if matches!(linked, Err(credit_link::LinkError::UnknownAccount)) {
            throttle::count_failed_lookup(conn, &address, now)?;
        }
        Ok(linked?)
    })
    .await?;
    let grant = Grant {
        account_id: linked.account.id,
        database_id: linked.account.database_id,
        until: chrono::Utc::now().timestamp() + GRANT_SECONDS,
        back: origin_of_referer(&req),
    };
    session
        .insert(GRANT, &grant)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    page::render(&LinkPacksPage {
        nav: nav(&session),
        service: linked.service,
        account: linked.account,
        packs: linked.packs,
        preselected: linked.preselected,
    })
}

#[derive(Deserialize)]
pub struct LinkBuyForm {
    pack_id: PackId,
}

/// `POST /iap/1/credit/order`: an order of the chosen pack, then its checkout.
pub async fn order(
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<LinkBuyForm>,
) -> Result<HttpResponse, AppError> {
    let grant = grant_of(&session)?;
    let order = with_conn(&state, move |conn| {
        Ok(orders::create_order_by(
            conn,
            grant.database_id,
            grant.account_id,
            form.pack_id,
            None,
        )?)
    })
    .await?;
    Ok(page::see_other(format!(
        "/iap/1/credit/checkout/{}",
        order.id
    )))
}

fn link_urls(order: &Order) -> CheckoutUrls {
    CheckoutUrls {
        pay: format!("/iap/1/credit/checkout/{}", order.id),
        receipt: format!("/iap/1/credit/receipt/{}", order.id),
        buy_again: "/iap/1/credit/packs".into(),
    }
}

/// The granted account's order `order_id` (another account's order does not exist here).
fn granted_order(
    conn: &mut diesel::PgConnection,
    grant: &Grant,
    order_id: OrderId,
) -> Result<Order, AppError> {
    orders::find(conn, grant.database_id, order_id)?
        .filter(|o| o.account_id == grant.account_id)
        .ok_or(AppError::NotFound)
}

pub async fn checkout(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, AppError> {
    let grant = grant_of(&session)?;
    let (order_id, nav) = (path.into_inner(), nav(&session));
    let page = with_conn(&state, move |conn| {
        let order = granted_order(conn, &grant, order_id)?;
        checkout_page_with(conn, nav, order, CheckoutForm::default(), link_urls)
    })
    .await?;
    page::render(&page)
}

pub async fn pay(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    session: Session,
    path: web::Path<OrderId>,
    CsrfForm(form): CsrfForm<PayForm>,
) -> Result<HttpResponse, AppError> {
    let grant = grant_of(&session)?;
    let payer = super::buy::Payer::of(&req, &session)?;
    let (order_id, nav) = (path.into_inner(), nav(&session));
    let provider = state.payments.clone();
    let (card, typed) = read_card(&form);
    let outcome = with_conn(&state, move |conn| {
        granted_order(conn, &grant, order_id)?;
        match pay_order(
            conn,
            grant.database_id,
            order_id,
            card,
            typed,
            provider.as_ref(),
            &payer,
        )? {
            Paid::Done(order_id) => Ok(Ok(order_id)),
            Paid::Again(again) => {
                let (order, form, status) = *again;
                Ok(Err((
                    checkout_page_with(conn, nav, order, form, link_urls)?,
                    status,
                )))
            }
        }
    })
    .await?;
    match outcome {
        Ok(order_id) => Ok(page::see_other(format!("/iap/1/credit/receipt/{order_id}"))),
        Err((page, status)) => page::render_with_status(&page, status),
    }
}

#[derive(Template)]
#[template(path = "iap/link_receipt.html")]
struct LinkReceiptPage {
    nav: Nav,
    order: Order,
    service: Service,
    /// The last characters of the account's token: the page shows nothing else of the database
    /// (whoever holds a token sees that account only).
    account_ending: String,
    purchase: Option<LedgerEntry>,
    back: Option<String>,
}

pub async fn receipt(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, AppError> {
    let grant = grant_of(&session)?;
    let (order_id, nav) = (path.into_inner(), nav(&session));
    let page = with_conn(&state, move |conn| {
        let order = granted_order(conn, &grant, order_id)?;
        let account = accounts::by_id(conn, order.account_id)?.ok_or(AppError::NotFound)?;
        let service = crate::domain::catalog::service_by_id(conn, account.service_id)?;
        Ok(LinkReceiptPage {
            nav,
            purchase: orders::purchase_entry(conn, order.id)?,
            order,
            service,
            account_ending: account.token_ending().to_string(),
            back: grant.back,
        })
    })
    .await?;
    page::render(&page)
}

/// `GET /iap/1/credit/packs`: the granted account's packs again (an expired order's way back).
pub async fn packs_again(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, AppError> {
    let grant = grant_of(&session)?;
    let nav = nav(&session);
    let page = with_conn(&state, move |conn| {
        let account = accounts::by_id(conn, grant.account_id)?.ok_or(AppError::NotFound)?;
        let service = crate::domain::catalog::service_by_id(conn, account.service_id)?;
        let packs = crate::domain::catalog::active_packs(conn, service.id)?;
        Ok(LinkPacksPage {
            nav,
            preselected: credit_link::smallest_covering(
                &packs,
                crate::kernel::credits::Credits::ZERO,
            ),
            service,
            account,
            packs,
        })
    })
    .await?;
    page::render(&page)
}

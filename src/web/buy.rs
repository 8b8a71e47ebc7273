//! Buying credits: Buy Credits for (account) lists the packs; Buy creates an order and opens
//! the mock provider's checkout; paying credits the pack exactly once and shows the receipt.
//! Administrators only.

use crate::http::page;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::catalog::{self, Pack, Service};
use crate::domain::ledger::{IapAccount, LedgerEntry, accounts};
use crate::domain::orders::{self, Order, PaymentResult};
use crate::domain::payments::{Card, CardErrors};
use crate::http::error::AppError;
use crate::http::session::{Admin, CsrfForm};
use crate::http::state::{AppState, with_conn};
use crate::kernel::ids::{AccountId, OrderId, PackId};
use crate::kernel::pagination::{Keyset, Page};
use page::Nav;

#[derive(Template)]
#[template(path = "buy/packs.html")]
struct BuyPage {
    nav: Nav,
    service: Service,
    account: IapAccount,
    packs: Vec<Pack>,
}

/// Where a "Buy Credits for X" prompt came from: the page that asked for credits (a contact, a
/// bill, a letter, a request), kept in the session for the receipt of that account's order.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
struct BuyingFrom {
    account_id: AccountId,
    path: String,
}

const BUYING_FROM: &str = "buying_from";

#[derive(Deserialize)]
pub struct PacksQuery {
    back: Option<String>,
}

pub async fn packs(
    state: web::Data<AppState>,
    session: actix_session::Session,
    Admin(current): Admin,
    path: web::Path<AccountId>,
    query: web::Query<PacksQuery>,
) -> Result<HttpResponse, AppError> {
    let (account_id, database_id) = (path.into_inner(), current.user.database_id);
    if let Some(path) = super::login::local_path(query.back.as_deref()) {
        session
            .insert(BUYING_FROM, BuyingFrom { account_id, path })
            .map_err(|e| AppError::Internal(e.to_string()))?;
    }
    let (service, account, packs) = with_conn(&state, move |conn| {
        let account =
            accounts::of_database(conn, database_id, account_id)?.ok_or(AppError::NotFound)?;
        let service = catalog::service_by_id(conn, account.service_id)?;
        let packs = catalog::active_packs(conn, service.id)?;
        Ok((service, account, packs))
    })
    .await?;
    page::render(&BuyPage {
        nav: Nav::for_user(&current),
        service,
        account,
        packs,
    })
}

#[derive(Deserialize)]
pub struct BuyForm {
    pack_id: PackId,
}

pub async fn create_order(
    state: web::Data<AppState>,
    Admin(current): Admin,
    path: web::Path<AccountId>,
    CsrfForm(form): CsrfForm<BuyForm>,
) -> Result<HttpResponse, AppError> {
    let account_id = path.into_inner();
    let (database_id, user_id) = (current.user.database_id, current.user.id);
    let order = with_conn(&state, move |conn| {
        Ok(orders::create_order(
            conn,
            database_id,
            account_id,
            form.pack_id,
            user_id,
        )?)
    })
    .await?;
    Ok(page::see_other(format!("/checkout/{}", order.id)))
}

/// The checkout form as typed, with a message per field. A card number is shown again only
/// when it did not parse (the user must correct it); a valid one never comes back in a page,
/// only its last 4 digits. Never the CVC.
#[derive(Default)]
pub struct CheckoutForm {
    pub holder: String,
    pub number: String,
    pub expiry: String,
    /// The last 4 digits of a valid number that must be typed again.
    pub number_ending: Option<String>,
    pub errors: CardErrors,
    pub declined: Option<String>,
    /// Too many card attempts: none is sent to the provider before then.
    pub throttled_until: Option<chrono::DateTime<chrono::Utc>>,
    /// "Save this card for automatic top-ups" was ticked.
    pub save_card: bool,
}

/// Where the checkout's form and links lead: the signed-in pages, or Odoo's buy link's own.
pub struct CheckoutUrls {
    pub pay: String,
    pub receipt: String,
    pub buy_again: String,
}

impl CheckoutUrls {
    fn signed_in(order: &Order) -> Self {
        CheckoutUrls {
            pay: format!("/checkout/{}", order.id),
            receipt: format!("/orders/{}", order.id),
            buy_again: format!("/iap/accounts/{}/buy", order.account_id),
        }
    }
}

#[derive(Template)]
#[template(path = "buy/checkout.html")]
pub struct CheckoutPage {
    pub nav: Nav,
    pub order: Order,
    pub service: Service,
    pub form: CheckoutForm,
    pub urls: CheckoutUrls,
}

impl CheckoutPage {
    fn max_declines(&self) -> i64 {
        crate::domain::orders::payment::MAX_DECLINES
    }
}

/// The checkout page of `order`, its links made by `urls`.
pub fn checkout_page_with(
    conn: &mut diesel::PgConnection,
    nav: Nav,
    order: Order,
    form: CheckoutForm,
    urls: fn(&Order) -> CheckoutUrls,
) -> Result<CheckoutPage, AppError> {
    let account = accounts::by_id(conn, order.account_id)?.ok_or(AppError::NotFound)?;
    let service = catalog::service_by_id(conn, account.service_id)?;
    Ok(CheckoutPage {
        nav,
        urls: urls(&order),
        order,
        service,
        form,
    })
}

fn checkout_page(
    conn: &mut diesel::PgConnection,
    current: &crate::http::session::CurrentUser,
    order: Order,
    form: CheckoutForm,
) -> Result<CheckoutPage, AppError> {
    checkout_page_with(
        conn,
        Nav::for_user(current),
        order,
        form,
        CheckoutUrls::signed_in,
    )
}

pub async fn checkout(
    state: web::Data<AppState>,
    Admin(current): Admin,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, AppError> {
    let order_id = path.into_inner();
    let page = with_conn(&state, move |conn| {
        let order =
            orders::find(conn, current.user.database_id, order_id)?.ok_or(AppError::NotFound)?;
        checkout_page(conn, &current, order, CheckoutForm::default())
    })
    .await?;
    page::render(&page)
}

#[derive(Deserialize)]
pub struct PayForm {
    holder: String,
    number: String,
    expiry: String,
    cvc: String,
    save_card: Option<String>,
}

/// The card of a posted checkout form, and the form as it may be shown again: a card number
/// never comes back in a page (a valid one's last 4 digits only), the CVC never.
pub fn read_card(form: &PayForm) -> (Result<Card, CardErrors>, CheckoutForm) {
    let typed = CheckoutForm {
        holder: form.holder.trim().to_string(),
        number: form.number.trim().to_string(),
        expiry: form.expiry.trim().to_string(),
        save_card: form.save_card.is_some(),
        ..CheckoutForm::default()
    };
    let card = Card::parse(&form.holder, &form.number, &form.expiry, &form.cvc);
    let typed = match &card {
        // Mistyped, it is still most of a real card's number: typed again from scratch.
        Err(errors) if errors.number.is_some() => CheckoutForm {
            number: String::new(),
            ..typed
        },
        Ok(card) => CheckoutForm {
            number: String::new(),
            number_ending: Some(card.last4().to_string()),
            ..typed
        },
        Err(_) => {
            let digits: String = form.number.chars().filter(char::is_ascii_digit).collect();
            CheckoutForm {
                number: String::new(),
                number_ending: Some(digits[digits.len().saturating_sub(4)..].to_string()),
                ..typed
            }
        }
    };
    (card, typed)
}

/// What paying came to: the order paid (now or before), or the checkout to show again.
pub enum Paid {
    Done(OrderId),
    Again(Box<(Order, CheckoutForm, StatusCode)>),
}

/// What a payer is told of any decline: why the bank declined (no funds, a stolen card…) is
/// the provider's and the operator's to know, not a card tester's.
const DECLINED: &str = "Your card was declined.";

/// Who pays: the client's address and the checkout key of their browser session.
pub struct Payer {
    pub address: String,
    pub session_key: String,
}

impl Payer {
    /// The request's payer; a session without a checkout key gets one.
    pub fn of(
        req: &actix_web::HttpRequest,
        session: &actix_session::Session,
    ) -> Result<Payer, AppError> {
        const KEY: &str = "checkout_key";
        let session_key = match session.get::<String>(KEY).ok().flatten() {
            Some(key) => key,
            None => {
                let key = crate::kernel::forms::new_form_key();
                session
                    .insert(KEY, &key)
                    .map_err(|e| AppError::Internal(e.to_string()))?;
                key
            }
        };
        Ok(Payer {
            address: crate::http::client::address(req),
            session_key,
        })
    }
}

/// Pays the database's order with the card, exactly once (see `orders::pay`), the attempt
/// counted against the payer's address and session and the order's account before the card
/// leaves.
pub fn pay_order(
    conn: &mut diesel::PgConnection,
    database_id: crate::kernel::ids::DatabaseId,
    order_id: OrderId,
    card: Result<Card, CardErrors>,
    typed: CheckoutForm,
    provider: &dyn crate::domain::payments::PaymentProvider,
    payer: &Payer,
) -> Result<Paid, AppError> {
    use crate::domain::auth::throttle;
    let order = orders::find(conn, database_id, order_id)?.ok_or(AppError::NotFound)?;
    let card = match card {
        Ok(card) => card,
        Err(errors) => {
            let form = CheckoutForm { errors, ..typed };
            return Ok(Paid::Again(Box::new((
                order,
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
            ))));
        }
    };
    let attempt = throttle::CheckoutAttempt {
        address: &payer.address,
        session: &payer.session_key,
        account_id: order.account_id,
    };
    if order.status == orders::OrderStatus::Pending
        && let Err(until) = throttle::reserve_checkout(conn, &attempt, chrono::Utc::now())?
    {
        let form = CheckoutForm {
            throttled_until: Some(until),
            ..typed
        };
        return Ok(Paid::Again(Box::new((
            order,
            form,
            StatusCode::TOO_MANY_REQUESTS,
        ))));
    }
    Ok(
        match orders::pay(conn, database_id, order_id, &card, provider)? {
            PaymentResult::Paid { order, .. } => {
                throttle::forgive_checkout(conn, &attempt)?;
                Paid::Done(order.id)
            }
            PaymentResult::AlreadyPaid(order) => Paid::Done(order.id),
            PaymentResult::Declined { order, .. } => {
                let form = CheckoutForm {
                    declined: Some(DECLINED.into()),
                    ..typed
                };
                Paid::Again(Box::new((order, form, StatusCode::PAYMENT_REQUIRED)))
            }
            PaymentResult::Expired(order) => {
                Paid::Again(Box::new((order, typed, StatusCode::GONE)))
            }
            PaymentResult::Locked(order) => {
                Paid::Again(Box::new((order, typed, StatusCode::CONFLICT)))
            }
        },
    )
}

pub async fn pay(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    session: actix_session::Session,
    Admin(current): Admin,
    path: web::Path<OrderId>,
    CsrfForm(form): CsrfForm<PayForm>,
) -> Result<HttpResponse, AppError> {
    let order_id = path.into_inner();
    let payer = Payer::of(&req, &session)?;
    let provider = state.payments.clone();
    let (card, typed) = read_card(&form);
    let to_save = card.as_ref().ok().filter(|_| typed.save_card).cloned();
    let outcome = with_conn(&state, move |conn| {
        let database_id = current.user.database_id;
        match pay_order(
            conn,
            database_id,
            order_id,
            card,
            typed,
            provider.as_ref(),
            &payer,
        )? {
            Paid::Done(order_id) => {
                // Paid: now the card may be kept (no transaction is open; this calls the provider).
                let saved = match to_save {
                    Some(card) => {
                        let user = Some(current.user.id);
                        let saved = crate::domain::payments::methods::save(
                            conn,
                            provider.as_ref(),
                            database_id,
                            user,
                            &card,
                        )?;
                        Some(saved.is_ok())
                    }
                    None => None,
                };
                Ok(Ok((order_id, saved)))
            }
            Paid::Again(again) => {
                let (order, form, status) = *again;
                Ok(Err((checkout_page(conn, &current, order, form)?, status)))
            }
        }
    })
    .await?;
    match outcome {
        Ok((order_id, None)) => Ok(page::see_other(format!("/orders/{order_id}"))),
        Ok((order_id, Some(saved))) => Ok(page::see_other(format!(
            "/orders/{order_id}?card={}",
            if saved { "saved" } else { "refused" }
        ))),
        Err((page, status)) => page::render_with_status(&page, status),
    }
}

#[derive(Deserialize)]
pub struct ReceiptQuery {
    card: Option<String>,
}

#[derive(Template)]
#[template(path = "buy/receipt.html")]
struct ReceiptPage {
    nav: Nav,
    card_notice: Option<&'static str>,
    /// The invoice's reference, once the order is paid.
    invoice: Option<String>,
    order: Order,
    service: Service,
    purchase: Option<LedgerEntry>,
    balance: String,
    /// The page that asked for these credits, to go back to.
    back: Option<(String, &'static str)>,
}

/// What a page asking for credits is, by its path: "Back to the bill".
fn back_label(path: &str) -> &'static str {
    match path.split(['/', '?']).nth(1) {
        Some("bills") => "the bill",
        Some("contacts") => "the contact",
        Some("documents") | Some("letters") => "the letter",
        Some("sign") => "the signature request",
        Some("leads") => "the lead request",
        _ => "where you were",
    }
}

pub async fn receipt(
    state: web::Data<AppState>,
    session: actix_session::Session,
    Admin(current): Admin,
    path: web::Path<OrderId>,
    query: web::Query<ReceiptQuery>,
) -> Result<HttpResponse, AppError> {
    let order_id = path.into_inner();
    let buying_from = session.get::<BuyingFrom>(BUYING_FROM).ok().flatten();
    let card_notice = match query.card.as_deref() {
        Some("saved") => Some("The card is saved for automatic top-ups (see Payment methods)."),
        Some("refused") => {
            Some("The payment went through, but the provider would not keep the card.")
        }
        _ => None,
    };
    let page = with_conn(&state, move |conn| {
        let order =
            orders::find(conn, current.user.database_id, order_id)?.ok_or(AppError::NotFound)?;
        let account = accounts::by_id(conn, order.account_id)?.ok_or(AppError::NotFound)?;
        let service = catalog::service_by_id(conn, account.service_id)?;
        let purchase = orders::purchase_entry(conn, order.id)?;
        let invoice = crate::domain::invoices::references_of(conn, &[order.id])?.remove(&order.id);
        let back = buying_from
            .filter(|from| from.account_id == order.account_id)
            .map(|from| {
                let label = back_label(&from.path);
                (from.path, label)
            });
        Ok(ReceiptPage {
            back,
            card_notice,
            invoice,
            nav: Nav::for_user(&current),
            balance: account.balance.to_display(),
            order,
            service,
            purchase,
        })
    })
    .await?;
    page::render(&page)
}

const ORDERS_PAGE: Keyset = Keyset(25);

#[derive(Template)]
#[template(path = "buy/orders.html")]
struct OrdersPage {
    nav: Nav,
    orders: Vec<Order>,
    older: Option<OrderId>,
    invoices: std::collections::HashMap<OrderId, String>,
}

impl OrdersPage {
    fn invoice_of(&self, order: &Order) -> Option<&String> {
        self.invoices.get(&order.id)
    }
}

#[derive(Deserialize)]
pub struct OrdersQuery {
    before: Option<OrderId>,
}

pub async fn order_history(
    state: web::Data<AppState>,
    Admin(current): Admin,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, AppError> {
    let (database_id, before) = (current.user.database_id, query.before);
    let (rows, invoices) = with_conn(&state, move |conn| {
        let rows = orders::history(conn, database_id, before, ORDERS_PAGE.fetch())?;
        let ids: Vec<OrderId> = rows.iter().map(|o| o.id).collect();
        Ok((rows, crate::domain::invoices::references_of(conn, &ids)?))
    })
    .await?;
    let Page {
        rows: orders,
        next: older,
    } = ORDERS_PAGE.page(rows, |o| o.id);
    page::render(&OrdersPage {
        nav: Nav::for_user(&current),
        orders,
        older,
        invoices,
    })
}

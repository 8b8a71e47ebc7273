//! `/admin/orders`: every database's orders with filters, one order with its ledger rows and
//! refunds, and the refund form.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::catalog::{self, Service};
use crate::domain::orders::OrderStatus;
use crate::domain::orders::listing::{self, OrderDetails, OrderFilter, OrderRow, PAGE_SIZE};
use crate::domain::orders::refunds::{self, RefundError, RefundState};
use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::{CsrfForm, PlatformOperator};
use crate::http::state::{AppState, with_conn};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{OrderId, ServiceId};
use crate::kernel::pagination::Page;
use crate::kernel::period::{Period, parse_day};

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    database: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<OrderId>,
}

impl ListQuery {
    /// The filter, or the message of the field that did not parse.
    fn filter(&self) -> (OrderFilter, Option<String>) {
        let mut error = None;
        let mut filter = OrderFilter {
            database: self.database.trim().to_string(),
            before_id: self.before,
            ..OrderFilter::default()
        };
        if !self.status.is_empty() {
            match self.status.parse::<OrderStatus>() {
                Ok(status) => filter.status = Some(status),
                Err(_) => error = Some(format!("“{}” is not an order status.", self.status)),
            }
        }
        if !self.service.is_empty() {
            match self.service.parse::<ServiceId>() {
                Ok(id) => filter.service_id = Some(id),
                Err(_) => error = Some("Choose a service from the list.".into()),
            }
        }
        match (parse_day(&self.from), parse_day(&self.to)) {
            (Ok(None), Ok(None)) => {}
            (Ok(from), Ok(to)) => {
                let first = from.or(to).unwrap();
                let last = to.or(from).unwrap();
                match Period::new(first, last) {
                    Ok(period) => filter.period = Some(period),
                    Err(e) => error = Some(e.to_string()),
                }
            }
            (Err(e), _) | (_, Err(e)) => error = Some(e),
        }
        (filter, error)
    }

    /// The query string of the same filters with another `before`.
    pub fn with_before(&self, before: OrderId) -> String {
        serde_urlencoded::to_string([
            ("status", self.status.as_str()),
            ("service", self.service.as_str()),
            ("database", self.database.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("before", &before.to_string()),
        ])
        .unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "admin/orders.html")]
struct ListPage {
    nav: Nav,
    query: ListQuery,
    error: Option<String>,
    statuses: &'static [OrderStatus],
    services: Vec<Service>,
    rows: Vec<OrderRow>,
    older: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let (filter, error) = query.filter();
    let apply = error.is_none();
    let (services, rows) = with_conn(&state, move |conn| {
        let services = catalog::all_services(conn)?;
        // A filter that did not parse shows its message and no rows, never everything.
        let rows = if apply {
            listing::list(conn, &filter, PAGE_SIZE.fetch())?
        } else {
            Vec::new()
        };
        Ok((services, rows))
    })
    .await?;
    let Page { rows, next: older } = PAGE_SIZE.page(rows, |r| query.with_before(r.order.id));
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page::render_with_status(
        &ListPage {
            nav: Nav::for_user(&operator.0),
            query,
            error,
            statuses: OrderStatus::ALL,
            services,
            rows,
            older,
        },
        status,
    )
}

/// The refund form as typed.
#[derive(Deserialize, Default)]
pub struct RefundForm {
    #[serde(default)]
    credits: String,
    #[serde(default)]
    reason: String,
}

#[derive(Template)]
#[template(path = "admin/order.html")]
struct OrderPage {
    nav: Nav,
    details: OrderDetails,
    state: RefundState,
    form: RefundForm,
    credits_error: Option<String>,
    reason_error: Option<String>,
    form_error: Option<String>,
    refunded: bool,
}

fn order_page(
    conn: &mut crate::platform::db::DbConn,
    nav: Nav,
    order_id: OrderId,
) -> Result<OrderPage, AppError> {
    let details = listing::details(conn, order_id)?.ok_or(AppError::NotFound)?;
    let state = refunds::refund_state(conn, &details.row.order)?;
    Ok(OrderPage {
        nav,
        form: RefundForm {
            credits: state.refundable.to_form_text(),
            reason: String::new(),
        },
        details,
        state,
        credits_error: None,
        reason_error: None,
        form_error: None,
        refunded: false,
    })
}

#[derive(Deserialize)]
pub struct ShowQuery {
    refunded: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<OrderId>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, AppError> {
    let (order_id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let page = with_conn(&state, move |conn| {
        let mut page = order_page(conn, nav, order_id)?;
        page.refunded = query.refunded.is_some();
        Ok(page)
    })
    .await?;
    page::render(&page)
}

pub async fn refund(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<OrderId>,
    CsrfForm(form): CsrfForm<RefundForm>,
) -> Result<HttpResponse, AppError> {
    let (order_id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let (provider, operator) = (state.payments.clone(), operator.operator());
    let outcome = with_conn(&state, move |conn| {
        let credits = Credits::parse(form.credits.trim());
        let result = match &credits {
            Ok(credits) => refunds::refund_order(
                conn,
                &operator,
                provider.as_ref(),
                order_id,
                *credits,
                &form.reason,
            ),
            Err(_) => Err(RefundError::NothingToRefund),
        };
        let error = match result {
            Ok(_) => return Ok(Ok(())),
            Err(e @ (RefundError::NotFound | RefundError::Database(_))) => {
                return Err(e.into());
            }
            Err(e) => e,
        };
        let mut page = order_page(conn, nav, order_id)?;
        match (&error, credits) {
            (_, Err(e)) => page.credits_error = Some(format!("Credits: {e}.")),
            (RefundError::MissingReason, _) => page.reason_error = Some(error.to_string()),
            (RefundError::TooMuch(_) | RefundError::NothingToRefund, _) => {
                page.credits_error = Some(error.to_string())
            }
            _ => page.form_error = Some(error.to_string()),
        }
        page.form = form;
        Ok(Err(page))
    })
    .await?;
    match outcome {
        Ok(()) => Ok(page::see_other(format!(
            "/admin/orders/{order_id}?refunded=1"
        ))),
        Err(page) => page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

//! A paid order's invoice (administrators of its database): a printable page and its PDF; the
//! database's billing details (Settings → Billing details); and the operator's seller details
//! and VAT rate (`/admin/invoicing`, audited).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::invoices::{
    self, BillingDetails, BillingErrors, Invoice, SellerErrors, SellerSettings,
};
use crate::domain::orders;
use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::{Admin, CsrfForm, PlatformOperator};
use crate::http::state::{AppState, with_conn};
use crate::kernel::ids::OrderId;

#[derive(Template)]
#[template(path = "buy/invoice.html")]
struct InvoicePage {
    nav: Nav,
    invoice: Invoice,
    card_last4: Option<String>,
}

/// The database's invoice of `order_id` and the card it was paid with.
fn load(
    conn: &mut diesel::PgConnection,
    database_id: crate::kernel::ids::DatabaseId,
    order_id: OrderId,
) -> Result<(Invoice, Option<String>), AppError> {
    let order = orders::find(conn, database_id, order_id)?.ok_or(AppError::NotFound)?;
    let invoice = invoices::of_order(conn, database_id, order_id)?.ok_or(AppError::NotFound)?;
    Ok((invoice, order.card_last4))
}

pub async fn page(
    state: web::Data<AppState>,
    Admin(current): Admin,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, AppError> {
    let (order_id, database_id) = (path.into_inner(), current.user.database_id);
    let (invoice, card_last4) =
        with_conn(&state, move |conn| load(conn, database_id, order_id)).await?;
    page::render(&InvoicePage {
        nav: Nav::for_user(&current),
        invoice,
        card_last4,
    })
}

pub async fn pdf(
    state: web::Data<AppState>,
    Admin(current): Admin,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, AppError> {
    let (order_id, database_id) = (path.into_inner(), current.user.database_id);
    let (invoice, card_last4) =
        with_conn(&state, move |conn| load(conn, database_id, order_id)).await?;
    let bytes = invoices::pdf::render(&invoice, card_last4.as_deref())
        .map_err(|e| AppError::Internal(format!("invoice PDF: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}\"", invoice.file_name()),
        ))
        .body(bytes))
}

#[derive(Default)]
pub struct BillingForm {
    pub company_name: String,
    pub address: String,
    pub vat_number: String,
    pub errors: BillingErrors,
    pub saved: bool,
}

#[derive(Template)]
#[template(path = "settings/billing.html")]
struct BillingPage {
    nav: Nav,
    database: String,
    form: BillingForm,
}

pub async fn billing(
    state: web::Data<AppState>,
    Admin(current): Admin,
) -> Result<HttpResponse, AppError> {
    let database_id = current.user.database_id;
    let details = with_conn(&state, move |conn| {
        Ok(invoices::billing_details(conn, database_id)?)
    })
    .await?;
    page::render(&BillingPage {
        nav: Nav::for_user(&current),
        database: current.user.database_name.clone(),
        form: BillingForm {
            company_name: details.company_name,
            address: details.address,
            vat_number: details.vat_number,
            ..BillingForm::default()
        },
    })
}

#[derive(Deserialize)]
pub struct BillingFields {
    company_name: String,
    address: String,
    vat_number: String,
}

pub async fn save_billing(
    state: web::Data<AppState>,
    Admin(current): Admin,
    CsrfForm(fields): CsrfForm<BillingFields>,
) -> Result<HttpResponse, AppError> {
    let database_id = current.user.database_id;
    let parsed = BillingDetails::parse(&fields.company_name, &fields.address, &fields.vat_number);
    let mut form = BillingForm {
        company_name: fields.company_name.trim().to_string(),
        address: fields.address.trim().to_string(),
        vat_number: fields.vat_number.trim().to_string(),
        ..BillingForm::default()
    };
    let status = match parsed {
        Ok(details) => {
            with_conn(&state, move |conn| {
                Ok(invoices::save_billing_details(conn, database_id, &details)?)
            })
            .await?;
            form.saved = true;
            StatusCode::OK
        }
        Err(errors) => {
            form.errors = errors;
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    page::render_with_status(
        &BillingPage {
            nav: Nav::for_user(&current),
            database: current.user.database_name.clone(),
            form,
        },
        status,
    )
}

#[derive(Default)]
pub struct SellerForm {
    pub name: String,
    pub address: String,
    pub vat: String,
    pub rate: String,
    pub errors: SellerErrors,
    pub saved: bool,
}

#[derive(Template)]
#[template(path = "admin/invoicing.html")]
struct SellerPage {
    nav: Nav,
    form: SellerForm,
}

pub async fn seller(
    state: web::Data<AppState>,
    operator: PlatformOperator,
) -> Result<HttpResponse, AppError> {
    let settings = with_conn(&state, |conn| Ok(invoices::seller_settings(conn)?)).await?;
    page::render(&SellerPage {
        nav: Nav::for_user(&operator.0),
        form: SellerForm {
            name: settings.seller_name,
            address: settings.seller_address,
            vat: settings.seller_vat,
            rate: settings
                .vat_rate_bp
                .map(|bp| invoices::percent_text(bp).trim_end_matches('%').to_string())
                .unwrap_or_default(),
            ..SellerForm::default()
        },
    })
}

#[derive(Deserialize)]
pub struct SellerFields {
    seller_name: String,
    seller_address: String,
    seller_vat: String,
    vat_rate: String,
}

pub async fn save_seller(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    CsrfForm(fields): CsrfForm<SellerFields>,
) -> Result<HttpResponse, AppError> {
    let nav = Nav::for_user(&operator.0);
    let audited = operator.operator();
    let mut form = SellerForm {
        name: fields.seller_name.trim().to_string(),
        address: fields.seller_address.trim().to_string(),
        vat: fields.seller_vat.trim().to_string(),
        rate: fields.vat_rate.trim().to_string(),
        ..SellerForm::default()
    };
    let parsed = SellerSettings::parse(
        &fields.seller_name,
        &fields.seller_address,
        &fields.seller_vat,
        &fields.vat_rate,
    );
    let status = match parsed {
        Ok(settings) => {
            with_conn(&state, move |conn| {
                Ok(invoices::update_seller_settings(conn, &audited, &settings)?)
            })
            .await?;
            form.saved = true;
            StatusCode::OK
        }
        Err(errors) => {
            form.errors = errors;
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    page::render_with_status(&SellerPage { nav, form }, status)
}

//! `/admin/sms-prices`: the SMS price per country, set by the operator (audited).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::{CsrfForm, PlatformOperator};
use crate::http::state::{AppState, with_conn};
use crate::kernel::forms::{FieldErrors, FormError};
use crate::services::sms::pricing::{self, CountryPrice, SmsPriceInput};

#[derive(Template)]
#[template(path = "admin/sms_prices.html")]
struct SmsPricesPage {
    nav: Nav,
    prices: Vec<CountryPrice>,
    form: SmsPriceInput,
    errors: FieldErrors,
    saved: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct PricesQuery {
    saved: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    query: web::Query<PricesQuery>,
) -> Result<HttpResponse, AppError> {
    let prices = with_conn(&state, |conn| Ok(pricing::all_prices(conn)?)).await?;
    page::render(&SmsPricesPage {
        nav: Nav::for_user(&operator.0),
        prices,
        form: SmsPriceInput::default(),
        errors: FieldErrors::default(),
        saved: query.into_inner().saved,
    })
}

pub async fn set_price(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    CsrfForm(form): CsrfForm<SmsPriceInput>,
) -> Result<HttpResponse, AppError> {
    let nav = Nav::for_user(&operator.0);
    let operator = operator.operator();
    let outcome = with_conn(&state, move |conn| {
        match pricing::set_price(conn, &operator, &form) {
            Ok(price) => Ok(Ok(price.country_code)),
            Err(FormError::Invalid(errors)) => Ok(Err(SmsPricesPage {
                nav,
                prices: pricing::all_prices(conn)?,
                form,
                errors,
                saved: None,
            })),
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    match outcome {
        Ok(code) => Ok(page::see_other(format!(
            "/admin/sms-prices?{}",
            serde_urlencoded::to_string([("saved", code.as_str())]).unwrap_or_default()
        ))),
        Err(page) => page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

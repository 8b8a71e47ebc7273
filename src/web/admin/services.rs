//! `/admin/catalog`: services and their packs, created and edited by the operator.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::domain::catalog::manage::{self, PackInput, ServiceInput};
use crate::domain::catalog::usage_prices::{self, UsagePrice};
use crate::domain::catalog::{self, Pack, Service};
use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::{CsrfForm, PlatformOperator};
use crate::http::state::{AppState, with_conn};
use crate::kernel::forms::{FieldErrors, FormError};
use crate::kernel::ids::{PackId, ServiceId};

#[derive(Template)]
#[template(path = "admin/catalog.html")]
struct CatalogPage {
    nav: Nav,
    services: Vec<Service>,
}

pub async fn index(
    state: web::Data<AppState>,
    operator: PlatformOperator,
) -> Result<HttpResponse, AppError> {
    let services = with_conn(&state, |conn| Ok(catalog::all_services(conn)?)).await?;
    page::render(&CatalogPage {
        nav: Nav::for_user(&operator.0),
        services,
    })
}

#[derive(Template)]
#[template(path = "admin/service.html")]
struct ServicePage {
    nav: Nav,
    /// None for a new service.
    service: Option<Service>,
    form: ServiceInput,
    errors: FieldErrors,
    packs: Vec<Pack>,
    pack_form: PackInput,
    pack_errors: FieldErrors,
    saved: bool,
    /// The service providers' keys (Odoo's protocol), revoked ones included.
    keys: Vec<crate::domain::provider_keys::ProviderKey>,
    /// What a unit of use costs (Partner Autocomplete, Lead Generation), with what was typed
    /// and its message for the one that came back with an error.
    usage_prices: Vec<UsagePrice>,
    usage_price_error: Option<(String, String, String)>,
}

impl ServicePage {
    /// The value to show in a unit's field: what was typed when it came back with an error.
    fn usage_price_value(&self, price: &UsagePrice) -> String {
        match &self.usage_price_error {
            Some((unit, typed, _)) if *unit == price.unit => typed.clone(),
            _ => price.credits.to_form_text(),
        }
    }

    fn usage_price_message(&self, price: &UsagePrice) -> Option<String> {
        match &self.usage_price_error {
            Some((unit, _, message)) if *unit == price.unit => Some(message.clone()),
            _ => None,
        }
    }
}

impl ServicePage {
    fn new(nav: Nav) -> Self {
        ServicePage {
            nav,
            service: None,
            form: ServiceInput {
                active: Some("on".into()),
                ..ServiceInput::default()
            },
            errors: FieldErrors::default(),
            packs: Vec::new(),
            pack_form: PackInput::blank(),
            pack_errors: FieldErrors::default(),
            saved: false,
            keys: Vec::new(),
            usage_prices: Vec::new(),
            usage_price_error: None,
        }
    }
}

pub async fn new_service(operator: PlatformOperator) -> Result<HttpResponse, AppError> {
    page::render(&ServicePage::new(Nav::for_user(&operator.0)))
}

pub async fn create_service(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    CsrfForm(form): CsrfForm<ServiceInput>,
) -> Result<HttpResponse, AppError> {
    let nav = Nav::for_user(&operator.0);
    let operator = operator.operator();
    let outcome = with_conn(&state, move |conn| {
        Ok(match manage::create_service(conn, &operator, &form) {
            Ok(service) => Ok(service.id),
            Err(FormError::Invalid(errors)) => Err((form, errors)),
            Err(e) => return Err(e.into()),
        })
    })
    .await?;
    match outcome {
        Ok(id) => Ok(page::see_other(format!(
            "/admin/catalog/services/{id}?saved=1"
        ))),
        Err((form, errors)) => {
            let mut page = ServicePage::new(nav);
            page.form = form;
            page.errors = errors;
            page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

fn service_page(
    conn: &mut crate::platform::db::DbConn,
    nav: Nav,
    id: ServiceId,
) -> Result<ServicePage, AppError> {
    let service = catalog::service_by_id(conn, id)
        .optional()?
        .ok_or(AppError::NotFound)?;
    let mut page = ServicePage::new(nav);
    page.form = ServiceInput::from_service(&service);
    page.packs = catalog::packs_of(conn, id)?;
    page.keys = crate::domain::provider_keys::of_service(conn, id)?;
    page.usage_prices = usage_prices::of_service(conn, id)?;
    page.service = Some(service);
    Ok(page)
}

use diesel::OptionalExtension;

#[derive(serde::Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn edit_service(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<ServiceId>,
    query: web::Query<SavedQuery>,
) -> Result<HttpResponse, AppError> {
    let (id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let mut page = with_conn(&state, move |conn| service_page(conn, nav, id)).await?;
    page.saved = query.saved.is_some();
    page::render(&page)
}

pub async fn update_service(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<ServiceId>,
    CsrfForm(form): CsrfForm<ServiceInput>,
) -> Result<HttpResponse, AppError> {
    let (id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let operator = operator.operator();
    let outcome = with_conn(&state, move |conn| {
        match manage::update_service(conn, &operator, id, &form) {
            Ok(_) => Ok(None),
            Err(FormError::Invalid(errors)) => {
                let mut page = service_page(conn, nav, id)?;
                page.form = ServiceInput {
                    slug: page.form.slug.clone(),
                    ..form
                };
                page.errors = errors;
                Ok(Some(page))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    match outcome {
        None => Ok(page::see_other(format!(
            "/admin/catalog/services/{id}?saved=1"
        ))),
        Some(page) => page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

#[derive(serde::Deserialize)]
pub struct UsagePriceForm {
    #[serde(default)]
    credits: String,
}

/// `POST /admin/catalog/services/{id}/usage-prices/{unit}`: sets what one unit costs (audited).
pub async fn set_usage_price(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<(ServiceId, String)>,
    CsrfForm(form): CsrfForm<UsagePriceForm>,
) -> Result<HttpResponse, AppError> {
    let ((id, unit), nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let operator = operator.operator();
    let outcome = with_conn(&state, move |conn| {
        match usage_prices::update(conn, &operator, id, &unit, &form.credits) {
            Ok(_) => Ok(None),
            Err(FormError::Invalid(errors)) => {
                let mut page = service_page(conn, nav, id)?;
                let message = errors.get("credits").cloned().unwrap_or_default();
                page.usage_price_error = Some((unit, form.credits, message));
                Ok(Some(page))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    match outcome {
        None => Ok(page::see_other(format!(
            "/admin/catalog/services/{id}?saved=1#usage-prices"
        ))),
        Some(page) => page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

pub async fn create_pack(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<ServiceId>,
    CsrfForm(form): CsrfForm<PackInput>,
) -> Result<HttpResponse, AppError> {
    let (id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let operator = operator.operator();
    let outcome = with_conn(&state, move |conn| {
        match manage::create_pack(conn, &operator, id, &form) {
            Ok(_) => Ok(None),
            Err(FormError::Invalid(errors)) => {
                let mut page = service_page(conn, nav, id)?;
                page.pack_form = form;
                page.pack_errors = errors;
                Ok(Some(page))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    match outcome {
        None => Ok(page::see_other(format!(
            "/admin/catalog/services/{id}?saved=1#packs"
        ))),
        Some(page) => page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

#[derive(Template)]
#[template(path = "admin/pack.html")]
struct PackPage {
    nav: Nav,
    service: Service,
    pack: Pack,
    form: PackInput,
    errors: FieldErrors,
}

fn pack_page(
    conn: &mut crate::platform::db::DbConn,
    nav: Nav,
    id: PackId,
) -> Result<PackPage, AppError> {
    let pack = catalog::pack(conn, id)?.ok_or(AppError::NotFound)?;
    let service = catalog::service_by_id(conn, pack.service_id)?;
    Ok(PackPage {
        nav,
        form: PackInput::from_pack(&pack),
        service,
        pack,
        errors: FieldErrors::default(),
    })
}

pub async fn edit_pack(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<PackId>,
) -> Result<HttpResponse, AppError> {
    let (id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let page = with_conn(&state, move |conn| pack_page(conn, nav, id)).await?;
    page::render(&page)
}

pub async fn update_pack(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<PackId>,
    CsrfForm(form): CsrfForm<PackInput>,
) -> Result<HttpResponse, AppError> {
    let (id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let operator = operator.operator();
    let outcome = with_conn(&state, move |conn| {
        match manage::update_pack(conn, &operator, id, &form) {
            Ok(pack) => Ok(Ok(pack.service_id)),
            Err(FormError::Invalid(errors)) => {
                let mut page = pack_page(conn, nav, id)?;
                page.form = form;
                page.errors = errors;
                Ok(Err(page))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    match outcome {
        Ok(service_id) => Ok(page::see_other(format!(
            "/admin/catalog/services/{service_id}?saved=1#packs"
        ))),
        Err(page) => page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

/// `POST /admin/catalog/services/{id}/keys/{key}/revoke`: the key stops working at once.
pub async fn revoke_key(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<(ServiceId, i64)>,
    CsrfForm(_): CsrfForm<crate::http::page::EmptyForm>,
) -> Result<HttpResponse, AppError> {
    let (service_id, key_id) = path.into_inner();
    let operator = operator.operator();
    let found = with_conn(&state, move |conn| {
        Ok(crate::domain::provider_keys::revoke(
            conn, &operator, service_id, key_id,
        )?)
    })
    .await?;
    if !found {
        return Err(AppError::NotFound);
    }
    Ok(page::see_other(format!(
        "/admin/catalog/services/{service_id}?saved=1#keys"
    )))
}

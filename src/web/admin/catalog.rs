//! `/admin/catalog`: services and their packs, created and edited by the operator, and the SMS
//! price per country (`/admin/sms-prices`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::admin::catalog::{
    self, CatalogError, FieldErrors, PackInput, ServiceInput, SmsPriceInput,
};
use crate::catalog::{Pack, Service};
use crate::error::AppError;
use crate::sms::pricing::{self, CountryPrice};
use crate::startup::AppState;
use crate::web::Nav;
use crate::web::session::{CsrfForm, PlatformOperator};

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
    let services =
        crate::web::with_conn(&state, |conn| Ok(crate::catalog::all_services(conn)?)).await?;
    crate::web::render(&CatalogPage {
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
        }
    }
}

fn catalog_fault(e: CatalogError) -> AppError {
    match e {
        CatalogError::NotFound => AppError::NotFound,
        CatalogError::Database(e) => e.into(),
        CatalogError::Invalid(_) => AppError::Internal("unexpected form errors".into()),
    }
}

pub async fn new_service(operator: PlatformOperator) -> Result<HttpResponse, AppError> {
    crate::web::render(&ServicePage::new(Nav::for_user(&operator.0)))
}

pub async fn create_service(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    CsrfForm(form): CsrfForm<ServiceInput>,
) -> Result<HttpResponse, AppError> {
    let nav = Nav::for_user(&operator.0);
    let operator = operator.operator();
    let outcome = crate::web::with_conn(&state, move |conn| {
        Ok(match catalog::create_service(conn, &operator, &form) {
            Ok(service) => Ok(service.id),
            Err(CatalogError::Invalid(errors)) => Err((form, errors)),
            Err(e) => return Err(catalog_fault(e)),
        })
    })
    .await?;
    match outcome {
        Ok(id) => Ok(crate::web::see_other(format!(
            "/admin/catalog/services/{id}?saved=1"
        ))),
        Err((form, errors)) => {
            let mut page = ServicePage::new(nav);
            page.form = form;
            page.errors = errors;
            crate::web::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

fn service_page(conn: &mut crate::db::DbConn, nav: Nav, id: i64) -> Result<ServicePage, AppError> {
    let service = crate::catalog::service_by_id(conn, id)
        .optional()?
        .ok_or(AppError::NotFound)?;
    let mut page = ServicePage::new(nav);
    page.form = ServiceInput::from_service(&service);
    page.packs = catalog::packs_of(conn, id)?;
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
    path: web::Path<i64>,
    query: web::Query<SavedQuery>,
) -> Result<HttpResponse, AppError> {
    let (id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let mut page = crate::web::with_conn(&state, move |conn| service_page(conn, nav, id)).await?;
    page.saved = query.saved.is_some();
    crate::web::render(&page)
}

pub async fn update_service(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<i64>,
    CsrfForm(form): CsrfForm<ServiceInput>,
) -> Result<HttpResponse, AppError> {
    let (id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let operator = operator.operator();
    let outcome = crate::web::with_conn(&state, move |conn| {
        match catalog::update_service(conn, &operator, id, &form) {
            Ok(_) => Ok(None),
            Err(CatalogError::Invalid(errors)) => {
                let mut page = service_page(conn, nav, id)?;
                page.form = ServiceInput {
                    slug: page.form.slug.clone(),
                    ..form
                };
                page.errors = errors;
                Ok(Some(page))
            }
            Err(e) => Err(catalog_fault(e)),
        }
    })
    .await?;
    match outcome {
        None => Ok(crate::web::see_other(format!(
            "/admin/catalog/services/{id}?saved=1"
        ))),
        Some(page) => crate::web::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

pub async fn create_pack(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<i64>,
    CsrfForm(form): CsrfForm<PackInput>,
) -> Result<HttpResponse, AppError> {
    let (id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let operator = operator.operator();
    let outcome = crate::web::with_conn(&state, move |conn| {
        match catalog::create_pack(conn, &operator, id, &form) {
            Ok(_) => Ok(None),
            Err(CatalogError::Invalid(errors)) => {
                let mut page = service_page(conn, nav, id)?;
                page.pack_form = form;
                page.pack_errors = errors;
                Ok(Some(page))
            }
            Err(e) => Err(catalog_fault(e)),
        }
    })
    .await?;
    match outcome {
        None => Ok(crate::web::see_other(format!(
            "/admin/catalog/services/{id}?saved=1#packs"
        ))),
        Some(page) => crate::web::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY),
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

fn pack_page(conn: &mut crate::db::DbConn, nav: Nav, id: i64) -> Result<PackPage, AppError> {
    let pack = catalog::pack(conn, id)?.ok_or(AppError::NotFound)?;
    let service = crate::catalog::service_by_id(conn, pack.service_id)?;
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
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let page = crate::web::with_conn(&state, move |conn| pack_page(conn, nav, id)).await?;
    crate::web::render(&page)
}

pub async fn update_pack(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<i64>,
    CsrfForm(form): CsrfForm<PackInput>,
) -> Result<HttpResponse, AppError> {
    let (id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let operator = operator.operator();
    let outcome = crate::web::with_conn(&state, move |conn| {
        match catalog::update_pack(conn, &operator, id, &form) {
            Ok(pack) => Ok(Ok(pack.service_id)),
            Err(CatalogError::Invalid(errors)) => {
                let mut page = pack_page(conn, nav, id)?;
                page.form = form;
                page.errors = errors;
                Ok(Err(page))
            }
            Err(e) => Err(catalog_fault(e)),
        }
    })
    .await?;
    match outcome {
        Ok(service_id) => Ok(crate::web::see_other(format!(
            "/admin/catalog/services/{service_id}?saved=1#packs"
        ))),
        Err(page) => crate::web::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

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

pub async fn sms_prices(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    query: web::Query<PricesQuery>,
) -> Result<HttpResponse, AppError> {
    let prices = crate::web::with_conn(&state, |conn| Ok(pricing::all_prices(conn)?)).await?;
    crate::web::render(&SmsPricesPage {
        nav: Nav::for_user(&operator.0),
        prices,
        form: SmsPriceInput::default(),
        errors: FieldErrors::default(),
        saved: query.into_inner().saved,
    })
}

pub async fn set_sms_price(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    CsrfForm(form): CsrfForm<SmsPriceInput>,
) -> Result<HttpResponse, AppError> {
    let nav = Nav::for_user(&operator.0);
    let operator = operator.operator();
    let outcome = crate::web::with_conn(&state, move |conn| {
        match catalog::set_sms_price(conn, &operator, &form) {
            Ok(price) => Ok(Ok(price.country_code)),
            Err(CatalogError::Invalid(errors)) => Ok(Err(SmsPricesPage {
                nav,
                prices: pricing::all_prices(conn)?,
                form,
                errors,
                saved: None,
            })),
            Err(e) => Err(catalog_fault(e)),
        }
    })
    .await?;
    match outcome {
        Ok(code) => Ok(crate::web::see_other(format!(
            "/admin/sms-prices?{}",
            serde_urlencoded::to_string([("saved", code.as_str())]).unwrap_or_default()
        ))),
        Err(page) => crate::web::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

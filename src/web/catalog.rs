//! The public catalog: every service on sale, and each service's packs.

use crate::http::page;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::domain::catalog::{self, Pack, Service};
use crate::http::error::AppError;
use crate::http::session::CurrentUser;
use crate::http::state::{AppState, with_conn};

#[derive(Template)]
#[template(path = "catalog/index.html")]
struct CatalogPage {
    nav: page::Nav,
    services: Vec<Service>,
}

#[derive(Template)]
#[template(path = "catalog/service.html")]
struct ServicePage {
    nav: page::Nav,
    service: Service,
    packs: Vec<Pack>,
}

pub async fn index(
    state: web::Data<AppState>,
    current: Option<CurrentUser>,
) -> Result<HttpResponse, AppError> {
    let services = with_conn(&state, |conn| Ok(catalog::active_services(conn)?)).await?;
    page::render(&CatalogPage {
        nav: page::Nav::maybe(current.as_ref()),
        services,
    })
}

pub async fn service_page(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    current: Option<CurrentUser>,
) -> Result<HttpResponse, AppError> {
    let slug = slug.into_inner();
    let (service, packs) = with_conn(&state, move |conn| {
        let service = catalog::active_service(conn, &slug)?.ok_or(AppError::NotFound)?;
        let packs = catalog::active_packs(conn, service.id)?;
        Ok((service, packs))
    })
    .await?;
    page::render(&ServicePage {
        nav: page::Nav::maybe(current.as_ref()),
        service,
        packs,
    })
}

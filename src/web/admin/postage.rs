//! `/admin/postage`: Snailmail's postage zones, their prices and countries (audited).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::{CsrfForm, PlatformOperator};
use crate::http::state::{AppState, with_conn};
use crate::kernel::forms::{FieldErrors, FormError};
use crate::services::snailmail::postage::{self, Zone, ZoneInput};

/// A zone's row: the zone, its countries, and its form as shown (typed values and messages
/// when it came back with errors).
pub struct ZoneRow {
    pub zone: Zone,
    pub input: ZoneInput,
    pub errors: FieldErrors,
}

impl ZoneRow {
    /// The prefix of its fields' ids, unique on the page.
    pub fn prefix(&self) -> String {
        format!("{}-", self.zone.zone)
    }
}

#[derive(Template)]
#[template(path = "admin/postage.html")]
struct PostagePage {
    nav: Nav,
    zones: Vec<ZoneRow>,
    saved: Option<String>,
}

fn rows(conn: &mut crate::platform::db::DbConn) -> Result<Vec<ZoneRow>, AppError> {
    Ok(postage::table(conn)?
        .into_iter()
        .map(|(zone, countries)| ZoneRow {
            input: ZoneInput {
                base_price: zone.base_price.to_form_text(),
                per_sheet: zone.per_sheet.to_form_text(),
                colour_per_page: zone.colour_per_page.to_form_text(),
                countries: countries.join(" "),
            },
            zone,
            errors: FieldErrors::default(),
        })
        .collect())
}

#[derive(serde::Deserialize)]
pub struct PostageQuery {
    saved: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    query: web::Query<PostageQuery>,
) -> Result<HttpResponse, AppError> {
    let zones = with_conn(&state, rows).await?;
    page::render(&PostagePage {
        nav: Nav::for_user(&operator.0),
        zones,
        saved: query.into_inner().saved,
    })
}

pub async fn update(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<ZoneInput>,
) -> Result<HttpResponse, AppError> {
    let zone = path.into_inner();
    let nav = Nav::for_user(&operator.0);
    let operator = operator.operator();
    let name = zone.clone();
    let outcome = with_conn(&state, move |conn| {
        match postage::update_zone(conn, &operator, &name, &form) {
            Ok(_) => Ok(None),
            Err(FormError::Invalid(errors)) => {
                let mut zones = rows(conn)?;
                if let Some(row) = zones.iter_mut().find(|r| r.zone.zone == name) {
                    row.input = form;
                    row.errors = errors;
                }
                Ok(Some(PostagePage {
                    nav,
                    zones,
                    saved: None,
                }))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    match outcome {
        None => Ok(page::see_other(format!(
            "/admin/postage?{}",
            serde_urlencoded::to_string([("saved", zone.as_str())]).unwrap_or_default()
        ))),
        Some(page) => page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

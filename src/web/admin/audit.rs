//! `/admin/audit`: every operator action, newest first, filtered by action, operator, subject.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::audit::{self, AuditEntry, AuditFilter};
use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::PlatformOperator;
use crate::http::state::{AppState, with_conn};
use crate::kernel::pagination::{Keyset, Page};

const PAGE_SIZE: Keyset = Keyset(50);

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    operator: String,
    #[serde(default)]
    subject: String,
    before: Option<i64>,
}

impl AuditQuery {
    fn older(&self, before: i64) -> String {
        serde_urlencoded::to_string([
            ("action", self.action.as_str()),
            ("operator", self.operator.as_str()),
            ("subject", self.subject.as_str()),
            ("before", &before.to_string()),
        ])
        .unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    nav: Nav,
    query: AuditQuery,
    entries: Vec<AuditEntry>,
    older: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let filter = AuditFilter {
        action: query.action.clone(),
        operator: query.operator.clone(),
        subject: query.subject.clone(),
        before_id: query.before,
    };
    let rows = with_conn(&state, move |conn| {
        Ok(audit::list(conn, &filter, PAGE_SIZE.fetch())?)
    })
    .await?;
    let Page {
        rows: entries,
        next: older,
    } = PAGE_SIZE.page(rows, |e| query.older(e.id));
    page::render(&AuditPage {
        nav: Nav::for_user(&operator.0),
        query,
        entries,
        older,
    })
}

//! `/healthz`: the process serves. `/readyz`: the database answers too.

use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;

use crate::error::AppError;
use crate::web::state::{AppState, with_conn};

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ready = with_conn(&state, |conn| {
        diesel::sql_query("SELECT 1").execute(conn)?;
        Ok::<_, AppError>(())
    })
    .await;
    match ready {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unavailable")
        }
    }
}

//! `/healthz`: the process serves, and its embedded PostgreSQL is not beyond restarting.
//! `/readyz`: the database answers too.

use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;

use crate::http::error::AppError;
use crate::http::state::{AppState, with_conn};

pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    // While the supervisor restarts a PostgreSQL that just exited we stay healthy; once a
    // restart failed, the process cannot serve and a process manager should know it.
    if state
        .database_health
        .as_ref()
        .is_some_and(|h| h.is_failed())
    {
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("the embedded PostgreSQL is down and could not be started again");
    }
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

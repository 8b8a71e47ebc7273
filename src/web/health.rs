//! `/healthz`: the process serves, and its embedded PostgreSQL is not beyond restarting.
//! `/readyz`: the database answers too.

use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;

use crate::http::error::AppError;
use crate::http::state::AppState;

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

/// How long `/readyz` waits for a connection: a load balancer's health check gives up after a
/// few seconds, and during a failover no primary answers for 10-15 s.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// 200 when a primary answers a query, 503 (with `Retry-After`) while none does.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let ready = web::block(move || {
        let mut conn = pool.get_timeout(READY_WITHIN)?;
        diesel::sql_query("SELECT 1").execute(&mut conn)?;
        Ok::<_, AppError>(())
    })
    .await
    .map_err(AppError::from)
    .and_then(|ready| ready);
    match ready {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            HttpResponse::ServiceUnavailable()
                .insert_header((
                    "Retry-After",
                    crate::platform::outage::RETRY_AFTER_SECONDS.to_string(),
                ))
                .content_type("text/plain")
                .body("database unavailable")
        }
    }
}

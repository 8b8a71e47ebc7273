//! `GET /metrics`: the Prometheus metrics of this instance. On the public address it answers
//! only with `Authorization: Bearer <IAP_METRICS_TOKEN>` (and is a 404 without a token set);
//! on the metrics address (`IAP_METRICS_BIND`, meant for the operators' network) it needs none.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::http::error::AppError;
use crate::http::state::AppState;
use crate::platform::metrics::{self, PoolFigures, Scrape};
use crate::read_models::outboxes;

/// The public address's `/metrics`.
pub async fn public(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let Some(expected) = state.metrics_token.as_deref() else {
        return Err(AppError::NotFound);
    };
    let given = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|given| crate::domain::auth::session::tokens_match(given, expected)) {
        return Ok(HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer realm=\"metrics\""))
            .finish());
    }
    Ok(scrape(state).await)
}

/// The metrics address's `/metrics`.
pub async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let (pool, replica, embedded) = (
        state.pool.clone(),
        state.replica_pool.clone(),
        state.database_health.clone(),
    );
    let text = web::block(move || {
        let figures = |name, pool: &crate::platform::db::DbPool| {
            let now = pool.state();
            PoolFigures {
                name,
                connections: now.connections,
                idle: now.idle_connections,
                max: pool.max_size(),
            }
        };
        let mut pools = vec![figures("app", &pool)];
        pools.extend(replica.as_ref().map(|r| figures("read", r)));
        let outboxes = pool
            .get()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| outboxes::waiting(&mut conn).map_err(|e| e.to_string()));
        metrics::render(Scrape {
            pools,
            embedded: embedded.map(|h| (h.is_up(), h.restarts())),
            outboxes,
        })
    })
    .await;
    match text {
        Ok(text) => HttpResponse::Ok()
            .content_type(metrics::CONTENT_TYPE)
            .body(text),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

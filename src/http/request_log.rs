//! One log line per request: its id (the caller's `X-Request-Id`, or one made here, sent back in
//! the answer), the method, the route's pattern (never the path itself, which may carry an
//! Odoo account token in its query), the status, the latency and the customer database when the
//! request was made by one. With `--log-format json` each line is a JSON object.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};

use crate::kernel::ids::DatabaseId;

/// The customer database a request was made by, when known (set by the extractors that
/// authenticate it).
#[derive(Debug, Clone, Copy)]
pub struct Tenant(pub DatabaseId);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Marks the request as made by `database`, for its log line.
pub fn set_tenant(req: &HttpRequest, database: DatabaseId) {
    req.extensions_mut().insert(Tenant(database));
}

/// A caller's request id is kept when it is a plain token (1 to 64 of `A-Za-z0-9._-`), so that
/// it cannot forge log lines; otherwise one is made.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
        .map(str::to_string)
        .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()))
}

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = std::time::Instant::now();
    let id = request_id(&req);
    let method = req.method().to_string();
    let mut response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let tenant = response
        .request()
        .extensions()
        .get::<Tenant>()
        .map(|t| t.0.0);
    let status = response.status().as_u16();
    let took = started.elapsed();
    crate::platform::metrics::request(&method, &route, status, took);
    let latency_ms = took.as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    tracing::info!(
        target: "iap_credits::request",
        request_id = %id,
        method = %method,
        route = %route,
        status,
        latency_ms = (latency_ms * 1000.0).round() / 1000.0,
        tenant,
        "request"
    );
    Ok(response)
}

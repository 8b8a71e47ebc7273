//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers' own annotations and
//! answer types, served at `/api/v1/openapi.json` and shown to people at `/api/v1/docs`.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::handlers;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "IAP Credits API",
        version = "1",
        description = "Check an IAP account's credits; hold, capture, cancel and charge them. \
            Each call names one account by its token (`Authorization: Bearer <token>`, the \
            token shown on the account's Account Information page). Credits are decimal \
            strings with four places. Calls that change something take an optional \
            `Idempotency-Key`. Errors are JSON with a stable `error.code`."
    ),
    paths(
        handlers::balance,
        handlers::create_charge,
        handlers::create_hold,
        handlers::capture_hold,
        handlers::cancel_hold,
        handlers::transactions,
        document,
        crate::web::api_docs::page,
    ),
    tags((name = "credits", description = "An IAP account's credits"),
         (name = "document", description = "This document")),
    modifiers(&AccountToken)
)]
pub struct ApiDoc;

/// The bearer token that names the account.
struct AccountToken;

impl Modify for AccountToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "account_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The account's token, from its Account Information page",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON, made once.
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
});

/// This document (OpenAPI 3.1).
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "document",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API",
               content_type = "application/json", body = Object))
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}

//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers' own annotations and
//! answer types, served at `/api/v1/openapi.json`, and shown to people at `/api/v1/docs`: each
//! operation with its parameters, body and answers, then each schema, read from the same
//! document the machines get, so that the two never disagree.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use askama::Template;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::handlers;
use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::CurrentUser;

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
        page,
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

struct Operation {
    method: String,
    path: String,
    anchor: String,
    summary: String,
    description: String,
    authenticated: bool,
    /// (name, where, required, type, description)
    parameters: Vec<(String, String, bool, String, String)>,
    /// The request body's schema (as shown, and the component to link to), when it has one.
    body: Option<(String, Option<String>)>,
    /// (status, description, schema as shown, the component to link to)
    responses: Vec<(String, String, String, Option<String>)>,
}

#[derive(Template)]
#[template(path = "api/docs.html")]
struct DocsPage {
    nav: Nav,
    title: String,
    description: String,
    version: String,
    operations: Vec<Operation>,
    /// (name, the schema as JSON)
    schemas: Vec<(String, String)>,
}

/// The component a schema names (itself, or the first one of its combination), to link to.
fn schema_ref(schema: &Value) -> Option<String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().map(str::to_string);
    }
    ["oneOf", "anyOf", "allOf"]
        .iter()
        .filter_map(|c| schema.get(*c).and_then(Value::as_array))
        .flatten()
        .find_map(schema_ref)
}

/// `#/components/schemas/Name` → `Name`; an inline schema's type otherwise.
fn schema_name(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference
            .rsplit('/')
            .next()
            .unwrap_or(reference)
            .to_string();
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema.get(combinator).and_then(Value::as_array) {
            let names: Vec<String> = options.iter().map(schema_name).collect();
            return names.join(" or ");
        }
    }
    match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn operations(document: &Value) -> Vec<Operation> {
    let mut found = Vec::new();
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return found;
    };
    for (path, item) in paths {
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(op) = item.get(method) else { continue };
            let parameters = op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| {
                    (
                        text(p, "name"),
                        text(p, "in"),
                        p.get("required").and_then(Value::as_bool).unwrap_or(false),
                        p.get("schema").map(schema_name).unwrap_or_default(),
                        text(p, "description"),
                    )
                })
                .collect();
            let body = op
                .pointer("/requestBody/content")
                .and_then(Value::as_object)
                .and_then(|content| content.values().next())
                .and_then(|media| media.get("schema"))
                .map(|schema| (schema_name(schema), schema_ref(schema)));
            let responses = op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(status, r)| {
                    let schema = r
                        .get("content")
                        .and_then(Value::as_object)
                        .and_then(|content| content.values().next())
                        .and_then(|media| media.get("schema"));
                    (
                        status.clone(),
                        text(r, "description"),
                        schema.map(schema_name).unwrap_or_default(),
                        schema.and_then(schema_ref),
                    )
                })
                .collect();
            found.push(Operation {
                method: method.to_uppercase(),
                anchor: format!(
                    "{method}-{}",
                    path.trim_matches('/')
                        .replace(['/', '{', '}', '.'], "-")
                        .trim_matches('-')
                ),
                path: path.clone(),
                summary: text(op, "summary"),
                description: text(op, "description"),
                authenticated: op.get("security").is_some(),
                parameters,
                body,
                responses,
            });
        }
    }
    found
}

/// This document, for people.
#[utoipa::path(
    get, path = "/api/v1/docs", tag = "document",
    responses((status = 200, description = "This document as a web page",
               content_type = "text/html", body = String))
)]
pub async fn page(current: Option<CurrentUser>) -> Result<HttpResponse, AppError> {
    let document: Value = serde_json::from_str(&DOCUMENT)
        .map_err(|e| AppError::Internal(format!("the OpenAPI document: {e}")))?;
    let schemas = document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, schema)| {
            (
                name.clone(),
                serde_json::to_string_pretty(schema).unwrap_or_default(),
            )
        })
        .collect();
    page::render(&DocsPage {
        nav: Nav::maybe(current.as_ref()),
        title: text(&document["info"], "title"),
        description: text(&document["info"], "description"),
        version: text(&document, "openapi"),
        operations: operations(&document),
        schemas,
    })
}

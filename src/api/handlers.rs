//! The endpoints. Each parses its input into domain types, runs one ledger operation on the
//! blocking pool (through the idempotency store when the caller sent a key), and answers JSON.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use diesel::PgConnection;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use super::answers::{
    BalanceAnswer, Balances, CaptureRequestBody, ChargeCreated, ChargeRequestBody, Entry,
    HoldAnswer, HoldCancelled, HoldCaptured, HoldCreated, HoldRequestBody, TransactionsPage,
    charge_renderer, to_json,
};
use super::auth::{ApiAccount, bearer_token};
use super::error::{ApiError, ErrorAnswer};
use crate::domain::ledger::batch::{ChargeAnswer, ChargeRequest};
use crate::domain::ledger::idempotency::{self, Outcome, StoredResponse};
use crate::domain::ledger::{self, Actor, IapAccount, LedgerError, accounts, entries};
use crate::http::state::AppState;
use crate::kernel::credits::Credits;
use crate::kernel::ids::HoldId;
use crate::kernel::pagination::{Keyset, Page};

const MAX_DESCRIPTION: usize = 500;
const MAX_KEY: usize = 255;

/// Parses a JSON body strictly: malformed JSON, unknown fields and wrong types are a 400.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8], empty_ok: bool) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) && empty_ok {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ApiError::malformed(format!("invalid JSON body: {e}")))
}

/// Credits from JSON: a decimal string ("12.5") or a plain number; never via a float's
/// rounding (a number is read from its shortest decimal form and parsed strictly).
fn credits_from_json(value: &Value) -> Result<Credits, ApiError> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(ApiError::invalid_amount(
                "`credits` must be a decimal string such as \"12.5\" or a number",
            ));
        }
    };
    Credits::parse(&text).map_err(|e| ApiError::invalid_amount(format!("`credits`: {e}")))
}

fn description(text: Option<String>) -> Result<String, ApiError> {
    let text = text.unwrap_or_default();
    if text.contains('\0') {
        return Err(ApiError::malformed(
            "`description` holds a NUL character, which cannot be stored",
        ));
    }
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_description",
            format!("`description` has at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(text.trim().to_string())
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.trim().is_empty() && key.len() <= MAX_KEY => {
            Ok(Some(key.trim().to_string()))
        }
        _ => Err(ApiError::malformed(format!(
            "Idempotency-Key must be 1 to {MAX_KEY} visible ASCII characters"
        ))),
    }
}

/// Runs a mutating operation for the account, once per idempotency key when one is given.
/// `request` describes the parsed request, so that a key reused for another request is caught.
async fn mutate<F>(
    state: web::Data<AppState>,
    account: IapAccount,
    key: Option<String>,
    request: String,
    operation: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut PgConnection, &IapAccount) -> Result<(StatusCode, String), LedgerError>
        + Send
        + 'static,
{
    let pool = state.pool.clone();
    let base_url = state.base_url.clone();
    let outcome = web::block(move || {
        let mut conn = pool.get()?;
        let work = |conn: &mut PgConnection| match operation(conn, &account) {
            Ok((status, body)) => Ok(StoredResponse {
                status: status.as_u16(),
                body,
            }),
            Err(e) => match ApiError::from_ledger(&e, &base_url) {
                Some(api_error) => Ok(api_error.to_stored()),
                None => Err(ApiError::from(match e {
                    LedgerError::Database(db) => db,
                    _ => diesel::result::Error::RollbackTransaction,
                })),
            },
        };
        match key {
            Some(key) => {
                let scope = Actor::api(account.id).as_str().to_string();
                idempotency::run_once(&mut conn, &scope, &key, &request, work)
            }
            None => work(&mut conn).map(Outcome::Fresh),
        }
    })
    .await??;
    match outcome {
        Outcome::Fresh(stored) => Ok(respond(stored, false)),
        Outcome::Replayed(stored) => Ok(respond(stored, true)),
        Outcome::Conflict => Err(idempotency_conflict()),
    }
}

fn idempotency_conflict() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_conflict",
        "this Idempotency-Key was already used for a different request",
    )
}

fn respond(stored: StoredResponse, replayed: bool) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.content_type("application/json").body(stored.body)
}

/// The account's credits.
#[utoipa::path(
    get, path = "/api/v1/balance", tag = "credits",
    security(("account_token" = [])),
    responses(
        (status = 200, description = "The account's credits", body = BalanceAnswer),
        (status = 401, description = "No token, or not an account's", body = ErrorAnswer),
    )
)]
pub async fn balance(
    state: web::Data<AppState>,
    ApiAccount(account): ApiAccount,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let (account, slug) = web::block(move || {
        let mut conn = pool.get()?;
        let account = ledger::refresh(&mut conn, account.id).map_err(|e| match e {
            LedgerError::Database(db) => ApiError::from(db),
            _ => ApiError::not_found(),
        })?;
        let slug = accounts::service_slug(&mut conn, account.id)?;
        Ok::<_, ApiError>((account, slug))
    })
    .await??;
    Ok(HttpResponse::Ok().json(BalanceAnswer {
        service: slug,
        balances: Balances::of(&account),
    }))
}

/// Debits credits at once. Charges go through the group-commit batcher, which also resolves
/// the token.
#[utoipa::path(
    post, path = "/api/v1/charges", tag = "credits",
    security(("account_token" = [])),
    params(IdempotencyKey),
    request_body = ChargeRequestBody,
    responses(
        (status = 201, description = "Charged: the ledger row and the account after it", body = ChargeCreated),
        (status = 400, description = "The body is not the JSON described", body = ErrorAnswer),
        (status = 401, description = "No token, or not an account's", body = ErrorAnswer),
        (status = 402, description = "Too few credits: nothing was charged", body = ErrorAnswer),
        (status = 409, description = "The Idempotency-Key was used for another request", body = ErrorAnswer),
        (status = 422, description = "An invalid amount or description", body = ErrorAnswer),
    )
)]
pub async fn create_charge(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let received = std::time::Instant::now();
    let token = bearer_token(&req).ok_or_else(ApiError::unauthorized)?;
    let key = idempotency_key(&req)?;
    let parsed: ChargeRequestBody = parse_body(&body, false)?;
    let credits = credits_from_json(&parsed.credits)?;
    let description = description(parsed.description)?;
    let request =
        json!({"op": "charge", "credits": credits.to_string(), "description": description})
            .to_string();
    let charge = ChargeRequest {
        token,
        amount: credits,
        description,
        idempotency: key.map(|key| (key, request)),
    };
    let parsed_at = std::time::Instant::now();
    let (answer, times) = state.charges.charge(charge).await;
    let answered_from = std::time::Instant::now();
    let answer = answer.map_err(|e| ApiError::fault(&e))?;
    let mut response = match answer {
        ChargeAnswer::Fresh(result) => {
            if let Ok(charged) = result.as_ref() {
                crate::http::request_log::set_tenant(&req, charged.account.database_id);
            }
            let stored = charge_renderer(state.base_url.clone())(&result).ok_or_else(|| {
                match result.as_ref() {
                    Err(e) => ApiError::fault(e),
                    Ok(_) => ApiError::internal(),
                }
            })?;
            respond(stored, false)
        }
        ChargeAnswer::Stored { response, replayed } => respond(response, replayed),
        ChargeAnswer::Conflict => return Err(idempotency_conflict()),
    };
    if state.server_timing {
        // Where this charge's time went (the benchmark reads it; off unless asked for).
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let timing = format!(
            "parse;dur={:.3}, queue;dur={:.3}, sql;dur={:.3}, commit;dur={:.3}, answer;dur={:.3}, batch;desc={}",
            ms(parsed_at - received),
            ms(times.queue),
            ms(times.sql),
            ms(times.commit),
            ms(answered_from.elapsed()),
            times.batch_size
        );
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&timing) {
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("server-timing"),
                value,
            );
        }
    }
    Ok(response)
}

/// Reserves credits until captured, cancelled or expired.
#[utoipa::path(
    post, path = "/api/v1/holds", tag = "credits",
    security(("account_token" = [])),
    params(IdempotencyKey),
    request_body = HoldRequestBody,
    responses(
        (status = 201, description = "Held: the hold and the account after it", body = HoldCreated),
        (status = 400, description = "The body is not the JSON described", body = ErrorAnswer),
        (status = 401, description = "No token, or not an account's", body = ErrorAnswer),
        (status = 402, description = "Too few credits: nothing was held", body = ErrorAnswer),
        (status = 409, description = "The Idempotency-Key was used for another request", body = ErrorAnswer),
        (status = 422, description = "An invalid amount, expiry or description", body = ErrorAnswer),
    )
)]
pub async fn create_hold(
    state: web::Data<AppState>,
    ApiAccount(account): ApiAccount,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let parsed: HoldRequestBody = parse_body(&body, false)?;
    let credits = credits_from_json(&parsed.credits)?;
    let ttl = match &parsed.expires_in_seconds {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_u64().map(Duration::from_secs).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_expiry",
                "`expires_in_seconds` must be a whole number of seconds",
            )
        })?),
    };
    let description = description(parsed.description)?;
    let request = json!({
        "op": "hold", "credits": credits.to_string(),
        "ttl": ttl.map(|t| t.as_secs()), "description": description,
    })
    .to_string();
    mutate(state, account, key, request, move |conn, account| {
        let hold = ledger::authorize(
            conn,
            account.id,
            credits,
            ttl,
            &description,
            &Actor::api(account.id),
        )?;
        let after = accounts::by_id(conn, account.id)?.ok_or(LedgerError::AccountNotFound)?;
        Ok((
            StatusCode::CREATED,
            to_json(&HoldCreated {
                hold: HoldAnswer::from(&hold),
                balances: Balances::of(&after),
            }),
        ))
    })
    .await
}

fn hold_id(path: &str) -> Result<HoldId, ApiError> {
    path.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(HoldId)
        .ok_or_else(ApiError::not_found)
}

/// Posts credits of a hold (all of it unless told) and releases the rest.
#[utoipa::path(
    post, path = "/api/v1/holds/{id}/capture", tag = "credits",
    security(("account_token" = [])),
    params(("id" = i64, Path, description = "The hold's id"), IdempotencyKey),
    request_body(content = Option<CaptureRequestBody>, description = "May be left out"),
    responses(
        (status = 200, description = "Captured: the hold, its rows and the account after it", body = HoldCaptured),
        (status = 400, description = "The body is not the JSON described", body = ErrorAnswer),
        (status = 401, description = "No token, or not an account's", body = ErrorAnswer),
        (status = 404, description = "No such hold on this account", body = ErrorAnswer),
        (status = 409, description = "The hold expired or was closed, or the Idempotency-Key was used for another request", body = ErrorAnswer),
        (status = 422, description = "More than the hold, or an invalid amount", body = ErrorAnswer),
    )
)]
pub async fn capture_hold(
    state: web::Data<AppState>,
    ApiAccount(account): ApiAccount,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let hold_id = hold_id(&path)?;
    let key = idempotency_key(&req)?;
    let parsed: CaptureRequestBody = parse_body(&body, true)?;
    let credits = match &parsed.credits {
        None | Some(Value::Null) => None,
        Some(value) => Some(credits_from_json(value)?),
    };
    let request =
        json!({"op": "capture", "hold": hold_id, "credits": credits.map(|c| c.to_string())})
            .to_string();
    mutate(state, account, key, request, move |conn, account| {
        let (hold, entries) =
            ledger::capture(conn, account.id, hold_id, credits, &Actor::api(account.id))?;
        let after = accounts::by_id(conn, account.id)?.ok_or(LedgerError::AccountNotFound)?;
        Ok((
            StatusCode::OK,
            to_json(&HoldCaptured {
                hold: HoldAnswer::from(&hold),
                entries: entries.iter().map(Entry::from).collect(),
                balances: Balances::of(&after),
            }),
        ))
    })
    .await
}

/// Releases a hold. Cancelling one already cancelled or expired succeeds and changes nothing.
#[utoipa::path(
    post, path = "/api/v1/holds/{id}/cancel", tag = "credits",
    security(("account_token" = [])),
    params(("id" = i64, Path, description = "The hold's id"), IdempotencyKey),
    responses(
        (status = 200, description = "Released: the hold and the account after it", body = HoldCancelled),
        (status = 401, description = "No token, or not an account's", body = ErrorAnswer),
        (status = 404, description = "No such hold on this account", body = ErrorAnswer),
        (status = 409, description = "The hold was captured, or the Idempotency-Key was used for another request", body = ErrorAnswer),
    )
)]
pub async fn cancel_hold(
    state: web::Data<AppState>,
    ApiAccount(account): ApiAccount,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let hold_id = hold_id(&path)?;
    let key = idempotency_key(&req)?;
    let request = json!({"op": "cancel", "hold": hold_id}).to_string();
    mutate(state, account, key, request, move |conn, account| {
        let hold = ledger::cancel(conn, account.id, hold_id, &Actor::api(account.id))?;
        let after = accounts::by_id(conn, account.id)?.ok_or(LedgerError::AccountNotFound)?;
        Ok((
            StatusCode::OK,
            to_json(&HoldCancelled {
                hold: HoldAnswer::from(&hold),
                balances: Balances::of(&after),
            }),
        ))
    })
    .await
}

/// A page of the ledger.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, 1 to 100 (20 by default).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_after` of the previous page.
    #[param(value_type = Option<i64>, minimum = 1)]
    after: Option<String>,
}

/// The account's ledger, newest first, a page at a time.
#[utoipa::path(
    get, path = "/api/v1/transactions", tag = "credits",
    security(("account_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of the ledger", body = TransactionsPage),
        (status = 400, description = "An invalid `limit` or `after`", body = ErrorAnswer),
        (status = 401, description = "No token, or not an account's", body = ErrorAnswer),
    )
)]
pub async fn transactions(
    state: web::Data<AppState>,
    ApiAccount(account): ApiAccount,
    page: Result<web::Query<PageQuery>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let page = page.map_err(|_| ApiError::malformed("the query takes `limit` and `after` only"))?;
    let limit = match page.limit.as_deref() {
        None => 20,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::malformed("`limit` is a whole number from 1 to 100"))?,
    };
    let after = match page.after.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::malformed("`after` is the id of a transaction"))?,
        ),
    };
    let pages = Keyset(limit);
    let pool = state.pool.clone();
    let fetched = web::block(move || {
        let mut conn = pool.get()?;
        Ok::<_, ApiError>(entries::history(
            &mut conn,
            account.id,
            after,
            pages.fetch(),
        )?)
    })
    .await??;
    let Page {
        rows,
        next: next_after,
    } = pages.page(fetched, |e| e.id);
    Ok(HttpResponse::Ok().json(TransactionsPage {
        transactions: rows.iter().map(Entry::from).collect(),
        next_after,
    }))
}

/// The `Idempotency-Key` header of the calls that change something.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // a description for the document, read from the request by `idempotency_key`
pub struct IdempotencyKey {
    /// Makes the call safe to retry: the same key with the same request answers as the first
    /// time (with `Idempotent-Replayed: true`) and changes nothing more; 1 to 255 characters,
    /// kept 48 hours.
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found())
}

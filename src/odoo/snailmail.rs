//! Odoo's own `snailmail` module, as `snailmail_letter.py` calls it:
//! `<snailmail.endpoint>/iap/snailmail/1/print` with `account_token`, `dbuuid`, `documents`
//! (each a letter: `letter_id`, `address`, `pdf_bin` — the PDF in base64 — …), `options`
//! (`color`, `cover`, `duplex`) and `batch: true`.
//!
//! Each letter goes through our Snailmail service (`snailmail::send_for_odoo`: the same
//! checks, price by pages, colour and destination, post and tracking as **Send by Post**) and
//! is answered on its own: `sent: true` with a `send_id`, or `sent: false` with Odoo's code —
//! `MISSING_REQUIRED_FIELDS` (an incomplete address), `NO_PRICE_AVAILABLE` (no postage to the
//! country), `FORMAT_ERROR` (a PDF we cannot print: not a PDF, not A4, too many pages, or
//! refused by the post), `CREDIT_ERROR` (each letter the account could not pay for; Odoo's
//! cron sends it again later) or `UNKNOWN_ERROR` (our PDF reader was too busy: nothing was
//! charged; send it again). With `batch: true` Odoo does not catch an `InsufficientCreditError`
//! for the call, so none is raised: only a call that names no account, or whose `documents`
//! are not letters at all, is refused whole — and then nothing is charged.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::Context;
use super::directory::account;
use super::params::Params;
use super::rpc::{RpcError, answer, credits_number, parse_call, read_body};
use crate::domain::ledger::IapAccount;
use crate::http::state::AppState;
use crate::kernel::credits::Credits;
use crate::kernel::ids::LetterId;
use crate::services::documents::{self, CheckedUpload, UploadError};
use crate::services::snailmail::postage::LetterOptions;
use crate::services::snailmail::{self, Address, OdooLetter, OdooSent};

/// The biggest call read: a few letters of up to 10 MB each, in base64.
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// The most letters one call may carry (Odoo sends one at a time).
pub const MAX_LETTERS: usize = 20;
/// The longest address field.
const MAX_FIELD: usize = 200;

/// Odoo's per-letter error codes (`snailmail_letter.ERROR_CODES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetterError {
    MissingRequiredFields,
    NoPriceAvailable,
    FormatError,
    CreditError,
    UnknownError,
}

impl LetterError {
    pub fn code(self) -> &'static str {
        match self {
            LetterError::MissingRequiredFields => "MISSING_REQUIRED_FIELDS",
            LetterError::NoPriceAvailable => "NO_PRICE_AVAILABLE",
            LetterError::FormatError => "FORMAT_ERROR",
            LetterError::CreditError => "CREDIT_ERROR",
            LetterError::UnknownError => "UNKNOWN_ERROR",
        }
    }
}

/// One letter of the call, as read (its PDF not read yet).
struct Asked {
    /// Echoed back as Odoo sent it.
    letter_id: Value,
    address: Result<Address, LetterError>,
    pdf: Result<Vec<u8>, LetterError>,
}

/// What one letter came to.
enum Outcome {
    Sent { send_id: LetterId, price: Credits },
    Failed(LetterError),
}

/// A text field of an address: Odoo sends `false` for an empty one.
fn address_text(address: &Map<String, Value>, name: &str) -> Result<String, LetterError> {
    match address.get(name) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(String::new()),
        Some(Value::String(s)) if s.chars().count() <= MAX_FIELD && !s.contains('\0') => {
            Ok(s.trim().to_string())
        }
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(LetterError::MissingRequiredFields),
    }
}

/// The recipient's address: name, street (and street2), zip, city and country are required.
fn address_of(document: &Map<String, Value>) -> Result<Address, LetterError> {
    let Some(Value::Object(address)) = document.get("address") else {
        return Err(LetterError::MissingRequiredFields);
    };
    let street = address_text(address, "street")?;
    let street2 = address_text(address, "street2")?;
    let state = address_text(address, "state")?;
    let city = address_text(address, "city")?;
    let parsed = Address {
        recipient: address_text(address, "name")?,
        street: if street2.is_empty() {
            street
        } else {
            format!("{street}, {street2}")
        },
        postal_code: address_text(address, "zip")?,
        city: if state.is_empty() || city.is_empty() {
            city
        } else {
            format!("{city} {state}")
        },
        country: address_text(address, "country_code")?.to_ascii_uppercase(),
    };
    if parsed.missing_part().is_some()
        || parsed.country.len() != 2
        || !parsed.country.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return Err(LetterError::MissingRequiredFields);
    }
    Ok(parsed)
}

/// The letter's PDF, decoded (a PDF we cannot read as base64 cannot be printed).
fn pdf_of(document: &Map<String, Value>) -> Result<Vec<u8>, LetterError> {
    let Some(Value::String(encoded)) = document.get("pdf_bin") else {
        return Err(LetterError::FormatError);
    };
    let compact: String = encoded.split_ascii_whitespace().collect();
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| LetterError::FormatError)?;
    if pdf.is_empty() || pdf.len() > documents::MAX_BYTES {
        return Err(LetterError::FormatError);
    }
    Ok(pdf)
}

/// The call's letters, or why the call is not a batch of letters at all.
fn letters_of(params: &Params) -> Result<Vec<Asked>, RpcError> {
    let documents = match params.0.get("documents") {
        Some(Value::Array(documents)) => documents,
        None | Some(Value::Null) => return Err(RpcError::missing("documents")),
        Some(_) => return Err(RpcError::invalid("documents", "a list of letters")),
    };
    if documents.len() > MAX_LETTERS {
        return Err(RpcError::invalid(
            "documents",
            &format!("at most {MAX_LETTERS} letters in one call"),
        ));
    }
    documents
        .iter()
        .enumerate()
        .map(|(i, document)| {
            let Value::Object(document) = document else {
                return Err(RpcError::invalid(&format!("documents[{i}]"), "a letter"));
            };
            let letter_id = match document.get("letter_id") {
                Some(id @ Value::Number(n)) if n.is_i64() || n.is_u64() => id.clone(),
                _ => {
                    return Err(RpcError::invalid(
                        &format!("documents[{i}].letter_id"),
                        "the letter's id (a whole number)",
                    ));
                }
            };
            Ok(Asked {
                letter_id,
                address: address_of(document),
                pdf: pdf_of(document),
            })
        })
        .collect()
}

fn options_of(params: &Params) -> Result<LetterOptions, RpcError> {
    let options = match params.0.get("options") {
        None | Some(Value::Null) => return Ok(LetterOptions::default()),
        Some(Value::Object(options)) => Params(options),
        Some(_) => return Err(RpcError::invalid("options", "an object")),
    };
    let flag = |name: &str| -> Result<bool, RpcError> {
        match options.0.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(RpcError::invalid(
                &format!("options.{name}"),
                "true or false",
            )),
        }
    };
    Ok(LetterOptions {
        colour: flag("color")?,
        duplex: flag("duplex")?,
        cover: flag("cover")?,
    })
}

/// A letter read and ready to send, or what it already came to.
enum Ready {
    Letter {
        letter_id: Value,
        address: Address,
        upload: Box<CheckedUpload>,
        pages: i32,
    },
    Failed {
        letter_id: Value,
        error: LetterError,
    },
}

/// Reads each letter's PDF through the reader's gate (a few at a time, off the request's
/// threads), as an upload is read.
async fn read_letters(state: &AppState, account: &IapAccount, asked: Vec<Asked>) -> Vec<Ready> {
    let mut ready = Vec::with_capacity(asked.len());
    for letter in asked {
        let letter_id = letter.letter_id;
        let (address, pdf) = match (letter.address, letter.pdf) {
            (Ok(address), Ok(pdf)) => (address, pdf),
            (Err(error), _) | (_, Err(error)) => {
                ready.push(Ready::Failed { letter_id, error });
                continue;
            }
        };
        let file_name = format!("odoo-letter-{letter_id}.pdf");
        let read = documents::check_upload(
            &state.readers.gate,
            &state.readers.pdf,
            account.database_id,
            &file_name,
            pdf,
        )
        .await;
        let read = match read {
            Ok(upload) if upload.media_type == documents::PDF => upload,
            Ok(_) | Err(UploadError::WrongType | UploadError::Pdf(_) | UploadError::Empty) => {
                ready.push(Ready::Failed {
                    letter_id,
                    error: LetterError::FormatError,
                });
                continue;
            }
            Err(UploadError::TooLarge) => {
                ready.push(Ready::Failed {
                    letter_id,
                    error: LetterError::FormatError,
                });
                continue;
            }
            Err(UploadError::Busy(_)) => {
                ready.push(Ready::Failed {
                    letter_id,
                    error: LetterError::UnknownError,
                });
                continue;
            }
        };
        let pages = read
            .pdf
            .as_ref()
            .ok_or(LetterError::FormatError)
            .and_then(|facts| {
                snailmail::printable_pages(facts).map_err(|_| LetterError::FormatError)
            });
        ready.push(match pages {
            Ok(pages) => Ready::Letter {
                letter_id,
                address,
                upload: Box::new(read),
                pages,
            },
            Err(error) => Ready::Failed { letter_id, error },
        });
    }
    ready
}

/// Sends each read letter, in order, from the account.
fn send_letters(
    conn: &mut diesel::PgConnection,
    post: &std::sync::Arc<dyn crate::services::snailmail::post::PostalService>,
    account: &IapAccount,
    options: LetterOptions,
    ready: Vec<Ready>,
) -> Result<Vec<(Value, Outcome)>, RpcError> {
    let mut outcomes = Vec::with_capacity(ready.len());
    for letter in ready {
        let (letter_id, address, upload, pages) = match letter {
            Ready::Failed { letter_id, error } => {
                outcomes.push((letter_id, Outcome::Failed(error)));
                continue;
            }
            Ready::Letter {
                letter_id,
                address,
                upload,
                pages,
            } => (letter_id, address, upload, pages),
        };
        let digest = documents::sha256_hex(&upload.content);
        let letter = OdooLetter {
            form_key: format!("odoo:{letter_id}:{}", &digest[..32]),
            upload: &upload,
            pages,
            address: &address,
            options,
        };
        let outcome = match snailmail::send_for_odoo(conn, post, account, &letter) {
            Ok(OdooSent::Sent { letter_id, price }) => Outcome::Sent {
                send_id: letter_id,
                price,
            },
            Ok(OdooSent::Refused { .. }) => Outcome::Failed(LetterError::FormatError),
            Ok(OdooSent::NoPrice) => Outcome::Failed(LetterError::NoPriceAvailable),
            Ok(OdooSent::InsufficientCredits { .. }) => Outcome::Failed(LetterError::CreditError),
            Err(snailmail::SendError::Database(e)) => return Err(e.into()),
            Err(e) => {
                tracing::error!("a letter from Odoo could not be sent: {e}");
                Outcome::Failed(LetterError::UnknownError)
            }
        };
        outcomes.push((letter_id, outcome));
    }
    Ok(outcomes)
}

/// The answer Odoo reads: `request_code`, `total_cost`, `credit_error` and each letter's fate.
fn print_answer(outcomes: &[(Value, Outcome)], options: &Value) -> Value {
    let mut total = Credits::ZERO;
    let mut credit_error = false;
    let documents: Vec<Value> = outcomes
        .iter()
        .map(|(letter_id, outcome)| match outcome {
            Outcome::Sent { send_id, price } => {
                total = Credits::from_units(total.units() + price.units());
                json!({"letter_id": letter_id, "sent": true, "send_id": send_id})
            }
            Outcome::Failed(error) => {
                credit_error |= *error == LetterError::CreditError;
                json!({"letter_id": letter_id, "sent": false, "error": error.code()})
            }
        })
        .collect();
    json!({
        "request_code": 200,
        "total_cost": credits_number(total),
        "credit_error": credit_error,
        "request": {"documents": documents, "options": options},
    })
}

/// `/iap/snailmail/1/print`.
pub async fn print(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    if req.method() != Method::POST {
        return answer(
            Value::Null,
            Err(RpcError::User("JSON-RPC calls are POSTed".into())),
        );
    }
    let body = match read_body(payload, MAX_BODY).await {
        Ok(body) => body,
        Err((id, error)) => return answer(id, Err(error)),
    };
    // Up to 32 MiB of JSON and base64: milliseconds of CPU, kept off the async workers.
    let batch = match web::block(move || batch_of(&body)).await {
        Ok(Ok(batch)) => batch,
        Ok(Err((id, error))) => return answer(id, Err(error)),
        Err(_) => return answer(Value::Null, Err(RpcError::Internal)),
    };
    let id = batch.id.clone();
    answer(id, print_letters(&state, &req, batch).await)
}

/// A call's letters and options, read and decoded.
struct Batch {
    id: Value,
    params: Map<String, Value>,
    asked: Vec<Asked>,
    options: LetterOptions,
}

/// The call in `body`, or why it is not a batch of letters (with the id to answer with).
fn batch_of(body: &[u8]) -> Result<Batch, (Value, RpcError)> {
    let call = parse_call(body)?;
    let read = {
        let params = Params(&call.params);
        letters_of(&params).and_then(|asked| Ok((asked, options_of(&params)?)))
    };
    match read {
        Ok((asked, options)) => Ok(Batch {
            id: call.id,
            params: call.params,
            asked,
            options,
        }),
        Err(error) => Err((call.id, error)),
    }
}

async fn print_letters(
    state: &AppState,
    req: &HttpRequest,
    batch: Batch,
) -> Result<Value, RpcError> {
    let Batch {
        params,
        asked,
        options,
        ..
    } = batch;
    let echoed_options = params.get("options").cloned().unwrap_or(json!({}));
    let ctx = Context::of(state, req);
    let pool = state.pool.clone();
    let account = web::block(move || {
        let mut conn = pool.get()?;
        let params = Params(&params);
        let service = super::directory::service(&mut conn, "snailmail")?;
        account(&mut conn, &ctx, &params, "dbuuid", &service)
    })
    .await
    .unwrap_or(Err(RpcError::Internal))?;
    let ready = read_letters(state, &account, asked).await;
    let pool = state.pool.clone();
    let post = state.post.clone();
    let outcomes = web::block(move || {
        let mut conn = pool.get()?;
        send_letters(&mut conn, &post, &account, options, ready)
    })
    .await
    .unwrap_or(Err(RpcError::Internal))?;
    Ok(print_answer(&outcomes, &echoed_options))
}

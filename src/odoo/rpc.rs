//! Odoo's JSON-RPC envelope, as its `iap_jsonrpc` sends and reads it: a POST of
//! `{"jsonrpc": "2.0", "method": "call", "params": {…}, "id": …}`, always answered HTTP 200 with
//! `result` or with an `error` whose `data.name` is the dotted name of an Odoo exception (the
//! client raises by its last part). Whatever arrives — not JSON, another method, huge — is
//! answered in this envelope, never with a 5xx or a page.

use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use crate::kernel::credits::Credits;
use crate::platform::outage::{self, Outage};

/// The biggest body read: 500 SMS numbers with their texts fit many times over.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

pub const INSUFFICIENT_CREDIT: &str = "odoo.addons.iap.tools.iap_tools.InsufficientCreditError";
pub const ACCESS_ERROR: &str = "odoo.exceptions.AccessError";
pub const USER_ERROR: &str = "odoo.exceptions.UserError";

/// Why a call failed, as Odoo's client understands it.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcError {
    /// Too few credits: the client shows a "Buy credits" dialog built from these.
    InsufficientCredit {
        /// How many credits the action lacked.
        credit: Credits,
        service_name: String,
        /// `<base URL>/iap/1/credit`.
        base_url: String,
    },
    /// An unknown, revoked or foreign key or token.
    Access(String),
    /// Malformed parameters, or an action the state does not allow.
    User(String),
    /// The database server went away (a failover): the answer carries `Retry-After`.
    Outage(Outage),
    /// Our fault; logged, with nothing of it in the answer.
    Internal,
}

impl RpcError {
    pub fn missing(name: &str) -> Self {
        RpcError::User(format!("the parameter `{name}` is missing"))
    }

    pub fn invalid(name: &str, what: &str) -> Self {
        RpcError::User(format!("the parameter `{name}` must be {what}"))
    }

    /// `(data.name, data.message)`.
    fn name_and_message(&self) -> (&'static str, String) {
        match self {
            RpcError::InsufficientCredit {
                credit,
                service_name,
                base_url,
            } => {
                // The browser's dialog `JSON.parse`s this message: a JSON string, not an object.
                let message = json!({
                    "credit": credits_number(*credit),
                    "service_name": service_name,
                    "base_url": base_url,
                    "message": "You don't have enough credits on your account to use this service.",
                });
                (INSUFFICIENT_CREDIT, message.to_string())
            }
            RpcError::Access(message) => (ACCESS_ERROR, message.clone()),
            RpcError::User(message) => (USER_ERROR, message.clone()),
            RpcError::Outage(Outage::NoPrimary) => (USER_ERROR, outage::SWITCHING_OVER.into()),
            RpcError::Outage(Outage::ConnectionLost) => (
                USER_ERROR,
                "The IAP server is switching over to another database server and this call was cut short, so its outcome is unknown. Try again in a few seconds."
                    .into(),
            ),
            RpcError::Internal => (
                USER_ERROR,
                "The IAP server failed to answer; try again in a moment.".into(),
            ),
        }
    }
}

impl RpcError {
    /// An error of ours that is not a database error as such: an outage when its text says the
    /// database went away (a service's error wrapping one), else `Internal`. Logged.
    pub fn fault(error: &dyn std::fmt::Display) -> Self {
        let text = error.to_string();
        match outage::in_message(&text) {
            Some(outage) => {
                tracing::warn!("odoo rpc: database outage: {text}");
                RpcError::Outage(outage)
            }
            None => {
                tracing::error!("odoo rpc failed: {text}");
                RpcError::Internal
            }
        }
    }
}

impl From<diesel::result::Error> for RpcError {
    fn from(e: diesel::result::Error) -> Self {
        if let Some(outage) = outage::outage(&e) {
            tracing::warn!("odoo rpc: database outage: {e}");
            return RpcError::Outage(outage);
        }
        tracing::error!("odoo rpc: database error: {e}");
        RpcError::Internal
    }
}

impl From<diesel::r2d2::PoolError> for RpcError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        tracing::warn!("odoo rpc: no database connection: {e}");
        RpcError::Outage(Outage::NoPrimary)
    }
}

/// Credits as the JSON number Odoo expects. Exact: the decimal of at most 4 places is the
/// shortest form of the nearest double, which is what the number is printed as.
pub fn credits_number(credits: Credits) -> Value {
    json!(credits.units() as f64 / 10_000.0)
}

/// A call: its id (echoed back) and its params.
#[derive(Debug)]
pub struct Call {
    pub id: Value,
    pub params: Map<String, Value>,
}

/// Reads and checks the envelope. The error side already carries the id to answer with.
pub async fn read_call(payload: web::Payload) -> Result<Call, (Value, RpcError)> {
    parse_call(&read_body(payload, MAX_BODY).await?)
}

/// The whole body of a call of up to `max_body` bytes, unparsed (a call that carries PDFs is
/// parsed off the async workers).
pub async fn read_body(
    mut payload: web::Payload,
    max_body: usize,
) -> Result<web::BytesMut, (Value, RpcError)> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return Err((
                Value::Null,
                RpcError::User("the request body could not be read".into()),
            ));
        };
        if body.len() + chunk.len() > max_body {
            return Err((
                Value::Null,
                RpcError::User(format!("the request body is larger than {max_body} bytes")),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The envelope's rules, on a whole body.
pub fn parse_call(body: &[u8]) -> Result<Call, (Value, RpcError)> {
    let Ok(Value::Object(mut envelope)) = serde_json::from_slice::<Value>(body) else {
        return Err((
            Value::Null,
            RpcError::User("the request body is not a JSON-RPC 2.0 object".into()),
        ));
    };
    let id = envelope.remove("id").unwrap_or(Value::Null);
    if envelope.get("jsonrpc") != Some(&json!("2.0")) {
        return Err((id, RpcError::User("`jsonrpc` must be \"2.0\"".into())));
    }
    match envelope.get("method") {
        None => {}
        Some(Value::String(m)) if m == "call" => {}
        Some(_) => return Err((id, RpcError::User("`method` must be \"call\"".into()))),
    }
    match envelope.remove("params") {
        Some(Value::Object(params)) => Ok(Call { id, params }),
        None | Some(Value::Null) => Ok(Call {
            id,
            params: Map::new(),
        }),
        Some(_) => Err((id, RpcError::User("`params` must be an object".into()))),
    }
}

/// The answer to a call: HTTP 200 always, since Odoo's `iap_jsonrpc` replaces any non-200
/// answer by its own "An error occurred while reaching …, contact Odoo support"; during a
/// failover the envelope says to try again and `Retry-After` says when.
pub fn answer(id: Value, outcome: Result<Value, RpcError>) -> HttpResponse {
    let outage = matches!(outcome, Err(RpcError::Outage(_)));
    let body = match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => {
            let (name, message) = error.name_and_message();
            json!({
                "jsonrpc": "2.0",
                "id": id,
                "error": {
                    "code": 200,
                    "message": "Odoo Server Error",
                    "data": {
                        "name": name,
                        "message": message,
                        "arguments": [message],
                        "debug": "",
                    },
                },
            })
        }
    };
    let mut response = HttpResponse::Ok();
    if outage {
        response.insert_header(("Retry-After", outage::RETRY_AFTER_SECONDS.to_string()));
    }
    response
        .content_type("application/json")
        .body(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_are_checked_and_keep_their_id() {
        let call =
            parse_call(br#"{"jsonrpc":"2.0","method":"call","params":{"a":1},"id":"x1"}"#).unwrap();
        assert_eq!(call.id, json!("x1"));
        assert_eq!(call.params["a"], json!(1));
        for (body, id) in [
            (&b"not json"[..], Value::Null),
            (br#"[1,2]"#, Value::Null),
            (br#"{"jsonrpc":"1.0","id":7}"#, json!(7)),
            (br#"{"jsonrpc":"2.0","method":"notify","id":7}"#, json!(7)),
            (br#"{"jsonrpc":"2.0","params":[1],"id":7}"#, json!(7)),
        ] {
            let (got_id, error) = parse_call(body).unwrap_err();
            assert_eq!(got_id, id);
            assert!(matches!(error, RpcError::User(_)));
        }
    }

    #[test]
    fn insufficient_credit_carries_a_json_string() {
        let error = RpcError::InsufficientCredit {
            credit: Credits::parse("4").unwrap(),
            service_name: "sms".into(),
            base_url: "https://iap.example/iap/1/credit".into(),
        };
        let (name, message) = error.name_and_message();
        assert_eq!(name, INSUFFICIENT_CREDIT);
        let parsed: Value = serde_json::from_str(&message).unwrap();
        assert_eq!(parsed["credit"], json!(4.0));
        assert_eq!(parsed["base_url"], "https://iap.example/iap/1/credit");
    }

    #[test]
    fn credits_become_exact_numbers() {
        for text in ["0.0001", "0.3", "12.5", "1000", "123456.7891"] {
            let n = credits_number(Credits::parse(text).unwrap());
            assert_eq!(
                Credits::parse(&n.to_string()).unwrap(),
                Credits::parse(text).unwrap()
            );
        }
    }
}

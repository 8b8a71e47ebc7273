//! `ApiAccount`: the IAP account named by the request's bearer token.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::error::ApiError;
use crate::domain::ledger::{IapAccount, accounts};
use crate::http::state::AppState;

pub struct ApiAccount(pub IapAccount);

/// The token of `Authorization: Bearer <token>`, if the header has that form.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && t.len() <= 128)
}

impl FromRequest for ApiAccount {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let request = req.clone();
        Box::pin(async move {
            let (Some(token), Some(state)) = (token, state) else {
                return Err(ApiError::unauthorized());
            };
            let pool = state.pool.clone();
            let account = web::block(move || {
                let mut conn = pool.get()?;
                Ok::<_, ApiError>(accounts::by_token(&mut conn, &token)?)
            })
            .await??;
            let account = account.ok_or_else(ApiError::unauthorized)?;
            crate::http::request_log::set_tenant(&request, account.database_id);
            Ok(ApiAccount(account))
        })
    }
}

//! Request extractors for pages: the signed-in user (`CurrentUser`), admins only (`Admin`),
//! and forms whose CSRF token and origin are checked (`CsrfForm`).

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::domain::auth::sign_in::{self, SignedInUser};
use crate::domain::auth::{session, sessions};
use crate::http::error::AppError;
use crate::http::state::{AppState, with_conn};

/// The signed-in user, with the session's CSRF token for the forms of the page.
pub struct CurrentUser {
    pub user: SignedInUser,
    pub csrf: String,
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let request = req.clone();
        let next = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        Box::pin(async move {
            let sign_in_required = AppError::SignInRequired { next };
            let (Some(session_id), Some(state)) = (session::session_id(&session), state) else {
                return Err(sign_in_required);
            };
            let user = with_conn(&state, move |conn| {
                let now = chrono::Utc::now();
                Ok(match sessions::user_of(conn, &session_id, now)? {
                    Some(user_id) => sign_in::load_user(conn, user_id)?,
                    None => None,
                })
            })
            .await?;
            match user {
                Some(user) => Ok(CurrentUser {
                    user: {
                        crate::http::request_log::set_tenant(&request, user.database_id);
                        user
                    },
                    csrf: session::csrf_token(&session),
                }),
                None => {
                    session::end(&session);
                    Err(sign_in_required)
                }
            }
        })
    }
}

/// A signed-in administrator of their database.
pub struct Admin(pub CurrentUser);

impl FromRequest for Admin {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let current = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            let current = current.await?;
            if current.user.is_admin() {
                Ok(Admin(current))
            } else {
                Err(AppError::Forbidden(
                    "Only administrators of this database can do this.",
                ))
            }
        })
    }
}

/// The signed-in IAP operator (role `platform`). Anyone else signed in gets a 404, so the
/// operator's pages do not even show that they exist; visitors not signed in get the login page.
pub struct PlatformOperator(pub CurrentUser);

impl PlatformOperator {
    pub fn operator(&self) -> crate::domain::audit::Operator {
        crate::domain::audit::Operator {
            user_id: self.0.user.id,
            email: self.0.user.email.clone(),
        }
    }
}

impl FromRequest for PlatformOperator {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let current = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            let current = current.await?;
            if current.user.is_operator() {
                Ok(PlatformOperator(current))
            } else {
                Err(AppError::NotFound)
            }
        })
    }
}

/// A form posted from one of our pages: its `csrf_token` field matches the session's and its
/// Origin (when the browser sends one) is ours. Anything else is a 403 before the handler runs.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session: Session = req.get_session();
        let origin_ok = origin_is_ours(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body.await.map_err(|e| match e.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => AppError::TooLarge,
                _ => AppError::BadRequest(FORM_UNREADABLE),
            })?;
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                .map_err(|_| AppError::BadRequest(FORM_UNREADABLE))?;
            let given = pairs
                .iter()
                .find(|(k, _)| k == "csrf_token")
                .map(|(_, v)| v);
            let expected = session.get::<String>("csrf").ok().flatten();
            let valid =
                matches!((given, expected), (Some(g), Some(e)) if session::tokens_match(g, &e));
            if !valid || !origin_ok {
                return Err(AppError::Forbidden(
                    "This form expired or did not come from this site. Go back, reload the page and try again.",
                ));
            }
            // PostgreSQL cannot store a NUL byte: refused here, before any handler runs.
            if pairs
                .iter()
                .any(|(k, v)| k.contains('\0') || v.contains('\0'))
            {
                return Err(AppError::BadRequest(NUL_IN_FORM));
            }
            serde_urlencoded::from_bytes(&body)
                .map(CsrfForm)
                .map_err(|_| AppError::BadRequest(FORM_UNREADABLE))
        })
    }
}

const FORM_UNREADABLE: &str =
    "The form could not be read: a field is missing or has a value of the wrong kind.";
const NUL_IN_FORM: &str =
    "A field holds a NUL character, which cannot be stored. Remove it and send the form again.";

fn origin_is_ours(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get("Origin").and_then(|o| o.to_str().ok()) else {
        return true; // older browsers and same-origin GET-to-POST flows may omit it
    };
    let base = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.base_url.clone())
        .unwrap_or_default();
    same_origin(origin, &base)
}

/// Whether a browser's `Origin` is the configured base URL's origin. Never the request's own
/// `Host` or `X-Forwarded-Host`, which whoever sends the request chooses. On loopback, the
/// names `127.0.0.1` and `localhost` are the same machine and both accepted.
fn same_origin(origin: &str, base: &str) -> bool {
    let (Ok(origin), Ok(base)) = (url::Url::parse(origin), url::Url::parse(base)) else {
        return false;
    };
    let loopback = |u: &url::Url| matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    origin.origin() == base.origin()
        || (loopback(&origin)
            && loopback(&base)
            && origin.scheme() == base.scheme()
            && origin.port_or_known_default() == base.port_or_known_default())
}

/// A file upload form (`multipart/form-data`) whose CSRF token and origin are checked: its
/// text fields and its one file. Nothing is read before the check: the token must be the
/// form's first part (our forms put it first), and a request from elsewhere is refused at its
/// first bytes. After it, the parts, the text fields and the body are bounded: a file larger
/// than `documents::MAX_BYTES` is not read past a few megabytes and comes back marked too large.
pub struct CsrfUpload {
    pub fields: Vec<(String, String)>,
    pub file: Option<UploadedFile>,
}

pub struct UploadedFile {
    pub file_name: String,
    pub content: Vec<u8>,
    pub too_large: bool,
}

/// The most a text field of an upload form may hold.
const MAX_UPLOAD_FIELD: usize = 64 * 1024;
/// The most all the text fields of an upload form may hold together.
const MAX_UPLOAD_FIELDS_BYTES: usize = 256 * 1024;
/// The most parts (fields and the file) an upload form may have: ours have a dozen.
const MAX_UPLOAD_PARTS: usize = 40;
/// How much of a too large file is read (and dropped) before the upload is answered.
const MAX_SKIPPED: usize = 4 * 1024 * 1024;
/// A body announced larger than this is refused before a byte of it is read.
const MAX_UPLOAD_BODY: u64 =
    (crate::services::documents::MAX_BYTES + MAX_SKIPPED + MAX_UPLOAD_FIELDS_BYTES) as u64
        + 64 * 1024;
const FORGED_UPLOAD: &str =
    "This form expired or did not come from this site. Go back, reload the page and try again.";

impl CsrfUpload {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one part's content up to `limit` bytes: what was kept, whether it was larger, and
/// whether reading stopped before its end (more than `MAX_SKIPPED` past the limit).
async fn read_part(
    item: &mut actix_multipart::Field,
    limit: usize,
) -> Result<(Vec<u8>, bool, bool), AppError> {
    use futures_util::StreamExt;
    let mut content = Vec::new();
    let mut too_large = false;
    let mut skipped = 0usize;
    while let Some(chunk) = item.next().await {
        let chunk = chunk.map_err(|_| AppError::BadRequest(FORM_UNREADABLE))?;
        if too_large || content.len() + chunk.len() > limit {
            too_large = true;
            // Read on a little without keeping it (the form's last fields may follow), never
            // without end.
            skipped += chunk.len();
            if skipped > MAX_SKIPPED {
                return Ok((content, true, true));
            }
            continue;
        }
        content.extend_from_slice(&chunk);
    }
    Ok((content, too_large, false))
}

impl FromRequest for CsrfUpload {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        use futures_util::StreamExt;
        let session: Session = req.get_session();
        let origin_ok = origin_is_ours(req);
        let announced = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut multipart = actix_multipart::Multipart::new(req.headers(), payload.take());
        Box::pin(async move {
            let forged = || AppError::Forbidden(FORGED_UPLOAD);
            if !origin_ok {
                return Err(forged());
            }
            if announced.is_some_and(|n| n > MAX_UPLOAD_BODY) {
                return Err(AppError::TooLarge);
            }
            let unreadable = || AppError::BadRequest(FORM_UNREADABLE);
            let expected = session.get::<String>("csrf").ok().flatten();
            let mut fields = Vec::new();
            let mut fields_bytes = 0usize;
            let mut file = None;
            let mut parts = 0usize;
            while let Some(item) = multipart.next().await {
                let mut item = item.map_err(|_| unreadable())?;
                parts += 1;
                if parts > MAX_UPLOAD_PARTS {
                    return Err(AppError::TooLarge);
                }
                let disposition = item.content_disposition().cloned();
                let name = disposition
                    .as_ref()
                    .and_then(|d| d.get_name())
                    .unwrap_or_default()
                    .to_string();
                let file_name = disposition
                    .as_ref()
                    .and_then(|d| d.get_filename())
                    .map(str::to_string);
                // The token first, checked before anything else is read.
                if parts == 1 && (name != "csrf_token" || file_name.is_some()) {
                    return Err(forged());
                }
                let limit = if file_name.is_some() {
                    crate::services::documents::MAX_BYTES
                } else {
                    MAX_UPLOAD_FIELD.min(MAX_UPLOAD_FIELDS_BYTES - fields_bytes)
                };
                let (content, too_large, stopped) = read_part(&mut item, limit).await?;
                match file_name {
                    Some(file_name) if file.is_none() => {
                        file = Some(UploadedFile {
                            file_name,
                            content,
                            too_large,
                        });
                        if stopped {
                            break;
                        }
                    }
                    Some(_) => return Err(unreadable()),
                    None if too_large => return Err(AppError::TooLarge),
                    None => {
                        fields_bytes += content.len();
                        let value = String::from_utf8(content).map_err(|_| unreadable())?;
                        if value.contains('\0') || name.contains('\0') {
                            return Err(AppError::BadRequest(NUL_IN_FORM));
                        }
                        if parts == 1 {
                            let valid =
                                matches!(&expected, Some(e) if session::tokens_match(&value, e));
                            if !valid {
                                return Err(forged());
                            }
                        }
                        fields.push((name, value));
                    }
                }
            }
            if fields.is_empty() {
                return Err(forged());
            }
            Ok(CsrfUpload { fields, file })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn only_the_base_urls_origin_is_ours() {
        let base = "https://iap.example.com";
        assert!(same_origin("https://iap.example.com", base));
        assert!(!same_origin("https://evil.example", base));
        assert!(!same_origin("http://iap.example.com", base));
        assert!(!same_origin("https://iap.example.com:8443", base));
        assert!(!same_origin("null", base));
        let local = "http://127.0.0.1:8080";
        assert!(same_origin("http://localhost:8080", local));
        assert!(!same_origin("http://localhost:8081", local));
    }
}

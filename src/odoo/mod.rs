//! Odoo's own IAP protocol, so that an unmodified Odoo database (its `iap.endpoint` pointed
//! here) and service providers written against Odoo's `iap_tools` use this server. A thin
//! adapter: `rpc` reads and answers the JSON-RPC envelope, `params` reads the params into our
//! types, `iap` runs the calls on the ledger's own operations.

pub mod accounts;
pub mod auto_refill;
pub mod clearbit;
pub mod directory;
pub mod iap;
pub mod params;
pub mod partner_autocomplete;
pub mod rpc;
pub mod sms;
pub mod snailmail;
pub mod transactions;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use diesel::PgConnection;
use serde_json::{Map, Value};

use crate::domain::ledger::batch::holds::HoldBatcher;
use crate::http::state::AppState;
use crate::platform::db::DbPool;
use rpc::{RpcError, answer, read_call};

/// What a call may use besides its connection and params.
pub struct Context {
    /// Absolute URL of this server, without a trailing slash.
    pub base_url: String,
    /// The SMS carrier.
    pub sms: std::sync::Arc<dyn crate::services::sms::gateway::SmsGateway>,
    /// The company directory (Partner Autocomplete, lead mining).
    pub directory: std::sync::Arc<dyn crate::services::directory::provider::CompanyDirectory>,
    /// Where a webhook given in a call may point.
    pub outbound: crate::platform::outbound::OutboundPolicy,
    /// The caller's address: new tokens it registers are counted against it.
    pub client_address: String,
}

impl Context {
    /// What the server gives the call `req`.
    pub fn of(state: &AppState, req: &HttpRequest) -> Context {
        Context {
            base_url: state.base_url.clone(),
            sms: state.sms.clone(),
            directory: state.directory.clone(),
            outbound: state.outbound.clone(),
            client_address: crate::http::client::address(req),
        }
    }
}

/// What a call runs.
type CallFn = fn(&mut PgConnection, &Context, &Map<String, Value>) -> Result<Value, RpcError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Batched: each waits for its batch's commit without holding a connection.
    cfg.route(
        "/iap/1/authorize",
        web::route()
            .to(|state, req, payload| serve_batched(state, req, payload, iap::authorize_batched)),
    );
    cfg.route(
        "/iap/1/capture",
        web::route()
            .to(|state, req, payload| serve_batched(state, req, payload, iap::capture_batched)),
    );
    let calls: [(&str, CallFn); 22] = [
        ("/iap/1/balance", iap::balance),
        ("/iap/1/cancel", iap::cancel),
        (
            "/iap/1/get-accounts-information",
            accounts::get_accounts_information,
        ),
        ("/iap/services-token", accounts::services_token),
        (
            "/iap/1/update-warning-email-alerts",
            accounts::update_warning_email_alerts,
        ),
        ("/iap/update-warning-odoo", accounts::update_warning_odoo),
        (
            "/iap/1/update-auto-refill-settings",
            auto_refill::update_auto_refill_settings,
        ),
        // Under Odoo's `sms.endpoint` (the same base URL).
        ("/api/sms/3/send", sms::send_v3),
        ("/iap/sms/3/send", sms::send_v3),
        ("/iap/sms/2/send", sms::send_v2),
        // Under `iap.partner_autocomplete.endpoint`: Odoo 18's own module.
        (
            "/iap/partner_autocomplete/search",
            partner_autocomplete::search_companies,
        ),
        (
            "/iap/partner_autocomplete/search_vat",
            partner_autocomplete::search_vat,
        ),
        (
            "/iap/partner_autocomplete/enrich",
            partner_autocomplete::enrich,
        ),
        (
            "/iap/partner_autocomplete/update",
            partner_autocomplete::update,
        ),
        // Newer Odoo versions, and `reveal.endpoint` (the same base URL).
        ("/api/dnb/1/search_by_name", directory::search_by_name),
        ("/api/dnb/1/search_by_vat", directory::search_by_vat),
        ("/api/dnb/1/enrich_by_domain", directory::enrich_by_domain),
        ("/api/dnb/1/enrich_by_duns", directory::enrich_by_duns),
        // Under `reveal.endpoint` and `enrich.endpoint`: Odoo's lead modules.
        (
            "/iap/clearbit/2/lead_mining_request",
            clearbit::lead_mining_request,
        ),
        (
            "/iap/clearbit/1/lead_mining_request",
            clearbit::lead_mining_request,
        ),
        (
            "/iap/clearbit/1/lead_enrichment_email",
            clearbit::lead_enrichment_email,
        ),
        ("/iap/clearbit/1/reveal", clearbit::reveal),
    ];
    auto_refill::routes(cfg);
    // Under `snailmail.endpoint`: letters carry their PDFs, read through the reader's gate.
    cfg.route("/iap/snailmail/1/print", web::route().to(snailmail::print));
    for (path, call) in calls
        .into_iter()
        .chain(UNKNOWN_CALLS.map(|p| (p, unknown as CallFn)))
    {
        cfg.route(
            path,
            web::route().to(
                move |state: web::Data<AppState>, req: HttpRequest, payload: web::Payload| {
                    serve(state, req, payload, call)
                },
            ),
        );
    }
}

/// The paths of Odoo's services this server answers, beyond the calls it knows: any other
/// call there (another version's, a typo) gets Odoo's envelope too, never a page or a 404.
/// Registered after the calls, so that these match only what nothing else did.
const UNKNOWN_CALLS: [&str; 6] = [
    "/iap/partner_autocomplete{tail:(/.*)?}",
    "/iap/snailmail{tail:(/.*)?}",
    "/iap/clearbit{tail:(/.*)?}",
    "/iap/sms{tail:(/.*)?}",
    "/api/sms{tail:(/.*)?}",
    "/api/dnb{tail:(/.*)?}",
];

/// A call this server does not know.
fn unknown(_: &mut PgConnection, _: &Context, _: &Map<String, Value>) -> Result<Value, RpcError> {
    Err(RpcError::User(
        "this server does not answer this call: see \"Use it from Odoo\" for the calls it serves"
            .into(),
    ))
}

/// The call's id and params, or the answer to a call that cannot be read.
async fn read(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(Value, Map<String, Value>), HttpResponse> {
    if req.method() != Method::POST {
        return Err(answer(
            Value::Null,
            Err(RpcError::User("JSON-RPC calls are POSTed".into())),
        ));
    }
    match read_call(payload).await {
        Ok(request) => Ok((request.id, request.params)),
        Err((id, error)) => Err(answer(id, Err(error))),
    }
}

/// Reads the envelope, runs a batched call (`iap::authorize_batched`, `iap::capture_batched`),
/// answers in the envelope.
async fn serve_batched<Call, Answer>(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
    call: Call,
) -> HttpResponse
where
    Call: FnOnce(DbPool, HoldBatcher, Context, Map<String, Value>) -> Answer,
    Answer: std::future::Future<Output = Result<Value, RpcError>>,
{
    match read(&req, payload).await {
        Ok((id, params)) => {
            let context = Context::of(&state, &req);
            let outcome = call(state.pool.clone(), state.holds.clone(), context, params).await;
            answer(id, outcome)
        }
        Err(response) => response,
    }
}

/// Reads the envelope, runs the call on the blocking pool, answers in the envelope.
async fn serve(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
    call: CallFn,
) -> HttpResponse {
    let (id, params) = match read(&req, payload).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let pool = state.pool.clone();
    let context = Context::of(&state, &req);
    let outcome = web::block(move || {
        let mut conn = pool.get()?;
        call(&mut conn, &context, &params)
    })
    .await
    .unwrap_or(Err(RpcError::Internal));
    answer(id, outcome)
}

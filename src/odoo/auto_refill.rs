//! Odoo 19's auto-refill: `/iap/1/update-auto-refill-settings` sets an account's automatic
//! top-up (a threshold and a pack; 0 switches it off), answering `{"status": "success"}` or
//! `{"status": "error", "error": …}` as Odoo reads it. The card and the monthly limit are this
//! side's (`topup::set_from_odoo`); `/iap/1/update-auto-refill-payment-methods` (the form's
//! "manage payment methods" link) leads to Payment methods.
//!
//! The account token alone may only switch it off or lower it: the token is handed to services
//! and providers, and must not be enough to charge the database's card. Turning it on or
//! raising it answers with a link where an administrator sees the change and confirms it.

use actix_web::{HttpResponse, web};
use diesel::PgConnection;
use serde_json::{Map, Value, json};

use super::Context;
use super::iap::account_for;
use super::params::Params;
use super::rpc::RpcError;
use crate::domain::catalog;
use crate::domain::topup;
use crate::kernel::ids::PackId;

pub fn update_auto_refill_settings(
    conn: &mut PgConnection,
    ctx: &Context,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let params = Params(params);
    let token = params.token("account_token")?;
    let account = account_for(conn, "", None, token, None)?
        .ok_or_else(|| RpcError::Access("unknown account token".into()))?;
    let threshold = params.credits("auto_refill_threshold")?;
    let pack_id = params
        .whole("auto_refill_pack_id", 0, i64::MAX)?
        .filter(|id| *id > 0)
        .map(PackId);
    if let Some(pack_id) = pack_id
        && catalog::pack_on_sale(conn, account.service_id, pack_id)?.is_none()
    {
        return Ok(json!({
            "status": "error",
            "error": "This pack is not on sale for this service.",
        }));
    }
    if !topup::odoo_change_only_lowers(conn, &account, threshold, pack_id)? {
        let link = format!(
            "{}/iap/accounts/{}?propose=topup&below={}&pack={}#topup",
            ctx.base_url,
            account.id,
            // Odoo's threshold is "this many or less".
            crate::kernel::credits::Credits::from_units(threshold.units().saturating_add(1)),
            pack_id.map_or(0, |p| p.0)
        );
        return Ok(json!({
            "status": "error",
            "error": format!(
                "To turn automatic top-up on or raise it, an administrator of this database confirms it on the IAP server: {link}"
            ),
        }));
    }
    Ok(
        match topup::set_from_odoo(conn, &account, threshold, pack_id)? {
            Ok(()) => json!({"status": "success"}),
            Err(error) => json!({"status": "error", "error": error}),
        },
    )
}

/// `GET /iap/1/update-auto-refill-payment-methods`: Odoo's link to manage the cards; they are
/// managed signed in, as an administrator of the database (signing in first if need be).
pub async fn payment_methods_link() -> HttpResponse {
    crate::http::page::see_other("/settings/payment-methods")
}

/// The account's auto-refill and its service's packs, as Odoo 19's account form reads them
/// from `/iap/1/get-accounts-information`.
pub fn information(
    conn: &mut PgConnection,
    account: &crate::domain::ledger::IapAccount,
) -> Result<Map<String, Value>, RpcError> {
    let (threshold, pack) = topup::odoo_view(topup::find(conn, account.id)?.as_ref());
    let service = catalog::service_by_id(conn, account.service_id)?;
    let packs: Vec<Value> = catalog::active_packs(conn, service.id)?
        .iter()
        .map(|p| {
            json!({
                "id": p.id.0,
                "name": p.name,
                "credit": super::rpc::credits_number(p.credits),
                "price": p.price_minor as f64 / 100.0,
            })
        })
        .collect();
    let mut information = Map::new();
    information.insert(
        "auto_refill_threshold".into(),
        super::rpc::credits_number(threshold),
    );
    information.insert(
        "auto_refill_pack_id".into(),
        pack.map_or(json!(false), |p| json!(p.0)),
    );
    information.insert(
        "service".into(),
        json!({
            "description": service.description,
            "price_description": "",
            "packs": packs,
        }),
    );
    Ok(information)
}

/// Registers the GET link (the JSON-RPC call is in `odoo::routes`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/iap/1/update-auto-refill-payment-methods",
        web::get().to(payment_methods_link),
    );
}

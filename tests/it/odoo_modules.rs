//! Odoo 18's own IAP modules, each spoken to as its code speaks (requests built from Odoo's
//! `partner_autocomplete`, `snailmail`, `crm_iap_mine`, `crm_iap_enrich` and
//! `website_crm_iap_reveal` sources): every key Odoo reads in an answer is checked, and the
//! credits that moved here.

use std::collections::HashSet;

use iap_credits::catalog::usage_prices;
use serde_json::{Value, json};

use crate::fixtures::{assert_consistent, c};
use crate::harness::TestApp;
use crate::odoo::{DBUUID, available, call, fund, odoo_token};

/// What `iap_autocomplete_api._contact_iap` adds to every call, around the action's params.
fn autocomplete(token: &str, action_params: Value) -> Value {
    let mut params = action_params.as_object().unwrap().clone();
    params.extend(
        json!({
            "db_uuid": DBUUID,
            "account_token": token,
            "country_code": "BE",
            "zip": "1000",
        })
        .as_object()
        .unwrap()
        .clone(),
    );
    Value::Object(params)
}

/// The keys the partner form takes (its fields, as Odoo 18's form view has them), the ones
/// the widget or `_format_data_company` removes first, and nothing else: the form refuses a
/// key that is not one of its fields.
fn partner_form_keys() -> HashSet<&'static str> {
    [
        // fields of the partner form
        "name",
        "street",
        "street2",
        "city",
        "zip",
        "phone",
        "website",
        "vat",
        "partner_gid",
        "additional_info",
        "child_ids",
        // removed by partner_autocomplete_core.js or popped by _format_data_company
        "email",
        "bank_ids",
        "logo",
        "legal_name",
        "domain",
        "country_code",
        "country_name",
        "state_code",
        "state_name",
    ]
    .into_iter()
    .collect()
}

fn assert_partner_form_keys(company: &Value) {
    let allowed = partner_form_keys();
    for key in company.as_object().unwrap().keys() {
        assert!(allowed.contains(key.as_str()), "unexpected key {key}");
    }
}

#[actix_web::test]
async fn partner_autocomplete_as_odoo_18_calls_it() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let price =
        usage_prices::price(&mut conn, "partner-autocomplete", usage_prices::ENRICHMENT).unwrap();
    let target = iap_credits::directory::company(&mut conn, 1312)
        .unwrap()
        .unwrap();
    let other = iap_credits::directory::company(&mut conn, 1313)
        .unwrap()
        .unwrap();
    let token = odoo_token();
    let path = |action: &str| format!("/iap/partner_autocomplete/{action}");

    // `autocomplete(query)`: a list of suggestions, each with a stable integer partner_gid.
    let found = call(
        &app,
        &path("search"),
        autocomplete(&token, json!({"query": target.name})),
    )
    .await
    .unwrap();
    let suggestions = found.as_array().expect("a list of suggestions");
    let suggestion = suggestions
        .iter()
        .find(|s| s["partner_gid"] == json!(target.id))
        .unwrap_or_else(|| panic!("{found}"));
    for key in [
        "name",
        "website",
        "vat",
        "partner_gid",
        "country_code",
        "country_name",
        "city",
        "logo",
        "legal_name",
    ] {
        assert!(suggestion.get(key).is_some(), "{key} missing: {suggestion}");
    }
    assert_eq!(suggestion["website"], target.domain.as_str());
    assert!(suggestion.get("street").is_none(), "the address is bought");
    for s in suggestions {
        assert_partner_form_keys(s);
    }
    let start = available(&mut conn, &token);

    // `read_by_vat(vat)`: one company, or false (Odoo then asks VIES itself).
    let vat = target.vat.clone().expect("the company has a VAT number");
    let by_vat = call(
        &app,
        &path("search_vat"),
        autocomplete(&token, json!({"vat": vat})),
    )
    .await
    .unwrap();
    assert_eq!(by_vat["partner_gid"], json!(target.id), "{by_vat}");
    let unknown = call(
        &app,
        &path("search_vat"),
        autocomplete(&token, json!({"vat": "BE0000000097"})),
    )
    .await
    .unwrap();
    assert_eq!(unknown, json!(false));
    assert_eq!(available(&mut conn, &token), start, "searches are free");

    // Short of credit: `credit_error`, which Odoo shows as "Insufficient Credit"; nothing spent.
    if start > c("0") {
        let account = iap_credits::ledger::accounts::by_token(&mut conn, &token)
            .unwrap()
            .unwrap();
        iap_credits::ledger::charge(
            &mut conn,
            account.id,
            start,
            "trial used up",
            &iap_credits::ledger::Actor::cli(),
        )
        .unwrap();
    }
    // `enrich_company(website, partner_gid, vat)` as the widget calls it after a pick.
    let enrich = json!({"domain": target.domain, "partner_gid": target.id, "vat": vat});
    let short = call(&app, &path("enrich"), autocomplete(&token, enrich.clone()))
        .await
        .unwrap();
    assert_eq!(short, json!({"credit_error": true}));
    assert_eq!(available(&mut conn, &token), c("0"));

    // With credits: the whole company for the catalog's price, once.
    fund(&mut conn, &token, "5");
    let enriched = call(&app, &path("enrich"), autocomplete(&token, enrich.clone()))
        .await
        .unwrap();
    let company = &enriched["company_data"];
    assert_partner_form_keys(company);
    assert_eq!(company["partner_gid"], json!(target.id));
    assert_eq!(company["name"], target.full_name().as_str());
    assert_eq!(company["street"], target.street.as_str());
    assert_eq!(company["zip"], target.postal_code.as_str());
    assert_eq!(company["city"], target.city.as_str());
    assert_eq!(company["country_code"], target.country_code.as_str());
    assert_eq!(company["vat"], vat.as_str());
    assert_eq!(company["child_ids"], json!([]));
    let info = &company["additional_info"];
    assert_eq!(info["employees"], json!(target.employees));
    assert_eq!(info["founded_year"], json!(target.founded));
    let after_one = c("5").units() - price.units();
    assert_eq!(available(&mut conn, &token).units(), after_one);
    // The same company again, by its website this time (res.company's automatic enrich):
    // handed over for nothing.
    let again = call(
        &app,
        &path("enrich"),
        autocomplete(
            &token,
            json!({"domain": format!("https://www.{}/contact", target.domain), "partner_gid": false, "vat": false}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(again["company_data"]["partner_gid"], json!(target.id));
    assert_eq!(available(&mut conn, &token).units(), after_one);
    // Another company by its domain alone: charged.
    let by_domain = call(
        &app,
        &path("enrich"),
        autocomplete(
            &token,
            json!({"domain": other.domain, "partner_gid": false, "vat": false}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(by_domain["company_data"]["partner_gid"], json!(other.id));
    assert_eq!(
        available(&mut conn, &token).units(),
        after_one - price.units()
    );
    // A company the directory does not have: no data, nothing charged.
    let before = available(&mut conn, &token);
    let nobody = call(
        &app,
        &path("enrich"),
        autocomplete(
            &token,
            json!({"domain": "no-such-company.example", "partner_gid": false, "vat": false}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(nobody, json!({"company_data": false}));

    // The nightly `update` sync of a partner with a partner_gid: any truthy answer, free.
    let synced = call(
        &app,
        &path("update"),
        autocomplete(&token, json!({"partner_gid": target.id, "vat": vat})),
    )
    .await
    .unwrap();
    assert_eq!(synced["known"], json!(true));
    assert_eq!(available(&mut conn, &token), before);
    assert_consistent(&mut conn);
}

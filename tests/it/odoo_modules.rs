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

/// A letter as `snailmail_letter._snailmail_create('print')` makes it.
fn letter(letter_id: i64, pdf: &[u8], address: Value) -> Value {
    use base64::Engine;
    json!({
        "letter_id": letter_id,
        "res_model": "account.move",
        "res_id": letter_id * 10,
        "contact_address": "Deco Addict\n77 Santa Barbara Rd\nPleasant Hill CA 94523",
        "address": address,
        "return_address": {
            "name": "My Company", "street": "Rue de la Loi 16", "street2": false,
            "zip": "1000", "state": false, "city": "Brussels", "country_code": "BE",
        },
        "company_logo": false,
        "pdf_bin": base64::engine::general_purpose::STANDARD.encode(pdf),
        "pages": false,
    })
}

fn brussels() -> Value {
    json!({
        "name": "Deco Addict", "street": "Rue Royale 1", "street2": false,
        "zip": "1000", "state": false, "city": "Brussels", "country_code": "BE",
    })
}

fn print_params(token: &str, documents: Vec<Value>) -> Value {
    json!({
        "account_token": token,
        "dbuuid": DBUUID,
        "documents": documents,
        "options": {"color": false, "cover": false, "duplex": false, "currency_name": "EUR"},
        "batch": true,
    })
}

/// Each letter's `(sent, send_id or error)`, checking the keys Odoo reads.
fn letter_fates(result: &Value) -> Vec<(i64, bool, Value)> {
    assert_eq!(result["request_code"], 200, "{result}");
    assert!(result["total_cost"].is_number());
    assert!(result["credit_error"].is_boolean());
    result["request"]["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let sent = d["sent"].as_bool().unwrap();
            let detail = if sent {
                d["send_id"].clone()
            } else {
                d["error"].clone()
            };
            assert!(!detail.is_null(), "{d}");
            (d["letter_id"].as_i64().unwrap(), sent, detail)
        })
        .collect()
}

fn letters_charged(conn: &mut diesel::PgConnection) -> i64 {
    use diesel::prelude::*;
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM letters WHERE source = 'odoo' AND status IN ('sent', 'delivered'))",
    ))
    .get_result(conn)
    .unwrap()
}

#[actix_web::test]
async fn snailmail_letters_as_odoo_prints_them_are_answered_one_by_one() {
    use crate::sample_bills::letter_pdf;
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let token = odoo_token();
    let one_page = letter_pdf(1, 595, 842);
    let zone = iap_credits::snailmail::postage::zone_of(&mut conn, "BE")
        .unwrap()
        .unwrap();
    let price = zone.price(1, Default::default());
    let path = "/iap/snailmail/1/print";

    // The account pays for two letters of three: 2 sent, 1 CREDIT_ERROR, exactly 2 charged.
    call(
        &app,
        "/iap/1/balance",
        json!({"dbuuid": DBUUID, "account_token": token, "service_name": "snailmail"}),
    )
    .await
    .unwrap();
    let trial = available(&mut conn, &token);
    let account = iap_credits::ledger::accounts::by_token(&mut conn, &token)
        .unwrap()
        .unwrap();
    if trial > c("0") {
        iap_credits::ledger::charge(
            &mut conn,
            account.id,
            trial,
            "trial used up",
            &iap_credits::ledger::Actor::cli(),
        )
        .unwrap();
    }
    let two = iap_credits::credits::Credits::from_units(price.units() * 2);
    fund(&mut conn, &token, &two.to_string());
    let batch: Vec<Value> = (1..=3)
        .map(|id| letter(id, &one_page, brussels()))
        .collect();
    let result = call(&app, path, print_params(&token, batch.clone()))
        .await
        .unwrap();
    let fates = letter_fates(&result);
    assert_eq!(fates.len(), 3);
    assert!(fates[0].1 && fates[1].1, "{result}");
    assert_eq!(fates[2], (3, false, json!("CREDIT_ERROR")));
    assert_eq!(result["credit_error"], true);
    assert_eq!(
        iap_credits::credits::Credits::parse(&result["total_cost"].to_string()).unwrap(),
        two
    );
    assert_eq!(available(&mut conn, &token), c("0"));
    assert_eq!(letters_charged(&mut conn), 2);

    // Odoo's cron sends letter 3 again once there are credits; letter 1 sent again (its answer
    // lost) is the same letter, not charged twice.
    fund(&mut conn, &token, &price.to_string());
    let again = call(
        &app,
        path,
        print_params(&token, vec![batch[2].clone(), batch[0].clone()]),
    )
    .await
    .unwrap();
    let fates_again = letter_fates(&again);
    assert!(fates_again[0].1, "{again}");
    assert_eq!(fates_again[1], (1, true, fates[0].2.clone()));
    assert_eq!(available(&mut conn, &token), c("0"));
    assert_eq!(letters_charged(&mut conn), 3);

    // Letters that cannot go: each with Odoo's code, nothing held or charged.
    fund(&mut conn, &token, "50");
    let before = available(&mut conn, &token);
    let mut no_zip = brussels();
    no_zip["zip"] = json!(false);
    let mut far = brussels();
    far["country_code"] = json!("AQ");
    let bad = vec![
        letter(10, &letter_pdf(1, 612, 792), brussels()),
        letter(11, b"%PDF-1.4 not really a PDF", brussels()),
        letter(12, &letter_pdf(21, 595, 842), brussels()),
        json!({"letter_id": 13, "address": brussels(), "pdf_bin": "@@not base64@@"}),
        letter(14, &one_page, no_zip),
        letter(15, &one_page, far),
    ];
    let refused = call(&app, path, print_params(&token, bad)).await.unwrap();
    assert_eq!(
        letter_fates(&refused),
        vec![
            (10, false, json!("FORMAT_ERROR")),
            (11, false, json!("FORMAT_ERROR")),
            (12, false, json!("FORMAT_ERROR")),
            (13, false, json!("FORMAT_ERROR")),
            (14, false, json!("MISSING_REQUIRED_FIELDS")),
            (15, false, json!("NO_PRICE_AVAILABLE")),
        ]
    );
    assert_eq!(refused["credit_error"], false);
    assert_eq!(refused["total_cost"], json!(0.0));
    assert_eq!(available(&mut conn, &token), before);
    assert_eq!(letters_charged(&mut conn), 3);

    // Colour costs more, as on the Letters page.
    let mut colour = print_params(&token, vec![letter(20, &one_page, brussels())]);
    colour["options"]["color"] = json!(true);
    let result = call(&app, path, colour).await.unwrap();
    let colour_price = zone.price(
        1,
        iap_credits::snailmail::postage::LetterOptions {
            colour: true,
            ..Default::default()
        },
    );
    assert_eq!(
        iap_credits::credits::Credits::parse(&result["total_cost"].to_string()).unwrap(),
        colour_price
    );
    assert_eq!(
        available(&mut conn, &token).units(),
        before.units() - colour_price.units()
    );

    // The operator sees them on the database's page beside the in-app ones, from Odoo.
    let ops = crate::fixtures::operator(&mut conn);
    let browser = app.browser();
    browser.sign_in(&ops.email, crate::fixtures::PASSWORD).await;
    let page = browser
        .get(&format!("/admin/databases/{}", account.database_id))
        .await;
    assert_eq!(page.status, actix_web::http::StatusCode::OK);
    let letters = &page.body[page.body.find("id=\"letters\"").unwrap()..];
    assert_eq!(letters.matches("<td>Odoo</td>").count(), 4, "{letters}");
    assert_consistent(&mut conn);
}

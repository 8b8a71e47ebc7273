//! Odoo 18's own IAP modules, each spoken to as its code speaks (requests built from Odoo's
//! `partner_autocomplete`, `snailmail`, `crm_iap_mine`, `crm_iap_enrich` and
//! `website_crm_iap_reveal` sources): every key Odoo reads in an answer is checked, and the
//! credits that moved here.

use std::collections::HashSet;
use std::sync::Arc;

use iap_credits::domain::catalog::usage_prices;
use serde_json::{Value, json};

use crate::fixtures::{assert_consistent, c};
use crate::harness::TestApp;
use crate::odoo::{DBUUID, available, call, fund, odoo_token};

/// What `iap_autocomplete_api._contact_iap` adds to every call, around the action's params.
pub(crate) fn autocomplete(token: &str, action_params: Value) -> Value {
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

/// Spends all the account's credits (its trial, say), as if used up before the test.
fn drain(conn: &mut diesel::PgConnection, token: &str) {
    let left = available(conn, token);
    if left > c("0") {
        let account = iap_credits::domain::ledger::accounts::by_token(conn, token)
            .unwrap()
            .unwrap();
        iap_credits::domain::ledger::charge(
            conn,
            account.id,
            left,
            "trial used up",
            &iap_credits::domain::ledger::Actor::cli(),
        )
        .unwrap();
    }
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
    let target = iap_credits::services::directory::company(
        &mut conn,
        iap_credits::kernel::ids::CompanyId(1312),
    )
    .unwrap()
    .unwrap();
    let other = iap_credits::services::directory::company(
        &mut conn,
        iap_credits::kernel::ids::CompanyId(1313),
    )
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
    drain(&mut conn, &token);
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
    let zone = iap_credits::services::snailmail::postage::zone_of(&mut conn, "BE")
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
    drain(&mut conn, &token);
    let account = iap_credits::domain::ledger::accounts::by_token(&mut conn, &token)
        .unwrap()
        .unwrap();
    let two = iap_credits::kernel::credits::Credits::from_units(price.units() * 2);
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
        iap_credits::kernel::credits::Credits::parse(&result["total_cost"].to_string()).unwrap(),
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
        iap_credits::services::snailmail::postage::LetterOptions {
            colour: true,
            ..Default::default()
        },
    );
    assert_eq!(
        iap_credits::kernel::credits::Credits::parse(&result["total_cost"].to_string()).unwrap(),
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

/// The price of a company and of a contact for Odoo's lead modules (Lead Generation's).
fn lead_prices(conn: &mut diesel::PgConnection) -> (i64, i64) {
    let p = iap_credits::services::leads::generation::LeadPrices::current(conn).unwrap();
    (p.per_company.units(), p.per_contact.units())
}

/// A fresh `reveal` account of the database with exactly `credits`.
async fn reveal_account(app: &TestApp, conn: &mut diesel::PgConnection, credits: &str) -> String {
    let token = odoo_token();
    call(
        app,
        "/iap/1/balance",
        json!({"dbuuid": DBUUID, "account_token": token, "service_name": "reveal"}),
    )
    .await
    .unwrap();
    drain(conn, &token);
    if c(credits) > c("0") {
        fund(conn, &token, credits);
    }
    token
}

/// A country and one of Odoo's industry ids whose first three companies (by id) each have at
/// least two people: mining them for two contacts each costs exactly 3 × (1 + 2).
fn three_companies_with_two_people(conn: &mut diesel::PgConnection) -> (String, &'static str) {
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        people: i64,
    }
    for (odoo_id, section) in [("165", "J"), ("114", "L"), ("136", "H"), ("160", "Q")] {
        for country in ["BE", "FR", "DE", "NL", "IT", "ES"] {
            let rows: Vec<Row> = diesel::sql_query(
                "SELECT (SELECT count(*) FROM directory_people p WHERE p.company_id = c.id) AS people
                 FROM directory_companies c WHERE country_code = $1 AND industry = $2
                 ORDER BY id LIMIT 3",
            )
            .bind::<Text, _>(country)
            .bind::<Text, _>(section)
            .load(conn)
            .unwrap();
            if rows.len() == 3 && rows.iter().all(|r| r.people >= 2) {
                return (country.to_string(), odoo_id);
            }
        }
    }
    panic!("no country and industry with three companies of two people");
}

#[actix_web::test]
async fn lead_mining_as_odoo_18_sends_it() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let (per_company, per_contact) = lead_prices(&mut conn);
    let (country, industry) = three_companies_with_two_people(&mut conn);
    // `crm.iap.lead.mining.request._prepare_iap_payload`, search type "people", by role.
    let data = json!({
        "lead_number": 3,
        "search_type": "people",
        "countries": [{"code": country, "states": []}],
        "industry_ids": [industry],
        "contact_number": 2,
        "contact_filter_type": "role",
        "preferred_role": "CEO",
        "other_roles": ["sale", "marketing", "finance", "operations", "engineering", "human_resources"],
    });
    let path = "/iap/clearbit/2/lead_mining_request";
    // Too few credits for the most it can cost: InsufficientCreditError, nothing mined.
    let token = reveal_account(&app, &mut conn, "8").await;
    let params = json!({"account_token": token, "dbuuid": DBUUID, "data": data});
    let short = call(&app, path, params.clone()).await;
    let (name, message) = short.unwrap_err();
    assert_eq!(name, crate::odoo::INSUFFICIENT);
    let message: Value = serde_json::from_str(&message).unwrap();
    assert_eq!(message["service_name"], "reveal");
    assert_eq!(available(&mut conn, &token), c("8"));

    fund(&mut conn, &token, "12");
    let mined = call(&app, path, params).await.unwrap();
    let leads = mined["data"].as_array().unwrap();
    assert_eq!(leads.len(), 3, "{mined}");
    for lead in leads {
        let company = &lead["company_data"];
        // Every key crm_iap_lead_helpers reads with [].
        for key in [
            "clearbit_id",
            "name",
            "legal_name",
            "domain",
            "phone",
            "phone_numbers",
            "location",
            "city",
            "postal_code",
            "country_code",
            "state_code",
        ] {
            assert!(company.get(key).is_some(), "{key} missing: {company}");
        }
        assert!(company["email"].is_array());
        assert_eq!(company["country_code"], country.as_str());
        assert!(!company["domain"].as_str().unwrap().starts_with("http"));
        let people = lead["people_data"].as_array().unwrap();
        assert_eq!(people.len(), 2, "{lead}");
        for person in people {
            for key in ["full_name", "email", "title"] {
                assert!(person[key].is_string(), "{key}: {person}");
            }
            // crm_iap_mine's chatter template reads `phone` with [] too.
            assert!(person.get("phone").is_some(), "{person}");
        }
    }
    let nine = 3 * per_company + 6 * per_contact;
    assert_eq!(available(&mut conn, &token).units(), c("20").units() - nine);

    // Odoo's industry id that is not one of its own: refused with a message, nothing mined.
    let before = available(&mut conn, &token);
    let mut unknown = data.clone();
    unknown["industry_ids"] = json!(["99999"]);
    let refused = call(
        &app,
        path,
        json!({"account_token": token, "dbuuid": DBUUID, "data": unknown}),
    )
    .await;
    assert_eq!(crate::odoo::error_name(refused), crate::odoo::USER);
    assert_eq!(available(&mut conn, &token), before);
    assert_consistent(&mut conn);
}

#[actix_web::test]
async fn lead_enrichment_charges_per_company_found() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let (per_company, _) = lead_prices(&mut conn);
    let a = iap_credits::services::directory::company(
        &mut conn,
        iap_credits::kernel::ids::CompanyId(501),
    )
    .unwrap()
    .unwrap();
    let b = iap_credits::services::directory::company(
        &mut conn,
        iap_credits::kernel::ids::CompanyId(502),
    )
    .unwrap()
    .unwrap();
    let path = "/iap/clearbit/1/lead_enrichment_email";
    // `iap.enrich.api._request_enrich`: {lead id: e-mail domain}.
    let domains = json!({"11": a.domain, "12": b.domain, "13": "no-company-here.example"});

    let token = reveal_account(&app, &mut conn, "1").await;
    let params = json!({"account_token": token, "dbuuid": DBUUID, "domains": domains});
    let short = call(&app, path, params.clone()).await;
    assert_eq!(crate::odoo::error_name(short), crate::odoo::INSUFFICIENT);
    assert_eq!(available(&mut conn, &token), c("1"));

    fund(&mut conn, &token, "4");
    let enriched = call(&app, path, params.clone()).await.unwrap();
    assert_eq!(enriched["13"], json!(false));
    for (lead, company) in [("11", &a), ("12", &b)] {
        let data = &enriched[lead];
        assert_eq!(data["clearbit_id"], format!("{:09}", company.id));
        assert_eq!(data["name"], company.full_name().as_str());
        assert_eq!(data["location"], company.street.as_str());
        assert_eq!(data["postal_code"], company.postal_code.as_str());
        assert_eq!(data["country_code"], company.country_code.as_str());
        assert!(data["phone_numbers"].is_array());
    }
    let after = c("5").units() - 2 * per_company;
    assert_eq!(available(&mut conn, &token).units(), after);
    // The same leads again (Odoo lost the answer): the same companies for nothing.
    call(&app, path, params).await.unwrap();
    assert_eq!(available(&mut conn, &token).units(), after);
    assert_consistent(&mut conn);
}

/// An address of the company's first range.
fn address_of(company_id: i64, n: u32) -> String {
    let (first, _) = iap_credits::services::directory::ip_ranges::ranges_of(
        iap_credits::kernel::ids::CompanyId(company_id),
    )[0];
    std::net::Ipv4Addr::from(u32::from(first) + n).to_string()
}

#[actix_web::test]
async fn visitor_reveal_stops_when_the_credits_run_dry() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let (per_company, per_contact) = lead_prices(&mut conn);
    let path = "/iap/clearbit/1/reveal";
    // `crm.reveal.rule._get_rules_payload`: a companies rule with no filter.
    let rules = json!({
        "7": {
            "rule_id": 7, "lead_for": "companies", "countries": [], "filter_on_size": false,
            "company_size_min": 0, "company_size_max": 0, "industry_tags": [], "user_country": "BE",
        },
    });
    let mut ips = serde_json::Map::new();
    for company_id in 3001..3021 {
        ips.insert(address_of(company_id, 3), json!([7]));
    }
    let nobody = (1..u32::MAX)
        .map(|n| std::net::Ipv4Addr::from(n.wrapping_mul(2_654_435_761)))
        .find(|ip| iap_credits::services::directory::ip_ranges::company_at(*ip).is_none())
        .unwrap()
        .to_string();
    ips.insert(nobody.clone(), json!([7]));
    let five = iap_credits::kernel::credits::Credits::from_units(5 * per_company);
    let token = reveal_account(&app, &mut conn, &five.to_string()).await;
    let params = json!({"account_token": token, "data": {"ips": ips, "rules": rules}});

    let revealed = call(&app, path, params.clone()).await.unwrap();
    assert_eq!(revealed["credit_error"], true, "{revealed}");
    let results = revealed["reveal_data"].as_array().unwrap();
    let found: Vec<&Value> = results
        .iter()
        .filter(|r| r.get("not_found").is_none())
        .collect();
    assert_eq!(found.len(), 5, "{revealed}");
    for r in &found {
        // Every key `_create_lead_from_response` and `_lead_vals_from_response` read.
        assert_eq!(r["rule_id"], 7);
        assert!(r["clearbit_id"].is_string());
        assert!(r["reveal_data"]["name"].is_string());
        assert!(r["people_data"].as_array().unwrap().is_empty());
        assert_eq!(
            iap_credits::kernel::credits::Credits::parse(&r["credit"].to_string()).unwrap(),
            iap_credits::kernel::credits::Credits::from_units(per_company)
        );
    }
    assert!(
        results
            .iter()
            .any(|r| r["ip"] == nobody.as_str() && r["not_found"] == true)
    );
    // 20 companies, 5 paid for: the other 15 are left out for Odoo to send again.
    assert_eq!(results.len(), 6);
    assert_eq!(available(&mut conn, &token), c("0"));

    // Credits again: the rest come; the five already revealed are not charged twice.
    fund(&mut conn, &token, "100");
    let rest = call(&app, path, params).await.unwrap();
    assert_eq!(rest["credit_error"], false);
    let again: Vec<&Value> = rest["reveal_data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("not_found").is_none())
        .collect();
    assert_eq!(again.len(), 20);
    let charged: i64 = again
        .iter()
        .map(|r| {
            iap_credits::kernel::credits::Credits::parse(&r["credit"].to_string())
                .unwrap()
                .units()
        })
        .sum();
    assert_eq!(charged, 15 * per_company);
    assert_eq!(
        available(&mut conn, &token).units(),
        c("100").units() - 15 * per_company
    );

    // A people rule: the company and its contacts by role, 1 credit each.
    let company = (3100..3200)
        .find(|id| {
            iap_credits::services::directory::people_of(
                &mut conn,
                &[iap_credits::kernel::ids::CompanyId(*id)],
            )
            .unwrap()
            .len()
                >= 2
        })
        .unwrap();
    let people_rule = json!({
        "9": {
            "rule_id": 9, "lead_for": "people", "countries": [], "filter_on_size": false,
            "industry_tags": [], "user_country": "BE", "contact_filter_type": "role",
            "preferred_role": "CEO",
            "other_roles": ["sale", "marketing", "finance", "operations", "engineering", "human_resources"],
            "seniority": "", "extra_contacts": 1,
        },
    });
    let before = available(&mut conn, &token);
    let ip = address_of(company, 0);
    let with_people = call(
        &app,
        path,
        json!({"account_token": token, "data": {"ips": {ip.clone(): [9]}, "rules": people_rule}}),
    )
    .await
    .unwrap();
    let result = &with_people["reveal_data"][0];
    assert_eq!(result["ip"], ip.as_str());
    for person in result["people_data"].as_array().unwrap() {
        for key in ["full_name", "email", "title", "phone"] {
            assert!(person.get(key).is_some(), "{key}: {person}");
        }
    }
    assert_eq!(
        result["people_data"].as_array().unwrap().len(),
        2,
        "{result}"
    );
    assert_eq!(
        available(&mut conn, &token).units(),
        before.units() - per_company - 2 * per_contact
    );
    assert_consistent(&mut conn);
}

/// Rows any of these calls could write: a refused call must leave them all as they were.
fn written_rows(conn: &mut diesel::PgConnection) -> Vec<i64> {
    use diesel::prelude::*;
    [
        "databases",
        "iap_accounts",
        "holds",
        "ledger_entries",
        "service_jobs",
        "letters",
        "documents",
        "enrichments",
        "lead_requests",
        "leads",
        "company_lookups",
    ]
    .iter()
    .map(|table| {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "(SELECT count(*) FROM {table})"
        )))
        .get_result(conn)
        .unwrap()
    })
    .collect()
}

/// The error's `data.name` of an answer that must be Odoo's envelope: HTTP 200, JSON-RPC 2.0,
/// an `error` with a dotted name (what Odoo's client raises by).
fn envelope_error(status: actix_web::http::StatusCode, body: &Value) -> String {
    assert_eq!(status, actix_web::http::StatusCode::OK, "{body}");
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert!(body.get("result").is_none(), "succeeded: {body}");
    assert_eq!(body["error"]["code"], 200, "{body}");
    let name = body["error"]["data"]["name"].as_str().unwrap_or_default();
    assert!(name.starts_with("odoo."), "{body}");
    assert!(body["error"]["data"]["message"].is_string(), "{body}");
    name.to_string()
}

#[actix_web::test]
async fn malformed_calls_to_odoos_modules_get_the_envelope_and_change_nothing() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    // A registered, funded account of each service: a refusal is the call's own fault.
    let mut tokens = std::collections::HashMap::new();
    for service in ["partner_autocomplete", "snailmail", "reveal"] {
        let token = odoo_token();
        call(
            &app,
            "/iap/1/balance",
            json!({"dbuuid": DBUUID, "account_token": token, "service_name": service}),
        )
        .await
        .unwrap();
        fund(&mut conn, &token, "50");
        tokens.insert(service, token);
    }
    let (pa, sm, rv) = (
        tokens["partner_autocomplete"].clone(),
        tokens["snailmail"].clone(),
        tokens["reveal"].clone(),
    );
    let before = written_rows(&mut conn);
    let funds: std::collections::HashMap<&String, iap_credits::kernel::credits::Credits> =
        [&pa, &sm, &rv]
            .into_iter()
            .map(|t| (t, available(&mut conn, t)))
            .collect();
    let unknown_token = odoo_token();
    let disabled = format!("{pa}+disabled");
    let pa_call = |extra: Value| autocomplete(&pa, extra);
    let letter_ok = letter(1, &crate::sample_bills::letter_pdf(1, 595, 842), brussels());
    let mining = |data: Value| json!({"account_token": rv, "dbuuid": DBUUID, "data": data});
    let enrich =
        |domains: Value| json!({"account_token": rv, "dbuuid": DBUUID, "domains": domains});
    let reveal = |data: Value| json!({"account_token": rv, "data": data});
    let rule = |extra: Value| {
        let mut rule = json!({"rule_id": 1, "lead_for": "companies", "countries": [],
                              "filter_on_size": false, "industry_tags": []});
        rule.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"ips": {"203.0.113.9": [1]}, "rules": {"1": rule}})
    };
    let many_ips: serde_json::Map<String, Value> = (0..201)
        .map(|i| (format!("10.0.{}.{}", i / 200, i % 200), json!([1])))
        .collect();
    let many_domains: serde_json::Map<String, Value> = (0..201)
        .map(|i| (i.to_string(), json!(format!("d{i}.example"))))
        .collect();

    let ac = "/iap/partner_autocomplete";
    let cases: Vec<(&str, Value)> = vec![
        // Partner Autocomplete
        (ac, json!({})),
        ("/iap/partner_autocomplete/search", json!({})),
        (
            "/iap/partner_autocomplete/search",
            json!({"db_uuid": DBUUID, "query": "acme"}),
        ),
        (
            "/iap/partner_autocomplete/search",
            json!({"db_uuid": DBUUID, "account_token": "short", "query": "acme"}),
        ),
        (
            "/iap/partner_autocomplete/search",
            json!({"db_uuid": DBUUID, "account_token": disabled, "query": "acme"}),
        ),
        (
            "/iap/partner_autocomplete/search",
            json!({"account_token": unknown_token, "query": "acme"}),
        ),
        (
            "/iap/partner_autocomplete/search",
            json!({"db_uuid": "not-a-uuid", "account_token": unknown_token, "query": "acme"}),
        ),
        ("/iap/partner_autocomplete/search", pa_call(json!({}))),
        (
            "/iap/partner_autocomplete/search",
            pa_call(json!({"query": 42})),
        ),
        (
            "/iap/partner_autocomplete/search",
            pa_call(json!({"query": "x".repeat(201)})),
        ),
        (
            "/iap/partner_autocomplete/search",
            pa_call(json!({"query": "nul\u{0}byte"})),
        ),
        ("/iap/partner_autocomplete/search_vat", pa_call(json!({}))),
        (
            "/iap/partner_autocomplete/search_vat",
            pa_call(json!({"vat": ["BE"]})),
        ),
        (
            "/iap/partner_autocomplete/search_vat",
            pa_call(json!({"vat": "B".repeat(65)})),
        ),
        (
            "/iap/partner_autocomplete/enrich",
            pa_call(json!({"partner_gid": "abc"})),
        ),
        (
            "/iap/partner_autocomplete/enrich",
            pa_call(json!({"partner_gid": -1})),
        ),
        (
            "/iap/partner_autocomplete/enrich",
            pa_call(json!({"partner_gid": {"id": 1}})),
        ),
        (
            "/iap/partner_autocomplete/enrich",
            pa_call(json!({"partner_gid": 1.5})),
        ),
        (
            "/iap/partner_autocomplete/enrich",
            pa_call(json!({"domain": {"a": 1}})),
        ),
        (
            "/iap/partner_autocomplete/enrich",
            pa_call(json!({"domain": "x".repeat(3000)})),
        ),
        (
            "/iap/partner_autocomplete/enrich",
            pa_call(json!({"vat": 12})),
        ),
        ("/iap/partner_autocomplete/update", pa_call(json!({}))),
        (
            "/iap/partner_autocomplete/update",
            pa_call(json!({"partner_gid": false})),
        ),
        (
            "/iap/partner_autocomplete/update",
            pa_call(json!({"partner_gid": "x"})),
        ),
        (
            "/iap/partner_autocomplete/no_such_action",
            pa_call(json!({"query": "acme"})),
        ),
        // Snailmail
        (
            "/iap/snailmail/1/print",
            json!({"account_token": sm, "dbuuid": DBUUID}),
        ),
        (
            "/iap/snailmail/1/print",
            json!({"account_token": sm, "dbuuid": DBUUID, "documents": "letters"}),
        ),
        (
            "/iap/snailmail/1/print",
            json!({"account_token": sm, "dbuuid": DBUUID, "documents": [42]}),
        ),
        (
            "/iap/snailmail/1/print",
            json!({"account_token": sm, "dbuuid": DBUUID, "documents": [{"address": brussels()}]}),
        ),
        (
            "/iap/snailmail/1/print",
            json!({"account_token": sm, "dbuuid": DBUUID, "documents": [{"letter_id": "one"}]}),
        ),
        (
            "/iap/snailmail/1/print",
            json!({"account_token": sm, "dbuuid": DBUUID, "documents": [{"letter_id": 1.5}]}),
        ),
        (
            "/iap/snailmail/1/print",
            json!({"account_token": sm, "dbuuid": DBUUID, "documents": [letter_ok.clone()], "options": "color"}),
        ),
        (
            "/iap/snailmail/1/print",
            json!({"account_token": sm, "dbuuid": DBUUID, "documents": [letter_ok.clone()], "options": {"color": "yes"}}),
        ),
        (
            "/iap/snailmail/1/print",
            json!({"account_token": sm, "dbuuid": DBUUID, "documents": vec![letter_ok.clone(); 21]}),
        ),
        (
            "/iap/snailmail/1/print",
            json!({"dbuuid": DBUUID, "documents": [letter_ok.clone()]}),
        ),
        (
            "/iap/snailmail/1/print",
            json!({"account_token": unknown_token, "documents": [letter_ok.clone()]}),
        ),
        (
            "/iap/snailmail/1/print",
            json!({"account_token": pa, "dbuuid": DBUUID, "documents": [letter_ok.clone()]}),
        ),
        (
            "/iap/snailmail/2/print",
            json!({"account_token": sm, "dbuuid": DBUUID, "documents": [letter_ok.clone()]}),
        ),
        // Lead mining
        (
            "/iap/clearbit/2/lead_mining_request",
            json!({"account_token": rv, "dbuuid": DBUUID}),
        ),
        ("/iap/clearbit/2/lead_mining_request", mining(json!("data"))),
        ("/iap/clearbit/2/lead_mining_request", mining(json!({}))),
        (
            "/iap/clearbit/2/lead_mining_request",
            mining(json!({"lead_number": 0})),
        ),
        (
            "/iap/clearbit/2/lead_mining_request",
            mining(json!({"lead_number": 201})),
        ),
        (
            "/iap/clearbit/2/lead_mining_request",
            mining(json!({"lead_number": "3"})),
        ),
        (
            "/iap/clearbit/2/lead_mining_request",
            mining(json!({"lead_number": 3, "search_type": "robots"})),
        ),
        (
            "/iap/clearbit/2/lead_mining_request",
            mining(json!({"lead_number": 3, "countries": "BE"})),
        ),
        (
            "/iap/clearbit/2/lead_mining_request",
            mining(json!({"lead_number": 3, "countries": [{"code": 5}]})),
        ),
        (
            "/iap/clearbit/2/lead_mining_request",
            mining(json!({"lead_number": 3, "countries": [{"states": []}]})),
        ),
        (
            "/iap/clearbit/2/lead_mining_request",
            mining(json!({"lead_number": 3, "countries": ["BEL"]})),
        ),
        (
            "/iap/clearbit/2/lead_mining_request",
            mining(json!({"lead_number": 3, "industry_ids": ["99999"]})),
        ),
        (
            "/iap/clearbit/2/lead_mining_request",
            mining(json!({"lead_number": 3, "industry_ids": [{"id": 1}]})),
        ),
        (
            "/iap/clearbit/2/lead_mining_request",
            mining(json!({"lead_number": 3, "company_size_min": 50, "company_size_max": 10})),
        ),
        (
            "/iap/clearbit/2/lead_mining_request",
            mining(json!({"lead_number": 3, "search_type": "people", "contact_number": "two"})),
        ),
        (
            "/iap/clearbit/2/lead_mining_request",
            mining(json!({"lead_number": 3, "search_type": "people", "other_roles": "sale"})),
        ),
        (
            "/iap/clearbit/2/lead_mining_request",
            json!({"account_token": sm, "dbuuid": DBUUID, "data": {"lead_number": 1}}),
        ),
        // Lead enrichment
        ("/iap/clearbit/1/lead_enrichment_email", enrich(Value::Null)),
        (
            "/iap/clearbit/1/lead_enrichment_email",
            enrich(json!(["acme.example"])),
        ),
        (
            "/iap/clearbit/1/lead_enrichment_email",
            enrich(json!({"1": 42})),
        ),
        (
            "/iap/clearbit/1/lead_enrichment_email",
            enrich(json!({"1": {"domain": "acme.example"}})),
        ),
        (
            "/iap/clearbit/1/lead_enrichment_email",
            enrich(Value::Object(many_domains)),
        ),
        // Visitor reveal
        ("/iap/clearbit/1/reveal", json!({"account_token": rv})),
        ("/iap/clearbit/1/reveal", reveal(json!([]))),
        ("/iap/clearbit/1/reveal", reveal(json!({"rules": {}}))),
        (
            "/iap/clearbit/1/reveal",
            reveal(json!({"ips": ["203.0.113.9"], "rules": {}})),
        ),
        (
            "/iap/clearbit/1/reveal",
            reveal(json!({"ips": {"203.0.113.9": 1}, "rules": {}})),
        ),
        (
            "/iap/clearbit/1/reveal",
            reveal(json!({"ips": {}, "rules": []})),
        ),
        (
            "/iap/clearbit/1/reveal",
            reveal(rule(json!({"lead_for": "robots"}))),
        ),
        (
            "/iap/clearbit/1/reveal",
            reveal(rule(json!({"filter_on_size": "yes"}))),
        ),
        (
            "/iap/clearbit/1/reveal",
            reveal(rule(json!({"industry_tags": ["99999"]}))),
        ),
        (
            "/iap/clearbit/1/reveal",
            reveal(rule(json!({"countries": [7]}))),
        ),
        (
            "/iap/clearbit/1/reveal",
            reveal(rule(
                json!({"filter_on_size": true, "company_size_min": 9, "company_size_max": 2}),
            )),
        ),
        (
            "/iap/clearbit/1/reveal",
            reveal(json!({"ips": many_ips, "rules": {}})),
        ),
        ("/iap/clearbit/3/reveal", reveal(rule(json!({})))),
    ];
    let mut tried = 0;
    for (path, params) in cases {
        let shown = params.to_string();
        let body =
            json!({"jsonrpc": "2.0", "method": "call", "params": params, "id": 7}).to_string();
        let (status, answer) = app.rpc(path, &body).await;
        envelope_error(status, &answer);
        assert_eq!(answer["id"], 7, "{path} {shown:.100}");
        tried += 1;
    }
    // Whatever the body is: not JSON, not an object, another method, a 10 MB body.
    let ten_mb = format!(
        "{{\"jsonrpc\": \"2.0\", \"params\": {{\"x\": \"{}\"}}}}",
        "a".repeat(10 << 20)
    );
    let raw_bodies: Vec<String> = vec![
        "not json".into(),
        "[1, 2]".into(),
        "".into(),
        r#"{"jsonrpc": "1.0", "params": {}}"#.into(),
        r#"{"jsonrpc": "2.0", "method": "notify", "params": {}}"#.into(),
        r#"{"jsonrpc": "2.0", "params": [1]}"#.into(),
        ten_mb,
        "x".repeat(40 << 20),
    ];
    for path in [
        "/iap/partner_autocomplete/search",
        "/iap/partner_autocomplete/enrich",
        "/iap/snailmail/1/print",
        "/iap/clearbit/2/lead_mining_request",
        "/iap/clearbit/1/lead_enrichment_email",
        "/iap/clearbit/1/reveal",
    ] {
        for body in &raw_bodies {
            let (status, answer) = app.rpc(path, body).await;
            envelope_error(status, &answer);
            tried += 1;
        }
        // A GET is answered in the envelope too.
        let page = app.get(path).await;
        assert_eq!(page.status, actix_web::http::StatusCode::OK, "{path}");
        assert!(page.body.contains("odoo.exceptions.UserError"), "{path}");
        tried += 1;
    }
    assert!(tried >= 60, "{tried} malformed calls");
    assert_eq!(
        written_rows(&mut conn),
        before,
        "a refused call wrote something"
    );
    for token in [&pa, &sm, &rv] {
        assert_eq!(
            available(&mut conn, token),
            funds[token],
            "spent by a refused call"
        );
    }
    assert_consistent(&mut conn);
}

/// The simulated directory, counting what it is asked: a batch must not cost a round trip per
/// visitor or lead.
struct CountingDirectory {
    inner: iap_credits::services::directory::provider::SimulatedDirectory,
    calls: std::sync::Mutex<Vec<&'static str>>,
}

impl CountingDirectory {
    fn asked(&self, what: &'static str) {
        self.calls.lock().unwrap().push(what);
    }
}

impl iap_credits::services::directory::provider::CompanyDirectory for CountingDirectory {
    fn search(
        &self,
        q: &str,
    ) -> Result<
        Vec<iap_credits::services::directory::Company>,
        iap_credits::services::directory::provider::DirectoryError,
    > {
        self.asked("search");
        self.inner.search(q)
    }
    fn enrich(
        &self,
        id: iap_credits::kernel::ids::CompanyId,
    ) -> Result<
        Option<iap_credits::services::directory::Company>,
        iap_credits::services::directory::provider::DirectoryError,
    > {
        self.asked("enrich");
        self.inner.enrich(id)
    }
    fn mine(
        &self,
        criteria: &iap_credits::services::directory::provider::MiningCriteria,
    ) -> Result<
        Vec<iap_credits::services::directory::provider::MinedCompany>,
        iap_credits::services::directory::provider::DirectoryError,
    > {
        self.asked("mine");
        self.inner.mine(criteria)
    }
    fn companies_at(
        &self,
        ips: &[std::net::IpAddr],
    ) -> Result<
        Vec<Option<iap_credits::services::directory::Company>>,
        iap_credits::services::directory::provider::DirectoryError,
    > {
        self.asked("companies_at");
        self.inner.companies_at(ips)
    }
    fn companies_by_domain(
        &self,
        domains: &[String],
    ) -> Result<
        Vec<iap_credits::services::directory::Company>,
        iap_credits::services::directory::provider::DirectoryError,
    > {
        self.asked("companies_by_domain");
        self.inner.companies_by_domain(domains)
    }
    fn people_of(
        &self,
        ids: &[iap_credits::kernel::ids::CompanyId],
    ) -> Result<
        Vec<iap_credits::services::directory::Person>,
        iap_credits::services::directory::provider::DirectoryError,
    > {
        self.asked("people_of");
        self.inner.people_of(ids)
    }
}

#[actix_web::test]
async fn a_reveal_or_enrichment_batch_asks_the_directory_once_whatever_its_size() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let token = reveal_account(&app, &mut conn, "1000").await;
    let directory = Arc::new(CountingDirectory {
        inner: iap_credits::services::directory::provider::SimulatedDirectory(app.db.pool()),
        calls: Default::default(),
    });
    let ctx = iap_credits::odoo::Context {
        base_url: "http://x".into(),
        sms: Arc::new(iap_credits::services::sms::gateway::SimulatedCarrier::default()),
        directory: directory.clone(),
        outbound: Default::default(),
        client_address: "192.0.2.1".into(),
    };
    let as_map = |v: Value| v.as_object().unwrap().clone();

    // 40 visitors of 20 companies (two addresses each), a people rule: two questions in all.
    let rules = json!({
        "9": {
            "rule_id": 9, "lead_for": "people", "countries": [], "filter_on_size": false,
            "industry_tags": [], "user_country": "BE", "contact_filter_type": "role",
            "preferred_role": "", "other_roles": [], "seniority": "", "extra_contacts": 1,
        },
    });
    let mut ips = serde_json::Map::new();
    for company_id in 4001..4021 {
        ips.insert(address_of(company_id, 1), json!([9]));
        ips.insert(address_of(company_id, 2), json!([9]));
    }
    ips.insert("not-an-address".into(), json!([9]));
    let revealed = iap_credits::odoo::clearbit::reveal(
        &mut conn,
        &ctx,
        &as_map(json!({"account_token": token, "data": {"ips": ips, "rules": rules}})),
    )
    .unwrap();
    let results = revealed["reveal_data"].as_array().unwrap();
    assert_eq!(results.len(), 41, "{revealed}");
    assert_eq!(
        results.iter().filter(|r| r["not_found"] == true).count(),
        1,
        "{revealed}"
    );
    // Each visitor gets its own company's people, as when asked one by one.
    for r in results.iter().filter(|r| r.get("not_found").is_none()) {
        let domain = r["reveal_data"]["domain"].as_str().unwrap();
        for person in r["people_data"].as_array().unwrap() {
            assert!(person["email"].as_str().unwrap().ends_with(domain), "{r}");
        }
    }
    assert_eq!(
        *directory.calls.lock().unwrap(),
        ["companies_at", "people_of"]
    );

    // 30 leads, 20 known domains and 10 unknown: one question.
    directory.calls.lock().unwrap().clear();
    let mut domains = serde_json::Map::new();
    for (n, id) in (4001..4021).enumerate() {
        let company = iap_credits::services::directory::company(
            &mut conn,
            iap_credits::kernel::ids::CompanyId(id),
        )
        .unwrap()
        .unwrap();
        domains.insert(n.to_string(), json!(company.domain));
    }
    for n in 20..30 {
        domains.insert(n.to_string(), json!(format!("nobody-{n}.example")));
    }
    let enriched = iap_credits::odoo::clearbit::lead_enrichment_email(
        &mut conn,
        &ctx,
        &as_map(json!({"account_token": token, "dbuuid": DBUUID, "domains": domains})),
    )
    .unwrap();
    let found = enriched
        .as_object()
        .unwrap()
        .values()
        .filter(|v| v.is_object())
        .count();
    assert_eq!(found, 20, "{enriched}");
    assert_eq!(*directory.calls.lock().unwrap(), ["companies_by_domain"]);
    assert_consistent(&mut conn);
}

//! Odoo's Partner Autocomplete (`/api/dnb/1/*`) and lead mining
//! (`/iap/clearbit/1/lead_mining_request`) calls, answered from the directory and charged on
//! the same metering as the app's own services.

use serde_json::{Value, json};

use crate::fixtures::{assert_consistent, c};
use crate::harness::TestApp;
use crate::odoo::{DBUUID, INSUFFICIENT, USER, available, call, error_name, fund, odoo_token};

/// What Odoo's `_contact_iap` adds to every Partner Autocomplete call.
fn autocomplete_params(token: &str, extra: Value) -> Value {
    let mut params = json!({
        "db_uuid": DBUUID,
        "db_version": "18.0",
        "db_lang": "en_US",
        "account_token": token,
        "country_code": "BE",
        "zip": "1000",
    });
    params
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    params
}

#[actix_web::test]
async fn partner_autocomplete_searches_free_and_enriches_for_one_credit() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let target = iap_credits::services::directory::company(
        &mut conn,
        iap_credits::kernel::ids::CompanyId(2024),
    )
    .unwrap()
    .unwrap();
    let token = odoo_token();
    let duns = format!("{:09}", target.id);

    // A search by name registers the token and costs nothing.
    let found = call(
        &app,
        "/api/dnb/1/search_by_name",
        autocomplete_params(
            &token,
            json!({"query": target.name, "query_country_code": target.country_code}),
        ),
    )
    .await
    .unwrap();
    let data = found["data"].as_array().unwrap();
    assert!(data.iter().any(|s| s["duns"] == duns.as_str()), "{found}");
    assert_eq!(data[0]["country_code"], target.country_code.as_str());
    assert!(
        data[0].get("street").is_none(),
        "the address is what an enrichment buys"
    );
    let start = available(&mut conn, &token);
    if let Some(vat) = &target.vat {
        let by_vat = call(
            &app,
            "/api/dnb/1/search_by_vat",
            autocomplete_params(&token, json!({"query": vat})),
        )
        .await
        .unwrap();
        assert_eq!(by_vat["data"][0]["duns"], duns.as_str(), "{by_vat}");
    }

    // Out of credits: credit_error, nothing spent.
    let spend_all = start;
    if spend_all > c("0") {
        let account = iap_credits::domain::ledger::accounts::by_token(&mut conn, &token)
            .unwrap()
            .unwrap();
        iap_credits::domain::ledger::charge(
            &mut conn,
            account.id,
            spend_all,
            "trial used up",
            &iap_credits::domain::ledger::Actor::cli(),
        )
        .unwrap();
    }
    let short = call(
        &app,
        "/api/dnb/1/enrich_by_duns",
        autocomplete_params(&token, json!({"duns": duns})),
    )
    .await
    .unwrap();
    assert_eq!(short, json!({"credit_error": true}));
    assert_eq!(available(&mut conn, &token), c("0"));

    // With credits: the whole company for one credit, by DUNS (Odoo 18) or by domain.
    fund(&mut conn, &token, "3");
    let enriched = call(
        &app,
        "/api/dnb/1/enrich_by_duns",
        autocomplete_params(&token, json!({"duns": duns})),
    )
    .await
    .unwrap();
    let company = &enriched["data"];
    assert_eq!(company["name"], target.full_name().as_str());
    assert_eq!(company["street"], target.street.as_str());
    assert_eq!(company["zip"], target.postal_code.as_str());
    assert_eq!(company["industry_code"], target.industry.as_str());
    assert_eq!(company["vat"], json!(target.vat));
    assert_eq!(available(&mut conn, &token), c("2"));
    let by_domain = call(
        &app,
        "/api/dnb/1/enrich_by_domain",
        autocomplete_params(
            &token,
            json!({"domain": format!("https://www.{}/", target.domain)}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(by_domain["data"]["duns"], duns.as_str());
    // The same company again (by its domain this time): handed over for nothing.
    assert_eq!(available(&mut conn, &token), c("2"));
    let other = iap_credits::services::directory::company(
        &mut conn,
        iap_credits::kernel::ids::CompanyId(2025),
    )
    .unwrap()
    .unwrap();
    let by_domain = call(
        &app,
        "/api/dnb/1/enrich_by_domain",
        autocomplete_params(&token, json!({"domain": other.domain})),
    )
    .await
    .unwrap();
    assert_eq!(by_domain["data"]["duns"], format!("{:09}", other.id));
    assert_eq!(available(&mut conn, &token), c("1"));

    // Unknown: an error that says nothing was consumed, and nothing is.
    let unknown = call(
        &app,
        "/api/dnb/1/enrich_by_domain",
        autocomplete_params(&token, json!({"domain": "no-such-company.example"})),
    )
    .await
    .unwrap();
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("no credit was consumed")
    );
    let unknown = call(
        &app,
        "/api/dnb/1/enrich_by_duns",
        autocomplete_params(&token, json!({"duns": "999999999"})),
    )
    .await
    .unwrap();
    assert!(unknown.get("error").is_some(), "{unknown}");
    assert_eq!(available(&mut conn, &token), c("1"));
    // Malformed: Odoo's UserError, never a 5xx.
    let bad = call(
        &app,
        "/api/dnb/1/enrich_by_duns",
        autocomplete_params(&token, json!({"duns": "DROP TABLE"})),
    )
    .await;
    assert_eq!(error_name(bad), USER);
    assert_consistent(&mut conn);
}

#[actix_web::test]
async fn lead_mining_requests_make_leads_and_charge_per_company_and_contact() {
    let app = TestApp::new();
    let mut conn = app.db.conn();
    let token = odoo_token();
    let register = json!({"dbuuid": DBUUID, "account_token": token, "service_name": "reveal"});
    call(&app, "/iap/1/balance", register).await.unwrap();
    let start = available(&mut conn, &token);
    let mining = |data: Value| json!({"account_token": token, "dbuuid": DBUUID, "data": data});
    let people = json!({
        "lead_number": 3,
        "search_type": "people",
        "countries": ["be"],
        "contact_number": 2,
        "contact_filter_type": "role",
        "preferred_role": "CEO",
        "other_roles": ["sale"],
    });

    // Too few credits for the maximum (3 × (1 + 2) = 9): refused before anything runs.
    if start < c("9") {
        let refused = call(
            &app,
            "/iap/clearbit/1/lead_mining_request",
            mining(people.clone()),
        )
        .await;
        assert_eq!(error_name(refused), INSUFFICIENT);
        assert_eq!(available(&mut conn, &token), start);
    }
    fund(&mut conn, &token, "20");
    let before = available(&mut conn, &token);
    let found = call(
        &app,
        "/iap/clearbit/1/lead_mining_request",
        mining(people.clone()),
    )
    .await
    .unwrap();
    let data = found["data"].as_array().unwrap();
    assert_eq!(data.len(), 3, "{found}");
    let mut contacts = 0;
    for lead in data {
        assert_eq!(lead["company_data"]["country_code"], "BE");
        assert!(lead["company_data"]["clearbit_id"].is_string());
        let people = lead["people_data"].as_array().unwrap();
        assert!(people.len() <= 2);
        for person in people {
            assert!(["management", "sales"].contains(&person["role"].as_str().unwrap()));
            assert!(person["email"].as_str().unwrap().contains('@'));
        }
        contacts += people.len() as i64;
    }
    let cost = iap_credits::kernel::credits::Credits::whole(3 + contacts);
    assert_eq!(
        available(&mut conn, &token).units(),
        before.units() - cost.units()
    );

    // The same again: the three are leads of this database already; three others come.
    let again = call(
        &app,
        "/iap/clearbit/1/lead_mining_request",
        mining(people.clone()),
    )
    .await
    .unwrap();
    let first: Vec<&Value> = data
        .iter()
        .map(|l| &l["company_data"]["clearbit_id"])
        .collect();
    for lead in again["data"].as_array().unwrap() {
        assert!(!first.contains(&&lead["company_data"]["clearbit_id"]));
    }

    // Companies only, by NACE section; unknown industry ids are refused with a message.
    let companies = call(
        &app,
        "/iap/clearbit/1/lead_mining_request",
        mining(json!({"lead_number": 2, "search_type": "companies", "countries": ["FR"], "industry_ids": ["C"]})),
    )
    .await
    .unwrap();
    for lead in companies["data"].as_array().unwrap() {
        assert!(lead["people_data"].as_array().unwrap().is_empty());
    }
    let unknown = call(
        &app,
        "/iap/clearbit/1/lead_mining_request",
        mining(json!({"lead_number": 2, "search_type": "companies", "countries": ["FR"], "industry_ids": ["175"]})),
    )
    .await;
    assert_eq!(error_name(unknown), USER);
    let too_many = call(
        &app,
        "/iap/clearbit/1/lead_mining_request",
        mining(json!({"lead_number": 201, "search_type": "companies"})),
    )
    .await;
    assert_eq!(error_name(too_many), USER);
    assert_consistent(&mut conn);
}

//! The simulated company directory: generated whole and the same everywhere, valid VAT numbers
//! in each country's own check, and searches by name, VAT number and domain.

use diesel::prelude::*;
use iap_credits::services::directory::{self, generate, vat};

use crate::harness::TestDb;

#[test]
fn the_directory_holds_twenty_thousand_companies_in_twenty_countries() {
    let db = TestDb::new();
    let mut conn = db.conn();
    #[derive(QueryableByName)]
    struct Figures {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        companies: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        countries: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        people: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        most_people: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        foreign_emails: i64,
    }
    let f: Figures = diesel::sql_query(
        "SELECT (SELECT count(*) FROM directory_companies) AS companies,
                (SELECT count(DISTINCT country_code) FROM directory_companies) AS countries,
                (SELECT count(*) FROM directory_people) AS people,
                (SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM directory_people
                                                  GROUP BY company_id) c) AS most_people,
                (SELECT count(*) FROM directory_people p JOIN directory_companies c
                   ON c.id = p.company_id WHERE p.email NOT LIKE '%@' || c.domain) AS foreign_emails",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(f.companies, generate::COMPANIES as i64);
    assert!(f.countries >= 20, "{} countries", f.countries);
    assert!(
        f.people > 40_000 && f.most_people <= 8,
        "{} people",
        f.people
    );
    assert_eq!(
        f.foreign_emails, 0,
        "everyone's email is on their company's domain"
    );
    // Every stored VAT number passes its country's check.
    let vats: Vec<(String, Option<String>)> =
        iap_credits::platform::schema::directory_companies::table
            .select((
                iap_credits::platform::schema::directory_companies::country_code,
                iap_credits::platform::schema::directory_companies::vat,
            ))
            .load(&mut conn)
            .unwrap();
    let with_vat = vats.iter().filter(|(_, v)| v.is_some()).count();
    assert!(with_vat > 15_000, "{with_vat} VAT numbers");
    for (country, number) in &vats {
        if let Some(number) = number {
            assert!(vat::is_valid(country, number), "{country} {number}");
        }
    }
    // The directory is generated the same on every machine: company 1 is company 0 here.
    let first = directory::company(&mut conn, iap_credits::kernel::ids::CompanyId(1))
        .unwrap()
        .unwrap();
    assert_eq!(first.name, generate::company(0).name);
    // Seeding again adds nothing.
    assert_eq!(directory::seed(&mut db.owner_conn(), 100).unwrap(), 0);
}

#[test]
fn searches_find_companies_by_name_vat_and_domain() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let target = directory::company(&mut conn, iap_credits::kernel::ids::CompanyId(1234))
        .unwrap()
        .unwrap();
    // A few letters of the name, as typed.
    let typed: String = target.name.chars().take(5).collect();
    let found = directory::search(&mut conn, &typed).unwrap();
    assert!(!found.is_empty() && found.len() <= 10, "{typed}: {found:?}");
    let whole = directory::search(&mut conn, &target.name).unwrap();
    assert!(
        whole.iter().any(|c| c.id == target.id),
        "{}: {whole:?}",
        target.name
    );
    // The VAT number, typed with spaces and dots, and the domain: that one company.
    let with_vat = (1..200)
        .filter_map(|id| {
            directory::company(&mut conn, iap_credits::kernel::ids::CompanyId(id)).unwrap()
        })
        .find(|c| c.vat.is_some())
        .unwrap();
    let vat = with_vat.vat.clone().unwrap();
    let spaced: String = vat
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            if i > 0 && i % 4 == 0 {
                vec!['.', c]
            } else {
                vec![c]
            }
        })
        .collect::<String>()
        .to_lowercase();
    let by_vat = directory::search(&mut conn, &spaced).unwrap();
    assert_eq!(
        by_vat.iter().map(|c| c.id).collect::<Vec<_>>(),
        [with_vat.id],
        "{spaced}"
    );
    let by_domain = directory::search(&mut conn, &with_vat.domain.to_uppercase()).unwrap();
    assert_eq!(
        by_domain.iter().map(|c| c.id).collect::<Vec<_>>(),
        [with_vat.id]
    );
    // Too short, nonsense, or a NUL: nothing, and no error.
    assert!(directory::search(&mut conn, "ab").unwrap().is_empty());
    assert!(directory::search(&mut conn, "\u{0}abc").unwrap().is_empty());
    assert!(
        directory::search(&mut conn, "qqqqxxxzzz")
            .unwrap()
            .is_empty()
    );
    // A company's people and its logo.
    let people = directory::people_of(&mut conn, &[target.id]).unwrap();
    assert!(people.iter().all(|p| p.email.ends_with(&target.domain)));
    assert!(target.logo_svg().starts_with("<svg"));
}

#[test]
fn the_provider_mines_companies_and_their_people_by_criteria() {
    use iap_credits::services::directory::provider::{
        CompanyDirectory, MiningCriteria, SimulatedDirectory,
    };
    let db = TestDb::new();
    let provider = SimulatedDirectory(db.pool());
    let criteria = MiningCriteria {
        companies: 5,
        countries: vec!["BE".into(), "FR".into()],
        industries: vec!["J".into(), "M".into()],
        min_employees: 10,
        max_employees: 500,
        contacts_per_company: 2,
        seniorities: vec!["manager".into(), "director".into(), "executive".into()],
        departments: vec![],
        exclude: vec![],
    };
    let found = provider.mine(&criteria).unwrap();
    assert_eq!(found.len(), 5);
    for m in &found {
        let c = &m.company;
        assert!(["BE", "FR"].contains(&c.country_code.as_str()), "{c:?}");
        assert!(["J", "M"].contains(&c.industry.as_str()));
        assert!((10..=500).contains(&c.employees));
        assert!(m.people.len() <= 2);
        for p in &m.people {
            assert_eq!(p.company_id, c.id);
            assert_ne!(p.seniority, "junior");
            assert_ne!(p.seniority, "senior");
        }
    }
    // Companies the asker has already are skipped: the next ones come instead.
    let again = provider
        .mine(&MiningCriteria {
            exclude: found.iter().map(|m| m.company.id).collect(),
            ..criteria.clone()
        })
        .unwrap();
    assert_eq!(again.len(), 5);
    assert!(
        again
            .iter()
            .all(|m| found.iter().all(|f| f.company.id != m.company.id))
    );
    // Narrow criteria find fewer than asked; no people asked, none given.
    let rare = provider
        .mine(&MiningCriteria {
            companies: 200,
            countries: vec!["LU".into()],
            industries: vec!["A".into()],
            min_employees: 20_000,
            max_employees: 50_000,
            contacts_per_company: 0,
            ..MiningCriteria::default()
        })
        .unwrap();
    assert!(rare.len() < 200, "{}", rare.len());
    assert!(rare.iter().all(|m| m.people.is_empty()));
    // Enrich answers everything known of one company; search is free suggestions.
    let known = provider.enrich(found[0].company.id).unwrap().unwrap();
    assert_eq!(known, found[0].company);
    assert!(
        provider
            .enrich(iap_credits::kernel::ids::CompanyId(999_999))
            .unwrap()
            .is_none()
    );
    assert!(!provider.search(&known.name).unwrap().is_empty());
}

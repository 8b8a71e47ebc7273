//! Migrations apply once and revert cleanly; the catalog and demo seeds are idempotent and
//! never undo an operator's edits.

use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use iap_credits::demo::{self, seed_demo};
use iap_credits::domain::catalog::{self, seed::seed_catalog};
use iap_credits::domain::tenancy::{self, Role, Subscription};
use iap_credits::platform::db::{MIGRATIONS, run_migrations};
use iap_credits::platform::schema::{contacts, databases, packs, services, users};

use crate::fixtures::Customer;
use crate::harness::TestDb;

#[test]
fn migrations_are_applied_once_and_revert_cleanly() {
    let db = TestDb::new();
    let mut conn = db.owner_conn();
    // The template is already migrated: nothing is pending.
    assert!(run_migrations(&mut conn).unwrap().is_empty());
    let all = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .unwrap()
        .len();
    conn.revert_all_migrations(MIGRATIONS).unwrap();
    let tables: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations')",
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(tables, 0, "down migrations leave no table behind");
    assert_eq!(run_migrations(&mut conn).unwrap().len(), all);
    seed_catalog(&mut conn).unwrap();
    assert_eq!(catalog::active_services(&mut conn).unwrap().len(), 8);
}

#[test]
fn constraints_refuse_impossible_rows() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let sms: i64 = services::table
        .filter(services::slug.eq("sms"))
        .select(services::id)
        .first(&mut conn)
        .unwrap();
    let negative_pack = diesel::insert_into(packs::table)
        .values((
            packs::service_id.eq(sms),
            packs::name.eq("Negative Pack"),
            packs::credits.eq(-10_000i64),
            packs::price_minor.eq(100i64),
            packs::currency.eq("EUR"),
        ))
        .execute(&mut conn);
    assert!(negative_pack.is_err());
    let bad_subscription =
        diesel::sql_query("INSERT INTO databases (name, subscription) VALUES ('X', 'gold')")
            .execute(&mut conn);
    assert!(bad_subscription.is_err());
}

/// The token rules (32 to 128 of `A-Za-z0-9_-`; a SHA-1 of 40 hex digits) hold as a length and
/// a character class, which every debit's UPDATE checks cheaply.
#[test]
fn account_tokens_keep_their_format() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let account = Customer::new(&mut conn, Subscription::None).account(&mut conn, "sms");
    let set_token = |conn: &mut PgConnection, token: &str| {
        diesel::sql_query("UPDATE iap_accounts SET token = $1 WHERE id = $2")
            .bind::<diesel::sql_types::Text, _>(token)
            .bind::<diesel::sql_types::BigInt, _>(account.id.0)
            .execute(conn)
    };
    let set_sha1 = |conn: &mut PgConnection, sha1: &str| {
        diesel::sql_query("UPDATE iap_accounts SET token_sha1 = $1 WHERE id = $2")
            .bind::<diesel::sql_types::Text, _>(sha1)
            .bind::<diesel::sql_types::BigInt, _>(account.id.0)
            .execute(conn)
    };
    for good in [
        "a".repeat(32),
        "Z9_-".repeat(32),
        format!("{}x", "0".repeat(42)),
    ] {
        assert!(set_token(&mut conn, &good).is_ok(), "{good} is a token");
    }
    for bad in [
        "a".repeat(31),
        "a".repeat(129),
        format!("{}é", "a".repeat(40)),
        format!("{} a", "a".repeat(40)),
        format!("{}\n", "a".repeat(40)),
    ] {
        assert!(set_token(&mut conn, &bad).is_err(), "{bad:?} is refused");
    }
    assert!(set_sha1(&mut conn, &"0123456789abcdef0123".repeat(2)).is_ok());
    for bad in [
        "0".repeat(39),
        "0".repeat(41),
        "A".repeat(40),
        format!("{}g", "0".repeat(39)),
    ] {
        assert!(set_sha1(&mut conn, &bad).is_err(), "{bad:?} is refused");
    }
}

#[test]
fn catalog_seed_is_idempotent_and_keeps_operator_edits() {
    let db = TestDb::new();
    let mut conn = db.conn();
    // The operator renames a pack and rewrites a description.
    diesel::update(packs::table.filter(packs::name.eq("Starter Pack")))
        .set(packs::name.eq("Mini Pack"))
        .execute(&mut conn)
        .unwrap();
    diesel::update(services::table.filter(services::slug.eq("sms")))
        .set(services::description.eq("Our own words"))
        .execute(&mut conn)
        .unwrap();
    let packs_before: i64 = packs::table.count().get_result(&mut conn).unwrap();

    assert_eq!(seed_catalog(&mut conn).unwrap(), 0);
    assert_eq!(seed_catalog(&mut conn).unwrap(), 0);

    let services_after: i64 = services::table.count().get_result(&mut conn).unwrap();
    let packs_after: i64 = packs::table.count().get_result(&mut conn).unwrap();
    assert_eq!(services_after, 8);
    assert_eq!(packs_after, packs_before);
    let sms = catalog::active_service(&mut conn, "sms").unwrap().unwrap();
    assert_eq!(sms.description, "Our own words");
    let names: Vec<String> = catalog::active_packs(&mut conn, sms.id)
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(
        names,
        ["Mini Pack", "Standard Pack", "Advanced Pack", "Expert Pack"]
    );
}

#[test]
fn sms_has_exactly_the_seed_packs_in_euros() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let sms = catalog::active_service(&mut conn, "sms").unwrap().unwrap();
    let packs: Vec<(String, String, String)> = catalog::active_packs(&mut conn, sms.id)
        .unwrap()
        .into_iter()
        .map(|p| {
            (
                p.name.clone(),
                p.credits.to_display(),
                p.currency.to_string(),
            )
        })
        .collect();
    let expected = [
        ("Starter Pack", "10"),
        ("Standard Pack", "100"),
        ("Advanced Pack", "500"),
        ("Expert Pack", "1,000"),
    ];
    assert_eq!(packs.len(), 4);
    for ((name, credits, currency), (want_name, want_credits)) in packs.iter().zip(expected) {
        assert_eq!(
            (name.as_str(), credits.as_str(), currency.as_str()),
            (want_name, want_credits, "EUR")
        );
    }
}

#[test]
fn demo_is_created_once_with_three_logins_and_contacts() {
    let db = TestDb::new();
    let mut conn = db.conn();
    assert!(seed_demo(&mut conn).unwrap());
    assert!(!seed_demo(&mut conn).unwrap());

    let demo_db = tenancy::find_database(&mut conn, demo::DEMO_DATABASE)
        .unwrap()
        .unwrap();
    assert_eq!(demo_db.subscription, Subscription::Enterprise);
    let logins: Vec<(String, Role, String)> = users::table
        .filter(users::database_id.eq(demo_db.id))
        .order(users::email)
        .select((users::email, users::role, users::password_hash))
        .load(&mut conn)
        .unwrap();
    let emails: Vec<(&str, Role)> = logins.iter().map(|(e, r, _)| (e.as_str(), *r)).collect();
    assert_eq!(
        emails,
        [
            ("admin@demo.test", Role::Admin),
            ("platform@demo.test", Role::Platform),
            ("user@demo.test", Role::User)
        ]
    );
    for (_, _, hash) in &logins {
        assert!(iap_credits::kernel::password::verify_password(
            "demo-password",
            hash
        ));
    }
    let countries: Vec<Option<String>> = contacts::table
        .filter(contacts::database_id.eq(demo_db.id))
        .select(contacts::country)
        .distinct()
        .load(&mut conn)
        .unwrap();
    assert!(countries.len() >= 5, "contacts in several countries");

    // Deleting the demo does not bring it back on the next start.
    diesel::delete(databases::table)
        .execute(&mut db.owner_conn())
        .unwrap();
    assert!(!seed_demo(&mut conn).unwrap());
    assert_eq!(
        databases::table
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap(),
        0
    );
}

#[test]
fn demo_respects_a_database_made_by_hand_before_it() {
    let db = TestDb::new();
    let mut conn = db.conn();
    tenancy::create_database(&mut conn, "demo company", Subscription::Demo).unwrap();
    tenancy::create_user(
        &mut conn,
        "demo company",
        "admin@demo.test",
        "a long password",
        Role::User,
    )
    .unwrap();
    assert!(seed_demo(&mut conn).unwrap());
    assert_eq!(
        databases::table
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap(),
        1
    );
    assert_eq!(
        users::table.count().get_result::<i64>(&mut conn).unwrap(),
        3
    );
}

//! Demo data for a first look: the "Demo Company" database, three logins (password `demo`) and
//! a few contacts with phone numbers in several countries. Created once per installation.

use diesel::prelude::*;

use crate::auth::password;
use crate::schema::{app_events, contacts};
use crate::tenancy::{self, Role, Subscription, TenancyError};

pub const DEMO_DATABASE: &str = "Demo Company";
pub const DEMO_PASSWORD: &str = "demo";
pub const DEMO_LOGINS: &[(&str, Role)] = &[
    ("admin@demo.test", Role::Admin),
    ("user@demo.test", Role::User),
    ("platform@demo.test", Role::Platform),
];

/// (name, company, email, phone, mobile, country)
type ContactSeed = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
);

const DEMO_CONTACTS: &[ContactSeed] = &[
    (
        "Brandon Freeman",
        "Azure Interior",
        "brandon.freeman@azure-interior.example",
        Some("+32 2 290 34 90"),
        Some("+32 470 12 34 56"),
        "BE",
    ),
    (
        "Colleen Diaz",
        "Deco Addict",
        "colleen.diaz@deco-addict.example",
        Some("+1 555-0142"),
        Some("+1 202-555-0173"),
        "US",
    ),
    (
        "Lucille Dupont",
        "Gemini Furniture",
        "lucille.dupont@gemini-furniture.example",
        None,
        Some("+33 6 12 34 56 78"),
        "FR",
    ),
    (
        "Jonas Weber",
        "Lumber Inc",
        "jonas.weber@lumber.example",
        Some("+49 30 901820"),
        Some("+49 1512 3456789"),
        "DE",
    ),
    (
        "Sanne de Vries",
        "Ready Mat",
        "sanne.devries@readymat.example",
        None,
        Some("+31 6 12345678"),
        "NL",
    ),
    (
        "Priya Sharma",
        "Wood Corner",
        "priya.sharma@woodcorner.example",
        Some("+91 22 2204 2211"),
        Some("+91 98200 12345"),
        "IN",
    ),
    (
        "Oliver Bennett",
        "The Jackson Group",
        "oliver.bennett@jackson-group.example",
        Some("+44 20 7946 0958"),
        Some("+44 7700 900123"),
        "GB",
    ),
    (
        "Ana Souza",
        "Ponto Mobiliário",
        "ana.souza@ponto.example",
        None,
        Some("+55 11 91234-5678"),
        "BR",
    ),
];

const DEMO_EVENT: &str = "demo_data_created";

/// Creates the demo data unless it was created before (even if it was deleted since).
/// Returns whether it was created now.
pub fn seed_demo(conn: &mut PgConnection) -> Result<bool, TenancyError> {
    conn.transaction(|conn| {
        let first_time = diesel::insert_into(app_events::table)
            .values(app_events::name.eq(DEMO_EVENT))
            .on_conflict_do_nothing()
            .execute(conn)?
            == 1;
        if !first_time {
            return Ok(false);
        }
        let database = match tenancy::find_database(conn, DEMO_DATABASE)? {
            Some(existing) => existing,
            None => tenancy::create_database(conn, DEMO_DATABASE, Subscription::Enterprise)?,
        };
        // The demo password is public and shorter than the rule for real accounts.
        let hash = password::hash_password(DEMO_PASSWORD)?;
        for (email, role) in DEMO_LOGINS {
            // A savepoint, so that an email already taken does not abort the whole transaction.
            let created = conn.transaction(|conn| {
                tenancy::create_user_with_hash(conn, DEMO_DATABASE, email, &hash, *role)
            });
            match created {
                Ok(_) | Err(TenancyError::DuplicateEmail(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let rows: Vec<_> = DEMO_CONTACTS
            .iter()
            .map(|(name, company, email, phone, mobile, country)| {
                (
                    contacts::database_id.eq(database.id),
                    contacts::name.eq(*name),
                    contacts::company.eq(Some(*company)),
                    contacts::email.eq(Some(*email)),
                    contacts::phone.eq(*phone),
                    contacts::mobile.eq(*mobile),
                    contacts::country.eq(Some(*country)),
                )
            })
            .collect();
        diesel::insert_into(contacts::table)
            .values(&rows)
            .execute(conn)?;
        Ok(true)
    })
}

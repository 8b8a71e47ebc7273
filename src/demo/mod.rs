//! Demo data for a first look: the "Demo Company" database, three logins (password
//! `demo-password`, public) and a few contacts with phone numbers in several countries. Created
//! once per installation, through the owners of those tables; the demo only owns its "created
//! once" marker (`app_events`). Its logins are for trying the app on this machine only: the
//! server refuses to listen beyond loopback while they exist, unless asked with `--demo`.

pub mod history;

use diesel::prelude::*;

use crate::domain::tenancy::{self, Role, Subscription, TenancyError};
use crate::kernel::password;
use crate::platform::schema::app_events;
use crate::services::contacts::{self, ContactInput};

pub const DEMO_DATABASE: &str = "Demo Company";
pub const DEMO_PASSWORD: &str = "demo-password";
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
        Some("+1 202-555-0142"),
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
        Some("+44 7911 123456"),
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
const DEMO_HISTORY_EVENT: &str = "demo_history_created";

/// Whether any demo login exists (they are public: nobody may reach them from another machine).
pub fn demo_logins_exist(conn: &mut PgConnection) -> QueryResult<bool> {
    let emails: Vec<&str> = DEMO_LOGINS.iter().map(|(email, _)| *email).collect();
    tenancy::any_user_with_email(conn, &emails)
}

/// The demo contacts as a person would type them in the contact form.
fn demo_contacts() -> Vec<ContactInput> {
    DEMO_CONTACTS
        .iter()
        .map(
            |(name, company, email, phone, mobile, country)| ContactInput {
                name: name.to_string(),
                company: company.to_string(),
                email: email.to_string(),
                phone: phone.unwrap_or_default().to_string(),
                mobile: mobile.unwrap_or_default().to_string(),
                country: country.to_string(),
                ..ContactInput::default()
            },
        )
        .collect()
}

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
        password::check_new_password(DEMO_PASSWORD)?;
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
        let demo_contacts = demo_contacts()
            .iter()
            .map(|input| {
                input.validate().map_err(|errors| {
                    TenancyError::InvalidDemoContact(format!("{}: {errors:?}", input.name))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        contacts::create_many(conn, database.id, &demo_contacts)?;
        Ok(true)
    })
}

/// Seeds the demo's ninety days of history (see `history`) unless it was seeded before, as of
/// now; `None` when it was, or when there is no demo database.
pub fn seed_demo_history(
    conn: &mut PgConnection,
) -> Result<Option<history::Seeded>, history::HistoryError> {
    conn.transaction(|conn| {
        let Some(database) = tenancy::find_database(conn, DEMO_DATABASE)? else {
            return Ok(None);
        };
        let first_time = diesel::insert_into(app_events::table)
            .values(app_events::name.eq(DEMO_HISTORY_EVENT))
            .on_conflict_do_nothing()
            .execute(conn)?
            == 1;
        if !first_time {
            return Ok(None);
        }
        let recipients: Vec<history::Recipient> = contacts::list(conn, database.id, "", None)?
            .into_iter()
            .filter_map(|c| {
                Some(history::Recipient {
                    contact_id: c.id,
                    mobile: c.mobile?,
                    country: c.country.unwrap_or_default(),
                    name: c.name,
                })
            })
            .collect();
        history::seed_history(conn, database.id, &recipients, chrono::Utc::now()).map(Some)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_contact_is_a_valid_contact() {
        for input in demo_contacts() {
            assert!(
                input.validate().is_ok(),
                "{input:?}: {:?}",
                input.validate()
            );
        }
    }
}

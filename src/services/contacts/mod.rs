//! Contacts of a customer database: listed, searched, created, edited and deleted, always
//! within the signed-in user's database. Owner of `contacts`.

pub mod phone;

use diesel::prelude::*;

use crate::kernel::ids::{CompanyId, ContactId, DatabaseId};
use crate::platform::schema::contacts;
use phone::PhoneNumber;

pub const PAGE_SIZE: crate::kernel::pagination::Keyset = crate::kernel::pagination::Keyset(20);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts, check_for_backend(diesel::pg::Pg))]
pub struct Contact {
    pub id: ContactId,
    pub database_id: DatabaseId,
    pub name: String,
    pub company: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub country: Option<String>,
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub vat: Option<String>,
    pub website: Option<String>,
    pub industry: Option<String>,
    pub employees: Option<i32>,
    pub logo_svg: Option<String>,
    pub directory_company_id: Option<CompanyId>,
    pub is_company: bool,
}

/// A note in a contact's chatter other than an SMS (an enrichment, …).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::platform::schema::contact_events, check_for_backend(diesel::pg::Pg))]
pub struct ContactEvent {
    pub id: i64,
    pub body: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Adds a note to the contact's chatter.
pub fn add_event(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    contact_id: ContactId,
    user_id: Option<crate::kernel::ids::UserId>,
    body: &str,
) -> QueryResult<()> {
    use crate::platform::schema::contact_events;
    diesel::insert_into(contact_events::table)
        .values((
            contact_events::database_id.eq(database_id),
            contact_events::contact_id.eq(contact_id),
            contact_events::created_by.eq(user_id),
            contact_events::body.eq(body),
        ))
        .execute(conn)
        .map(drop)
}

/// The contact's notes, newest first.
pub fn events_of(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    contact_id: ContactId,
) -> QueryResult<Vec<ContactEvent>> {
    use crate::platform::schema::contact_events;
    contact_events::table
        .filter(contact_events::database_id.eq(database_id))
        .filter(contact_events::contact_id.eq(contact_id))
        .order(contact_events::id.desc())
        .limit(100)
        .select(ContactEvent::as_select())
        .load(conn)
}

/// What a company directory gives a contact: everything (a paid enrichment), or only the
/// website and logo (free, when the credits are short).
pub fn apply_company(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    contact_id: ContactId,
    company: &crate::services::directory::Company,
    everything: bool,
) -> QueryResult<usize> {
    let scope = contacts::id
        .eq(contact_id)
        .and(contacts::database_id.eq(database_id));
    if everything {
        diesel::update(contacts::table.filter(scope))
            .set((
                contacts::company.eq(company.full_name()),
                contacts::street.eq(&company.street),
                contacts::postal_code.eq(&company.postal_code),
                contacts::city.eq(&company.city),
                contacts::country.eq(&company.country_code),
                contacts::vat.eq(&company.vat),
                contacts::website.eq(company.website()),
                contacts::industry.eq(&company.industry),
                contacts::employees.eq(company.employees),
                contacts::logo_svg.eq(company.logo_svg()),
                contacts::directory_company_id.eq(company.id),
                contacts::is_company.eq(true),
                contacts::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
        // The directory's phone, when it is a number we can dial (stored as E.164).
        if let Ok(number) = PhoneNumber::parse(&company.phone, Some(&company.country_code)) {
            diesel::update(contacts::table.filter(scope))
                .set(contacts::phone.eq(number.e164()))
                .execute(conn)?;
        }
        Ok(1)
    } else {
        diesel::update(contacts::table.filter(scope))
            .set((
                contacts::website.eq(company.website()),
                contacts::logo_svg.eq(company.logo_svg()),
                contacts::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
    }
}

/// A contact form as typed, kept to show it again with its errors.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ContactInput {
    pub name: String,
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub mobile: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub street: String,
    #[serde(default)]
    pub postal_code: String,
    #[serde(default)]
    pub city: String,
    /// The "Is a company" checkbox.
    #[serde(default)]
    pub is_company: Option<String>,
    /// The directory company picked from Partner Autocomplete's suggestions: saving enriches
    /// the contact with it (paid).
    #[serde(default)]
    pub enrich_with: String,
}

impl ContactInput {
    pub fn from_contact(c: &Contact) -> Self {
        ContactInput {
            is_company: c.is_company.then(|| "on".into()),
            enrich_with: String::new(),
            name: c.name.clone(),
            company: c.company.clone().unwrap_or_default(),
            email: c.email.clone().unwrap_or_default(),
            phone: c.phone.as_deref().map(phone::display).unwrap_or_default(),
            mobile: c.mobile.as_deref().map(phone::display).unwrap_or_default(),
            country: c.country.clone().unwrap_or_default(),
            street: c.street.clone().unwrap_or_default(),
            postal_code: c.postal_code.clone().unwrap_or_default(),
            city: c.city.clone().unwrap_or_default(),
        }
    }
}

/// A message per field that did not parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactErrors {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub country: Option<String>,
    pub address: Option<String>,
}

/// A contact ready to store: the only way to write a contact's fields (new or changed).
#[derive(Debug, Clone, PartialEq, Eq, Insertable, AsChangeset)]
#[diesel(table_name = contacts, treat_none_as_null = true)]
pub struct ValidContact {
    pub name: String,
    pub company: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub country: Option<String>,
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub is_company: bool,
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

impl ContactInput {
    // The form's messages, made once per request: their size is no cost worth a box.
    #[allow(clippy::result_large_err)]
    pub fn validate(&self) -> Result<ValidContact, ContactErrors> {
        let mut errors = ContactErrors::default();
        // Line breaks and escape codes would flow into letters, SMS and exports.
        let controls = |text: &str| text.chars().any(char::is_control);
        let name = self.name.trim();
        if name.is_empty() {
            errors.name = Some("Enter the contact's name.".into());
        } else if name.chars().count() > 200 {
            errors.name = Some("A name has at most 200 characters.".into());
        } else if controls(name) || controls(&self.company) {
            errors.name = Some("A name is one line, without control characters.".into());
        }
        let country = optional(&self.country).map(|c| c.to_ascii_uppercase());
        if let Some(code) = &country
            && !phone::is_known_country(code)
        {
            errors.country = Some("Use the country's two-letter ISO code, e.g. BE or US.".into());
        }
        let email = optional(&self.email);
        if let Some(e) = &email
            && crate::domain::tenancy::parse_email(e).is_err()
        {
            errors.email = Some(format!("“{e}” is not a valid email address."));
        }
        let region = country.as_deref().filter(|c| phone::is_known_country(c));
        let number = |text: &str, slot: &mut Option<String>| {
            optional(text).and_then(|t| match PhoneNumber::parse(&t, region) {
                Ok(n) => Some(n.e164().to_string()),
                Err(message) => {
                    *slot = Some(message);
                    None
                }
            })
        };
        if [&self.street, &self.postal_code, &self.city]
            .iter()
            .any(|part| part.trim().chars().count() > 200)
        {
            errors.address = Some("An address line has at most 200 characters.".into());
        } else if [&self.street, &self.postal_code, &self.city]
            .iter()
            .any(|part| controls(part.trim()))
        {
            errors.address = Some(
                "Each address line is one line, without control characters (line breaks, tabs)."
                    .into(),
            );
        }
        let phone = number(&self.phone, &mut errors.phone);
        let mobile = number(&self.mobile, &mut errors.mobile);
        if errors != ContactErrors::default() {
            return Err(errors);
        }
        Ok(ValidContact {
            name: name.to_string(),
            company: optional(&self.company),
            email: email.map(|e| e.to_lowercase()),
            phone,
            mobile,
            country,
            street: optional(&self.street),
            postal_code: optional(&self.postal_code),
            city: optional(&self.city),
            is_company: self.is_company.is_some(),
        })
    }

    /// The directory company to enrich with on save, for a company contact.
    pub fn company_to_enrich(&self) -> Option<CompanyId> {
        self.is_company
            .as_ref()
            .and_then(|_| self.enrich_with.trim().parse().ok())
            .filter(|id: &i64| *id > 0)
            .map(CompanyId)
    }
}

/// A new contact's row: the database it belongs to, and its fields.
#[derive(Insertable)]
#[diesel(table_name = contacts)]
struct ContactInsertForm {
    database_id: DatabaseId,
    #[diesel(embed)]
    contact: ValidContact,
}

/// A page of the database's contacts matching `search` (name, company, email, phone), by
/// name, after the contact (`after_name`, `after_id`) — keyset pagination.
pub fn list(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    search: &str,
    after: Option<(String, ContactId)>,
) -> QueryResult<Vec<Contact>> {
    let mut query = contacts::table
        .filter(contacts::database_id.eq(database_id))
        .order((contacts::name, contacts::id))
        .limit(PAGE_SIZE.fetch())
        .select(Contact::as_select())
        .into_boxed();
    let search = search.trim();
    if !search.is_empty() {
        let pattern = format!("%{}%", crate::platform::db::escape_like(search));
        // Numbers are stored in E.164: match typed digits without a national trunk 0.
        let digits: String = search.chars().filter(char::is_ascii_digit).collect();
        let digits = digits.trim_start_matches('0');
        let phone_pattern = if digits.len() < 3 {
            pattern.clone()
        } else {
            format!("%{digits}%")
        };
        query = query.filter(
            contacts::name
                .ilike(pattern.clone())
                .or(contacts::company.ilike(pattern.clone()))
                .or(contacts::email.ilike(pattern))
                .or(contacts::phone.like(phone_pattern.clone()))
                .or(contacts::mobile.like(phone_pattern)),
        );
    }
    if let Some((name, id)) = after {
        query = query.filter(
            contacts::name
                .gt(name.clone())
                .or(contacts::name.eq(name).and(contacts::id.gt(id))),
        );
    }
    query.load(conn)
}

/// The database's contacts among `ids` (others' contacts are left out), by name.
pub fn by_ids(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    ids: &[ContactId],
) -> QueryResult<Vec<Contact>> {
    contacts::table
        .filter(contacts::database_id.eq(database_id))
        .filter(contacts::id.eq_any(ids))
        .order((contacts::name, contacts::id))
        .select(Contact::as_select())
        .load(conn)
}

pub fn find(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    id: ContactId,
) -> QueryResult<Option<Contact>> {
    contacts::table
        .filter(contacts::id.eq(id))
        .filter(contacts::database_id.eq(database_id))
        .select(Contact::as_select())
        .first(conn)
        .optional()
}

pub fn create(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    c: &ValidContact,
) -> QueryResult<Contact> {
    Ok(create_many(conn, database_id, std::slice::from_ref(c))?.remove(0))
}

/// Creates several contacts of the database in one statement.
pub fn create_many(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    new: &[ValidContact],
) -> QueryResult<Vec<Contact>> {
    let rows: Vec<_> = new
        .iter()
        .map(|contact| ContactInsertForm {
            database_id,
            contact: contact.clone(),
        })
        .collect();
    diesel::insert_into(contacts::table)
        .values(&rows)
        .returning(Contact::as_returning())
        .get_results(conn)
}

/// Updates a contact of the database; `None` if it is not one of its contacts.
pub fn update(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    id: ContactId,
    c: &ValidContact,
) -> QueryResult<Option<Contact>> {
    diesel::update(
        contacts::table
            .filter(contacts::id.eq(id))
            .filter(contacts::database_id.eq(database_id)),
    )
    .set((c, contacts::updated_at.eq(diesel::dsl::now)))
    .returning(Contact::as_returning())
    .get_result(conn)
    .optional()
}

/// Deletes a contact of the database; false if it is not one of its contacts.
pub fn delete(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    id: ContactId,
) -> QueryResult<bool> {
    diesel::delete(
        contacts::table
            .filter(contacts::id.eq(id))
            .filter(contacts::database_id.eq(database_id)),
    )
    .execute(conn)
    .map(|n| n == 1)
}

/// The database's contacts as choices for a form (id and name, by name; at most 1,000).
pub fn choices(
    conn: &mut PgConnection,
    database_id: DatabaseId,
) -> QueryResult<Vec<(ContactId, String)>> {
    contacts::table
        .filter(contacts::database_id.eq(database_id))
        .order((contacts::name, contacts::id))
        .limit(1_000)
        .select((contacts::id, contacts::name))
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, mobile: &str, country: &str) -> ContactInput {
        ContactInput {
            name: name.into(),
            mobile: mobile.into(),
            country: country.into(),
            ..ContactInput::default()
        }
    }

    #[test]
    fn validation_explains_each_field() {
        let ok = input(" Ana ", "0470 12 34 56", "be").validate().unwrap();
        assert_eq!(
            (
                ok.name.as_str(),
                ok.mobile.as_deref(),
                ok.country.as_deref()
            ),
            ("Ana", Some("+32470123456"), Some("BE"))
        );
        let errors = input("", "12", "XX").validate().unwrap_err();
        assert!(errors.name.is_some() && errors.mobile.is_some() && errors.country.is_some());
        let errors = ContactInput {
            email: "nope".into(),
            ..input("A", "", "")
        }
        .validate()
        .unwrap_err();
        assert!(errors.email.is_some());
    }
}

//! Postage: what a letter costs to a country (its zone's price for its sheets, plus colour),
//! and which countries are served. The operator edits both; each change is audited. Owner of
//! `postage_zones` and `postage_countries`.

use diesel::prelude::*;
use serde_json::json;

use crate::domain::audit::{self, Action, Operator};
use crate::kernel::credits::Credits;
use crate::kernel::forms::{FieldErrors, FormError};
use crate::platform::schema::{postage_countries, postage_zones};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = postage_zones, check_for_backend(diesel::pg::Pg))]
pub struct Zone {
    pub zone: String,
    pub name: String,
    pub base_price: Credits,
    pub per_sheet: Credits,
    pub colour_per_page: Credits,
}

/// The options of a letter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Insertable)]
#[diesel(table_name = crate::platform::schema::letters, check_for_backend(diesel::pg::Pg))]
pub struct LetterOptions {
    pub colour: bool,
    pub duplex: bool,
    pub cover: bool,
}

/// Sheets of paper a letter of `pages` takes.
pub fn sheets(pages: i32, options: LetterOptions) -> i32 {
    let printed = if options.duplex {
        (pages + 1) / 2
    } else {
        pages
    };
    printed + i32::from(options.cover)
}

impl Zone {
    /// A letter of `pages` pages with these options.
    pub fn price(&self, pages: i32, options: LetterOptions) -> Credits {
        let extra_sheets = i64::from(sheets(pages, options) - 1).max(0);
        let colour = if options.colour { i64::from(pages) } else { 0 };
        Credits::from_units(
            self.base_price.units()
                + extra_sheets * self.per_sheet.units()
                + colour * self.colour_per_page.units(),
        )
    }
}

/// The zone that serves `country`, if one does.
pub fn zone_of(conn: &mut PgConnection, country: &str) -> QueryResult<Option<Zone>> {
    postage_countries::table
        .inner_join(postage_zones::table)
        .filter(postage_countries::country.eq(country))
        .select(Zone::as_select())
        .first(conn)
        .optional()
}

/// Every zone with the countries it serves.
pub fn table(conn: &mut PgConnection) -> QueryResult<Vec<(Zone, Vec<String>)>> {
    let zones: Vec<Zone> = postage_zones::table
        .order(postage_zones::base_price)
        .select(Zone::as_select())
        .load(conn)?;
    let countries: Vec<(String, String)> = postage_countries::table
        .order(postage_countries::country)
        .select((postage_countries::zone, postage_countries::country))
        .load(conn)?;
    Ok(zones
        .into_iter()
        .map(|z| {
            let served = countries
                .iter()
                .filter(|(zone, _)| *zone == z.zone)
                .map(|(_, c)| c.clone())
                .collect();
            (z, served)
        })
        .collect())
}

/// The zone form as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ZoneInput {
    #[serde(default)]
    pub base_price: String,
    #[serde(default)]
    pub per_sheet: String,
    #[serde(default)]
    pub colour_per_page: String,
    /// The countries it serves, as ISO codes separated by spaces or commas.
    #[serde(default)]
    pub countries: String,
}

fn zone_json(zone: &Zone, countries: &[String]) -> serde_json::Value {
    json!({
        "base_price": zone.base_price.to_form_text(),
        "per_sheet": zone.per_sheet.to_form_text(),
        "colour_per_page": zone.colour_per_page.to_form_text(),
        "countries": countries,
    })
}

/// The operator sets a zone's prices and countries (a country moves from its former zone);
/// audited with before and after.
pub fn update_zone(
    conn: &mut PgConnection,
    operator: &Operator,
    zone: &str,
    input: &ZoneInput,
) -> Result<Zone, FormError> {
    let mut errors = FieldErrors::default();
    let mut price = |field: &'static str, text: &str| match Credits::parse(text) {
        Ok(c) if c <= Credits::whole(1_000) => c,
        Ok(_) => {
            errors.add(field, "A price is at most 1,000 credits.");
            Credits::ZERO
        }
        Err(e) => {
            errors.add(field, format!("Enter the credits as a number: {e}."));
            Credits::ZERO
        }
    };
    let base_price = price("base_price", &input.base_price);
    let per_sheet = price("per_sheet", &input.per_sheet);
    let colour_per_page = price("colour_per_page", &input.colour_per_page);
    let mut countries: Vec<String> = Vec::new();
    for code in input
        .countries
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|c| !c.is_empty())
    {
        let code = code.to_uppercase();
        if code.len() != 2 || !crate::services::contacts::phone::is_known_country(&code) {
            errors.add(
                "countries",
                format!("“{code}” is not a two-letter country code."),
            );
        } else if !countries.contains(&code) {
            countries.push(code);
        }
    }
    errors.into_result().map_err(FormError::Invalid)?;
    conn.transaction(|conn| {
        let before: Zone = postage_zones::table
            .find(zone)
            .select(Zone::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(FormError::NotFound)?;
        let before_countries: Vec<String> = postage_countries::table
            .filter(postage_countries::zone.eq(zone))
            .order(postage_countries::country)
            .select(postage_countries::country)
            .load(conn)?;
        let after: Zone = diesel::update(postage_zones::table.find(zone))
            .set((
                postage_zones::base_price.eq(base_price),
                postage_zones::per_sheet.eq(per_sheet),
                postage_zones::colour_per_page.eq(colour_per_page),
                postage_zones::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Zone::as_returning())
            .get_result(conn)?;
        // The zone's countries become exactly these: a country named here leaves its former
        // zone.
        diesel::delete(
            postage_countries::table.filter(
                postage_countries::zone
                    .eq(zone)
                    .or(postage_countries::country.eq_any(&countries)),
            ),
        )
        .execute(conn)?;
        let rows: Vec<_> = countries
            .iter()
            .map(|country| {
                (
                    postage_countries::country.eq(country),
                    postage_countries::zone.eq(zone),
                )
            })
            .collect();
        if !rows.is_empty() {
            diesel::insert_into(postage_countries::table)
                .values(&rows)
                .execute(conn)?;
        }
        audit::record(
            conn,
            operator,
            Action {
                action: "postage.update",
                subject: format!("postage_zone:{zone}"),
                database_id: None,
                reason: None,
                before: Some(zone_json(&before, &before_countries)),
                after: Some(zone_json(&after, &countries)),
            },
        )?;
        Ok(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Zone {
        Zone {
            zone: "europe".into(),
            name: "Europe".into(),
            base_price: Credits::from_units(15_000),
            per_sheet: Credits::from_units(1_500),
            colour_per_page: Credits::from_units(1_000),
        }
    }

    #[test]
    fn a_letter_costs_its_sheets_and_its_colour_pages() {
        let z = zone();
        let plain = LetterOptions::default();
        assert_eq!(z.price(1, plain).units(), 15_000);
        assert_eq!(z.price(3, plain).units(), 15_000 + 2 * 1_500);
        let duplex = LetterOptions {
            duplex: true,
            ..plain
        };
        assert_eq!(sheets(3, duplex), 2);
        assert_eq!(z.price(3, duplex).units(), 15_000 + 1_500);
        let all = LetterOptions {
            colour: true,
            duplex: true,
            cover: true,
        };
        assert_eq!(sheets(4, all), 3);
        assert_eq!(z.price(4, all).units(), 15_000 + 2 * 1_500 + 4 * 1_000);
    }
}

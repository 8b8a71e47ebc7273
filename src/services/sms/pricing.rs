//! What an SMS costs: its parts times the price per part of its destination country. Owner of
//! `sms_prices` (a '*' row for every other country), which the operator edits (audited).

use diesel::prelude::*;
use serde_json::json;

use super::encoding::SmsCount;
use crate::domain::audit::{self, Action, Operator};
use crate::kernel::credits::Credits;
use crate::kernel::forms::{self, FieldErrors, FormError};
use crate::platform::schema::sms_prices;

/// The row holding the price for countries without a row of their own.
pub const OTHER_COUNTRIES: &str = "*";

#[derive(Debug, Clone, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = sms_prices, check_for_backend(diesel::pg::Pg))]
pub struct CountryPrice {
    pub country_code: String,
    pub country_name: String,
    pub price: Credits,
}

/// The price per SMS part to `country` (ISO 3166 alpha-2), or the price for other countries.
pub fn price_per_part(conn: &mut PgConnection, country: Option<&str>) -> QueryResult<CountryPrice> {
    let code = country.map(str::to_ascii_uppercase).unwrap_or_default();
    sms_prices::table
        .filter(sms_prices::country_code.eq_any([code.as_str(), OTHER_COUNTRIES]))
        // The country's own row first, then '*'.
        .order(sms_prices::country_code.eq(OTHER_COUNTRIES))
        .select(CountryPrice::as_select())
        .first(conn)
}

/// The price per part to `country` in a loaded price table: its own row, else the '*' row.
pub fn price_in(prices: &[CountryPrice], country: Option<&str>) -> Credits {
    let code = country.map(str::to_ascii_uppercase).unwrap_or_default();
    prices
        .iter()
        .find(|p| p.country_code == code)
        .or_else(|| prices.iter().find(|p| p.country_code == OTHER_COUNTRIES))
        .map_or(Credits::ZERO, |p| p.price)
}

/// Every price, by country name, the other countries last.
pub fn all_prices(conn: &mut PgConnection) -> QueryResult<Vec<CountryPrice>> {
    sms_prices::table
        .order((
            sms_prices::country_code.eq(OTHER_COUNTRIES),
            sms_prices::country_name,
        ))
        .select(CountryPrice::as_select())
        .load(conn)
}

/// An SMS price form as typed: a country (code and name) and its price per SMS part.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SmsPriceInput {
    #[serde(default)]
    pub country_code: String,
    #[serde(default)]
    pub country_name: String,
    #[serde(default)]
    pub price: String,
}

/// A country's price as the operator sets it (new or changed; the code never changes).
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = sms_prices)]
struct SmsPriceForm<'a> {
    country_code: &'a str,
    country_name: &'a str,
    price: Credits,
}

/// Sets the price of a country (adding it when new); `*` is every other country.
pub fn set_price(
    conn: &mut PgConnection,
    operator: &Operator,
    input: &SmsPriceInput,
) -> Result<CountryPrice, FormError> {
    let mut errors = FieldErrors::default();
    let code = input.country_code.trim().to_uppercase();
    let is_code = code == "*" || (code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()));
    if !is_code {
        errors.add(
            "country_code",
            "The country is a two-letter ISO code, like FR (or * for every other country).",
        );
    }
    let name = forms::required(
        &mut errors,
        "country_name",
        "country name",
        &input.country_name,
        100,
    );
    let price = match Credits::parse(input.price.trim()) {
        Ok(p) if p > Credits::ZERO => p,
        Ok(_) => {
            errors.add("price", "An SMS costs more than 0 credits.");
            Credits::ZERO
        }
        Err(e) => {
            errors.add("price", format!("Price: {e}."));
            Credits::ZERO
        }
    };
    errors.into_result().map_err(FormError::Invalid)?;
    conn.transaction(|conn| {
        let before: Option<CountryPrice> = sms_prices::table
            .find(&code)
            .select(CountryPrice::as_select())
            .for_update()
            .first(conn)
            .optional()?;
        let form = SmsPriceForm {
            country_code: &code,
            country_name: &name,
            price,
        };
        let after: CountryPrice = diesel::insert_into(sms_prices::table)
            .values(&form)
            .on_conflict(sms_prices::country_code)
            .do_update()
            .set((&form, sms_prices::updated_at.eq(diesel::dsl::now)))
            .returning(CountryPrice::as_returning())
            .get_result(conn)?;
        let as_json =
            |p: &CountryPrice| json!({"country": p.country_name, "price": p.price.to_string()});
        audit::record(
            conn,
            operator,
            Action {
                action: "sms_price.set",
                subject: format!("sms_price:{code}"),
                database_id: None,
                reason: None,
                before: before.as_ref().map(as_json),
                after: Some(as_json(&after)),
            },
        )?;
        Ok(after)
    })
}

/// parts × price per part, exactly.
pub fn cost(count: &SmsCount, price_per_part: Credits) -> Credits {
    let parts = i64::try_from(count.parts).unwrap_or(i64::MAX);
    Credits::from_units(price_per_part.units().saturating_mul(parts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::sms::encoding::count;

    #[test]
    fn cost_is_parts_times_price() {
        let price = Credits::parse("0.0826").unwrap();
        assert_eq!(cost(&count("Hello"), price), price);
        assert_eq!(cost(&count(&"a".repeat(161)), price).to_string(), "0.1652");
        assert_eq!(cost(&count(""), price), Credits::ZERO);
    }
}

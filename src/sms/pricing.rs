//! What an SMS costs: its parts times the price per part of its destination country (the
//! `sms_prices` table, with a '*' row for every other country).

use diesel::prelude::*;

use super::encoding::SmsCount;
use crate::credits::Credits;
use crate::schema::sms_prices;

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

/// parts × price per part, exactly.
pub fn cost(count: &SmsCount, price_per_part: Credits) -> Credits {
    let parts = i64::try_from(count.parts).unwrap_or(i64::MAX);
    Credits::from_units(price_per_part.units().saturating_mul(parts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sms::encoding::count;

    #[test]
    fn cost_is_parts_times_price() {
        let price = Credits::parse("0.0826").unwrap();
        assert_eq!(cost(&count("Hello"), price), price);
        assert_eq!(cost(&count(&"a".repeat(161)), price).to_string(), "0.1652");
        assert_eq!(cost(&count(""), price), Credits::ZERO);
    }
}

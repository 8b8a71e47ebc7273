//! The simulated provider's directory, generated: deterministic (company `n` is the same on
//! every machine, from a ChaCha8 generator seeded with `n`), in 20 countries, each with its own
//! address format, legal forms, phone prefix and VAT check (`vat`). The tables it draws from
//! are in `data`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::data::{COUNTRIES, DEPARTMENTS, INDUSTRIES, NAME_ENDINGS, SENIORITIES, SYLLABLES};
use super::vat;

/// How many companies the directory holds.
pub const COMPANIES: u64 = 20_000;

/// A generated company, with its people.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedCompany {
    pub name: String,
    pub legal_form: String,
    pub country_code: String,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub vat: Option<String>,
    /// Before de-duplication (the seed makes it unique).
    pub domain: String,
    pub phone: String,
    pub industry: String,
    pub employees: i32,
    pub founded: i32,
    pub people: Vec<GeneratedPerson>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedPerson {
    pub name: String,
    pub job_title: String,
    pub seniority: String,
    pub department: String,
    /// The local part; the email is `<local>@<the company's domain>`.
    pub email_local: String,
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Lowercase ASCII letters and digits of `text` (for domains and emails).
pub fn ascii_slug(text: &str) -> String {
    text.chars()
        .filter_map(|c| {
            let c = match c {
                'à' | 'á' | 'â' | 'ä' | 'å' => 'a',
                'é' | 'è' | 'ê' | 'ë' | 'ě' => 'e',
                'í' | 'ì' | 'î' | 'ï' => 'i',
                'ó' | 'ò' | 'ô' | 'ö' | 'ø' => 'o',
                'ú' | 'ù' | 'û' | 'ü' | 'ů' => 'u',
                'ç' | 'č' | 'ć' => 'c',
                'ñ' | 'ń' | 'ň' => 'n',
                'š' | 'ś' => 's',
                'ž' | 'ź' | 'ż' => 'z',
                'ř' => 'r',
                'ł' => 'l',
                'ý' => 'y',
                'ß' => 's',
                'æ' => 'a',
                other => other.to_ascii_lowercase(),
            };
            c.is_ascii_alphanumeric().then_some(c)
        })
        .collect()
}

/// Company number `n`: the same on every machine.
pub fn company(n: u64) -> GeneratedCompany {
    let mut rng = ChaCha8Rng::seed_from_u64(n);
    let country = &COUNTRIES[rng.random_range(0..COUNTRIES.len())];
    let syllables = rng.random_range(2..4);
    let stem: String = (0..syllables).map(|_| pick(&mut rng, SYLLABLES)).collect();
    let name = format!("{}{}", capitalised(&stem), pick(&mut rng, NAME_ENDINGS));
    let legal_form = pick(&mut rng, country.legal_forms).to_string();
    let (city, postal_code) = country.cities[rng.random_range(0..country.cities.len())];
    let street_name = pick(&mut rng, country.streets);
    let number = rng.random_range(1..250);
    let street = if country.number_first {
        format!("{number} {street_name}")
    } else {
        format!("{street_name} {number}")
    };
    let random: Vec<u32> = (0..16).map(|_| rng.random_range(0..10)).collect();
    let vat = vat::make(country.code, &random);
    let domain = format!("{}{}", ascii_slug(&name), country.tld);
    let phone = format!(
        "{} {:03} {:02} {:02}",
        country.phone,
        rng.random_range(100..1000),
        rng.random_range(0..100),
        rng.random_range(0..100)
    );
    let industry = INDUSTRIES[rng.random_range(0..INDUSTRIES.len())]
        .0
        .to_string();
    // Most companies are small: 1 to 50,000 people, log-uniform.
    let employees = 10f64.powf(rng.random_range(0.0..4.7)).round() as i32;
    let founded = rng.random_range(1900..2025);
    let people = (0..rng.random_range(0..=8))
        .map(|_| {
            let first = pick(&mut rng, country.first_names);
            let last = pick(&mut rng, country.last_names);
            let seniority = pick(&mut rng, SENIORITIES);
            let department = pick(&mut rng, DEPARTMENTS);
            GeneratedPerson {
                name: format!("{first} {last}"),
                job_title: job_title(seniority, department),
                seniority: seniority.into(),
                department: department.into(),
                email_local: format!("{}.{}", ascii_slug(first), ascii_slug(last)),
            }
        })
        .collect();
    GeneratedCompany {
        name,
        legal_form,
        country_code: country.code.into(),
        street,
        postal_code: postal_code.into(),
        city: city.into(),
        vat,
        domain,
        phone,
        industry,
        employees: employees.max(1),
        founded,
        people,
    }
}

fn job_title(seniority: &str, department: &str) -> String {
    let area = match department {
        "sales" => "Sales",
        "marketing" => "Marketing",
        "finance" => "Finance",
        "operations" => "Operations",
        "engineering" => "Engineering",
        "human_resources" => "People",
        _ => "General Management",
    };
    match seniority {
        "junior" => format!("{area} Associate"),
        "senior" => format!("Senior {area} Specialist"),
        "manager" => format!("{area} Manager"),
        "director" => format!("Director of {area}"),
        _ if department == "management" => "Chief Executive Officer".into(),
        _ => format!("Chief {area} Officer"),
    }
}

/// A company's logo: its initials on a colour of its own, as a small SVG.
pub fn logo_svg(name: &str, seed: i64) -> String {
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .collect::<String>()
        .to_uppercase();
    let hue = seed.rem_euclid(360);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" height=\"64\" viewBox=\"0 0 64 64\" role=\"img\" aria-label=\"{name}\"><rect width=\"64\" height=\"64\" rx=\"12\" fill=\"hsl({hue},55%,42%)\"/><text x=\"32\" y=\"41\" font-family=\"sans-serif\" font-size=\"24\" font-weight=\"700\" text-anchor=\"middle\" fill=\"#fff\">{initials}</text></svg>",
        name = name
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('"', "&quot;")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn companies_are_the_same_every_time_and_look_like_their_country() {
        assert_eq!(company(42), company(42));
        assert_ne!(company(42), company(43));
        let mut countries = std::collections::HashSet::new();
        for n in 0..2_000 {
            let c = company(n);
            countries.insert(c.country_code.clone());
            if let Some(vat) = &c.vat {
                assert!(vat::is_valid(&c.country_code, vat), "{c:?}");
            }
            assert!(c.people.len() <= 8);
            assert!((1..=50_119).contains(&c.employees), "{c:?}");
            for p in &c.people {
                assert!(!p.email_local.is_empty() && p.email_local.is_ascii());
            }
            assert!(c.domain.is_ascii() && c.domain.contains('.'));
        }
        assert!(countries.len() >= 20, "{countries:?}");
        let us = (0..200)
            .map(company)
            .find(|c| c.country_code == "US")
            .unwrap();
        assert!(
            us.street.starts_with(|ch: char| ch.is_ascii_digit()),
            "{}",
            us.street
        );
        assert!(us.vat.is_none(), "no VAT in the United States");
        let de = (0..200)
            .map(company)
            .find(|c| c.country_code == "DE")
            .unwrap();
        assert!(
            de.street.ends_with(|ch: char| ch.is_ascii_digit()),
            "{}",
            de.street
        );
    }

    #[test]
    fn a_logo_is_an_svg_with_the_initials() {
        let svg = logo_svg("Marsol Systems", 7);
        assert!(svg.starts_with("<svg") && svg.contains(">MS</text>"));
        assert!(logo_svg("<script>", 1).contains("&lt;script>"));
    }
}

//! The simulated provider's directory, generated: deterministic (company `n` is the same on
//! every machine, from a ChaCha8 generator seeded with `n`), in 20 countries, each with its own
//! address format, legal forms, phone prefix and VAT check (`vat`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::vat;

/// How many companies the directory holds.
pub const COMPANIES: u64 = 20_000;

/// What a country's companies look like.
pub struct Country {
    pub code: &'static str,
    pub name: &'static str,
    phone: &'static str,
    tld: &'static str,
    legal_forms: &'static [&'static str],
    /// (city, postal code)
    cities: &'static [(&'static str, &'static str)],
    streets: &'static [&'static str],
    /// "12 Main Street" rather than "Hauptstraße 12".
    number_first: bool,
    first_names: &'static [&'static str],
    last_names: &'static [&'static str],
}

pub const COUNTRIES: &[Country] = &[
    Country {
        code: "BE",
        name: "Belgium",
        phone: "+32 2",
        tld: ".be",
        legal_forms: &["SA", "SRL", "BV"],
        cities: &[
            ("Brussels", "1000"),
            ("Antwerp", "2000"),
            ("Ghent", "9000"),
            ("Liège", "4000"),
            ("Namur", "5000"),
            ("Leuven", "3000"),
        ],
        streets: &[
            "Rue de la Loi",
            "Avenue Louise",
            "Meir",
            "Korenmarkt",
            "Rue Neuve",
            "Bondgenotenlaan",
        ],
        number_first: false,
        first_names: &["Lucas", "Emma", "Arthur", "Louise", "Noah", "Olivia"],
        last_names: &["Peeters", "Janssens", "Maes", "Dubois", "Lambert", "Claes"],
    },
    Country {
        code: "DE",
        name: "Germany",
        phone: "+49 30",
        tld: ".de",
        legal_forms: &["GmbH", "AG", "KG"],
        cities: &[
            ("Berlin", "10115"),
            ("Hamburg", "20095"),
            ("München", "80331"),
            ("Köln", "50667"),
            ("Frankfurt am Main", "60311"),
            ("Leipzig", "04109"),
        ],
        streets: &[
            "Hauptstraße",
            "Bahnhofstraße",
            "Schillerstraße",
            "Gartenweg",
            "Lindenallee",
            "Industriestraße",
        ],
        number_first: false,
        first_names: &["Lukas", "Anna", "Felix", "Lena", "Jonas", "Marie"],
        last_names: &[
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Becker",
        ],
    },
    Country {
        code: "FR",
        name: "France",
        phone: "+33 1",
        tld: ".fr",
        legal_forms: &["SAS", "SARL", "SA"],
        cities: &[
            ("Paris", "75002"),
            ("Lyon", "69002"),
            ("Marseille", "13001"),
            ("Toulouse", "31000"),
            ("Nantes", "44000"),
            ("Lille", "59000"),
        ],
        streets: &[
            "rue de la République",
            "avenue Victor Hugo",
            "boulevard Voltaire",
            "rue Nationale",
            "place Bellecour",
            "rue du Commerce",
        ],
        number_first: true,
        first_names: &["Gabriel", "Jade", "Léo", "Louise", "Raphaël", "Alice"],
        last_names: &["Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard"],
    },
    Country {
        code: "NL",
        name: "Netherlands",
        phone: "+31 20",
        tld: ".nl",
        legal_forms: &["B.V.", "N.V."],
        cities: &[
            ("Amsterdam", "1012 AB"),
            ("Rotterdam", "3011 AD"),
            ("Utrecht", "3511 LX"),
            ("Eindhoven", "5611 EM"),
            ("Groningen", "9711 LV"),
            ("Den Haag", "2511 CS"),
        ],
        streets: &[
            "Kalverstraat",
            "Damrak",
            "Coolsingel",
            "Oudegracht",
            "Stationsplein",
            "Herengracht",
        ],
        number_first: false,
        first_names: &["Daan", "Julia", "Sem", "Mila", "Finn", "Tess"],
        last_names: &[
            "de Jong",
            "Jansen",
            "de Vries",
            "van den Berg",
            "Bakker",
            "Visser",
        ],
    },
    Country {
        code: "IT",
        name: "Italy",
        phone: "+39 02",
        tld: ".it",
        legal_forms: &["S.r.l.", "S.p.A."],
        cities: &[
            ("Milano", "20121"),
            ("Roma", "00184"),
            ("Torino", "10121"),
            ("Bologna", "40121"),
            ("Firenze", "50123"),
            ("Napoli", "80133"),
        ],
        streets: &[
            "Via Roma",
            "Corso Italia",
            "Via Garibaldi",
            "Via Dante",
            "Piazza del Duomo",
            "Via Mazzini",
        ],
        number_first: false,
        first_names: &[
            "Leonardo",
            "Sofia",
            "Francesco",
            "Giulia",
            "Alessandro",
            "Aurora",
        ],
        last_names: &["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano"],
    },
    Country {
        code: "GB",
        name: "United Kingdom",
        phone: "+44 20",
        tld: ".co.uk",
        legal_forms: &["Ltd", "PLC", "LLP"],
        cities: &[
            ("London", "EC1A 1BB"),
            ("Manchester", "M1 1AE"),
            ("Leeds", "LS1 4DY"),
            ("Bristol", "BS1 4DJ"),
            ("Edinburgh", "EH1 1YZ"),
            ("Birmingham", "B1 1AA"),
        ],
        streets: &[
            "High Street",
            "Station Road",
            "Church Lane",
            "King Street",
            "Victoria Road",
            "Queen Street",
        ],
        number_first: true,
        first_names: &["Oliver", "Amelia", "George", "Isla", "Harry", "Ava"],
        last_names: &["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson"],
    },
    Country {
        code: "AT",
        name: "Austria",
        phone: "+43 1",
        tld: ".at",
        legal_forms: &["GmbH", "AG"],
        cities: &[
            ("Wien", "1010"),
            ("Graz", "8010"),
            ("Linz", "4020"),
            ("Salzburg", "5020"),
            ("Innsbruck", "6020"),
        ],
        streets: &[
            "Kärntner Straße",
            "Mariahilfer Straße",
            "Landstraße",
            "Herrengasse",
            "Getreidegasse",
        ],
        number_first: false,
        first_names: &["Maximilian", "Anna", "David", "Laura", "Tobias", "Sophie"],
        last_names: &["Gruber", "Huber", "Bauer", "Wagner", "Pichler", "Steiner"],
    },
    Country {
        code: "DK",
        name: "Denmark",
        phone: "+45",
        tld: ".dk",
        legal_forms: &["ApS", "A/S"],
        cities: &[
            ("København", "1050"),
            ("Aarhus", "8000"),
            ("Odense", "5000"),
            ("Aalborg", "9000"),
        ],
        streets: &[
            "Strøget",
            "Vesterbrogade",
            "Nørregade",
            "Søndergade",
            "Havnegade",
        ],
        number_first: false,
        first_names: &["William", "Ida", "Noah", "Emma", "Oscar", "Freja"],
        last_names: &[
            "Nielsen", "Jensen", "Hansen", "Pedersen", "Andersen", "Larsen",
        ],
    },
    Country {
        code: "NO",
        name: "Norway",
        phone: "+47",
        tld: ".no",
        legal_forms: &["AS", "ASA"],
        cities: &[
            ("Oslo", "0150"),
            ("Bergen", "5003"),
            ("Trondheim", "7011"),
            ("Stavanger", "4006"),
        ],
        streets: &[
            "Karl Johans gate",
            "Storgata",
            "Bryggen",
            "Kongens gate",
            "Strandgata",
        ],
        number_first: false,
        first_names: &["Jakob", "Nora", "Emil", "Sofie", "Filip", "Ella"],
        last_names: &["Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Berg"],
    },
    Country {
        code: "PL",
        name: "Poland",
        phone: "+48 22",
        tld: ".pl",
        legal_forms: &["sp. z o.o.", "S.A."],
        cities: &[
            ("Warszawa", "00-001"),
            ("Kraków", "30-001"),
            ("Wrocław", "50-001"),
            ("Poznań", "60-001"),
            ("Gdańsk", "80-001"),
        ],
        streets: &[
            "ul. Marszałkowska",
            "ul. Floriańska",
            "ul. Długa",
            "ul. Piotrkowska",
            "ul. Świętojańska",
        ],
        number_first: false,
        first_names: &["Antoni", "Zuzanna", "Jan", "Julia", "Aleksander", "Maja"],
        last_names: &[
            "Nowak",
            "Kowalski",
            "Wiśniewski",
            "Wójcik",
            "Kamiński",
            "Lewandowski",
        ],
    },
    Country {
        code: "PT",
        name: "Portugal",
        phone: "+351 21",
        tld: ".pt",
        legal_forms: &["Lda.", "S.A."],
        cities: &[
            ("Lisboa", "1100-148"),
            ("Porto", "4000-322"),
            ("Braga", "4700-035"),
            ("Coimbra", "3000-150"),
        ],
        streets: &[
            "Rua Augusta",
            "Avenida da Liberdade",
            "Rua de Santa Catarina",
            "Rua do Ouro",
            "Avenida dos Aliados",
        ],
        number_first: false,
        first_names: &[
            "Francisco",
            "Maria",
            "Santiago",
            "Leonor",
            "Tomás",
            "Matilde",
        ],
        last_names: &[
            "Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa",
        ],
    },
    Country {
        code: "FI",
        name: "Finland",
        phone: "+358 9",
        tld: ".fi",
        legal_forms: &["Oy", "Oyj"],
        cities: &[
            ("Helsinki", "00100"),
            ("Espoo", "02100"),
            ("Tampere", "33100"),
            ("Turku", "20100"),
        ],
        streets: &[
            "Mannerheimintie",
            "Aleksanterinkatu",
            "Hämeenkatu",
            "Esplanadi",
            "Kauppakatu",
        ],
        number_first: false,
        first_names: &["Eino", "Aino", "Leo", "Helmi", "Väinö", "Aada"],
        last_names: &[
            "Korhonen",
            "Virtanen",
            "Mäkinen",
            "Nieminen",
            "Mäkelä",
            "Hämäläinen",
        ],
    },
    Country {
        code: "SE",
        name: "Sweden",
        phone: "+46 8",
        tld: ".se",
        legal_forms: &["AB"],
        cities: &[
            ("Stockholm", "111 52"),
            ("Göteborg", "411 01"),
            ("Malmö", "211 20"),
            ("Uppsala", "753 20"),
        ],
        streets: &[
            "Drottninggatan",
            "Kungsgatan",
            "Storgatan",
            "Sveavägen",
            "Avenyn",
        ],
        number_first: false,
        first_names: &["Hugo", "Alice", "Elias", "Maja", "Lucas", "Vera"],
        last_names: &[
            "Andersson",
            "Johansson",
            "Karlsson",
            "Nilsson",
            "Eriksson",
            "Larsson",
        ],
    },
    Country {
        code: "CH",
        name: "Switzerland",
        phone: "+41 44",
        tld: ".ch",
        legal_forms: &["AG", "GmbH", "SA"],
        cities: &[
            ("Zürich", "8001"),
            ("Genève", "1201"),
            ("Basel", "4051"),
            ("Bern", "3011"),
            ("Lausanne", "1003"),
        ],
        streets: &[
            "Bahnhofstrasse",
            "Rue du Rhône",
            "Marktgasse",
            "Freie Strasse",
            "Rue de Bourg",
        ],
        number_first: false,
        first_names: &["Noah", "Mia", "Liam", "Emma", "Matteo", "Lina"],
        last_names: &["Müller", "Meier", "Schmid", "Keller", "Weber", "Huber"],
    },
    Country {
        code: "LU",
        name: "Luxembourg",
        phone: "+352",
        tld: ".lu",
        legal_forms: &["S.à r.l.", "S.A."],
        cities: &[
            ("Luxembourg", "L-1118"),
            ("Esch-sur-Alzette", "L-4001"),
            ("Differdange", "L-4501"),
        ],
        streets: &[
            "Grand-Rue",
            "Avenue de la Liberté",
            "Boulevard Royal",
            "Rue de l'Alzette",
        ],
        number_first: true,
        first_names: &["Gabriel", "Emma", "Leo", "Mia", "Louis", "Zoé"],
        last_names: &["Schmit", "Muller", "Weber", "Hoffmann", "Wagner", "Thill"],
    },
    Country {
        code: "CZ",
        name: "Czechia",
        phone: "+420 2",
        tld: ".cz",
        legal_forms: &["s.r.o.", "a.s."],
        cities: &[
            ("Praha", "110 00"),
            ("Brno", "602 00"),
            ("Ostrava", "702 00"),
            ("Plzeň", "301 00"),
        ],
        streets: &[
            "Václavské náměstí",
            "Národní",
            "Masarykova",
            "Nádražní",
            "Husova",
        ],
        number_first: false,
        first_names: &["Jakub", "Eliška", "Jan", "Tereza", "Tomáš", "Anna"],
        last_names: &[
            "Novák",
            "Svoboda",
            "Novotný",
            "Dvořák",
            "Černý",
            "Procházka",
        ],
    },
    Country {
        code: "ES",
        name: "Spain",
        phone: "+34 91",
        tld: ".es",
        legal_forms: &["S.L.", "S.A."],
        cities: &[
            ("Madrid", "28013"),
            ("Barcelona", "08002"),
            ("Valencia", "46002"),
            ("Sevilla", "41001"),
            ("Bilbao", "48001"),
        ],
        streets: &[
            "Calle Mayor",
            "Gran Vía",
            "Paseo de Gracia",
            "Calle Real",
            "Avenida de la Constitución",
        ],
        number_first: false,
        first_names: &["Hugo", "Lucía", "Martín", "Sofía", "Mateo", "Martina"],
        last_names: &[
            "García",
            "Rodríguez",
            "González",
            "Fernández",
            "López",
            "Martínez",
        ],
    },
    Country {
        code: "US",
        name: "United States",
        phone: "+1 415",
        tld: ".com",
        legal_forms: &["Inc.", "LLC", "Corp."],
        cities: &[
            ("San Francisco, CA", "94105"),
            ("New York, NY", "10001"),
            ("Austin, TX", "78701"),
            ("Chicago, IL", "60601"),
            ("Seattle, WA", "98101"),
            ("Boston, MA", "02108"),
        ],
        streets: &[
            "Main Street",
            "Market Street",
            "Broadway",
            "Oak Avenue",
            "Maple Drive",
            "Elm Street",
        ],
        number_first: true,
        first_names: &["Liam", "Olivia", "Noah", "Emma", "James", "Charlotte"],
        last_names: &["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller"],
    },
    Country {
        code: "CA",
        name: "Canada",
        phone: "+1 416",
        tld: ".ca",
        legal_forms: &["Inc.", "Ltd."],
        cities: &[
            ("Toronto, ON", "M5H 2N2"),
            ("Montréal, QC", "H2Y 1C6"),
            ("Vancouver, BC", "V6B 1A1"),
            ("Calgary, AB", "T2P 1J9"),
        ],
        streets: &[
            "King Street West",
            "Rue Sainte-Catherine",
            "Granville Street",
            "Yonge Street",
            "Bay Street",
        ],
        number_first: true,
        first_names: &["Liam", "Olivia", "Jacob", "Emma", "William", "Chloé"],
        last_names: &["Smith", "Tremblay", "Martin", "Roy", "Wilson", "Gagnon"],
    },
    Country {
        code: "AU",
        name: "Australia",
        phone: "+61 2",
        tld: ".com.au",
        legal_forms: &["Pty Ltd", "Ltd"],
        cities: &[
            ("Sydney NSW", "2000"),
            ("Melbourne VIC", "3000"),
            ("Brisbane QLD", "4000"),
            ("Perth WA", "6000"),
            ("Adelaide SA", "5000"),
        ],
        streets: &[
            "George Street",
            "Collins Street",
            "Queen Street",
            "Hay Street",
            "King William Street",
        ],
        number_first: true,
        first_names: &["Oliver", "Charlotte", "Jack", "Amelia", "William", "Isla"],
        last_names: &["Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor"],
    },
];

/// NACE Rev. 2 sections: (letter, name).
pub const INDUSTRIES: &[(&str, &str)] = &[
    ("A", "Agriculture, forestry and fishing"),
    ("C", "Manufacturing"),
    ("D", "Electricity, gas, steam and air conditioning supply"),
    ("F", "Construction"),
    ("G", "Wholesale and retail trade"),
    ("H", "Transportation and storage"),
    ("I", "Accommodation and food service activities"),
    ("J", "Information and communication"),
    ("K", "Financial and insurance activities"),
    ("L", "Real estate activities"),
    ("M", "Professional, scientific and technical activities"),
    ("N", "Administrative and support service activities"),
    ("P", "Education"),
    ("Q", "Human health and social work activities"),
    ("R", "Arts, entertainment and recreation"),
];

const SYLLABLES: &[&str] = &[
    "ar", "bel", "cor", "dan", "el", "fa", "gen", "hal", "is", "jun", "kal", "lum", "mar", "nor",
    "or", "pel", "quin", "ros", "sol", "tar", "ul", "ven", "wil", "xen", "yor", "zan", "tek", "vo",
    "lin", "ra", "mi", "so", "ta", "neo", "pro", "ver", "dal", "cas", "ter", "nova",
];
const NAME_ENDINGS: &[&str] = &[
    "",
    " Systems",
    " Group",
    " Solutions",
    " Partners",
    " Industries",
    " Labs",
    " Logistics",
    " Foods",
    " Energy",
    " Consulting",
    " Works",
    " Trading",
    " Health",
    " Digital",
    " Bouw",
];

pub const SENIORITIES: &[&str] = &["junior", "senior", "manager", "director", "executive"];
pub const DEPARTMENTS: &[&str] = &[
    "sales",
    "marketing",
    "finance",
    "operations",
    "engineering",
    "human_resources",
    "management",
];

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

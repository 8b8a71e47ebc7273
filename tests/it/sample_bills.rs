//! Real-looking vendor bills for the digitization tests: each from a company of the directory
//! (its name, address and a VAT number that passes its country's check), in its country's way
//! of writing dates and amounts, with varied labels. As a PDF with a text layer (lopdf), and as
//! a PNG rendered from it (Debian's pdftoppm), like a scan.
//!
//! The PDFs embed the font they are drawn with (DejaVu, from Debian's fonts-dejavu-core, which
//! `.ci/run` installs): a font only named would be drawn with whatever font the machine's
//! fontconfig picks, and the scans — and what OCR reads of them — would differ from machine to
//! machine.

use chrono::NaiveDate;
use diesel::PgConnection;
use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

/// A bill and what a reader should find on it.
#[derive(Debug, Clone)]
pub struct SampleBill {
    pub vendor: String,
    pub vat: Option<String>,
    pub number: String,
    pub date: NaiveDate,
    pub due: NaiveDate,
    pub currency: &'static str,
    pub total_minor: i64,
    pub tax_minor: i64,
    /// The bill's text, line by line, as printed.
    pub lines: Vec<String>,
}

const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn date_text(country: &str, d: NaiveDate) -> String {
    use chrono::Datelike;
    match country {
        "US" | "CA" => format!("{} {}, {}", MONTHS[d.month0() as usize], d.day(), d.year()),
        "GB" | "AU" => format!("{} {} {}", d.day(), MONTHS[d.month0() as usize], d.year()),
        "DE" | "AT" | "CH" | "NO" | "DK" | "FI" | "PL" | "CZ" => d.format("%d.%m.%Y").to_string(),
        "FR" | "BE" | "ES" | "IT" | "PT" | "LU" => d.format("%d/%m/%Y").to_string(),
        _ => d.format("%Y-%m-%d").to_string(),
    }
}

fn amount_text(country: &str, minor: i64) -> String {
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(match country {
                "US" | "GB" | "AU" | "CA" => ',',
                "CH" => '\'',
                "FR" | "SE" | "FI" | "CZ" | "PL" | "LU" | "NO" => ' ',
                _ => '.',
            });
        }
        grouped.push(c);
    }
    let decimal = match country {
        "US" | "GB" | "AU" | "CA" | "CH" => '.',
        _ => ',',
    };
    format!("{grouped}{decimal}{:02}", minor % 100)
}

fn currency_of(country: &str) -> &'static str {
    match country {
        "US" => "USD",
        "GB" => "GBP",
        "CH" => "CHF",
        "SE" => "SEK",
        "DK" => "DKK",
        "NO" => "NOK",
        "PL" => "PLN",
        "CZ" => "CZK",
        "CA" => "CAD",
        "AU" => "AUD",
        _ => "EUR",
    }
}

/// Bill number `n`: deterministic, varied.
pub fn sample(conn: &mut PgConnection, n: u64) -> SampleBill {
    let company = iap_credits::services::directory::company(
        conn,
        iap_credits::kernel::ids::CompanyId((n * 193 % 19_000 + 1) as i64),
    )
    .unwrap()
    .unwrap();
    let country = company.country_code.as_str();
    let date = NaiveDate::from_ymd_opt(2026, 1 + (n % 12) as u32, 1 + (n * 7 % 28) as u32).unwrap();
    let due = date + chrono::Duration::days([14, 30, 45, 60][(n % 4) as usize]);
    let number = match n % 4 {
        0 => format!("INV-2026-{:05}", 17 + n * 13),
        1 => format!("F2026/{:04}", 100 + n),
        2 => format!("{}", 26_000 + n * 7),
        _ => format!("RE{:06}", 3_000 + n * 31),
    };
    let currency = currency_of(country);
    let items = [
        (
            "Consulting services",
            2 + n % 5,
            12_500 + (n as i64 % 7) * 1_000,
        ),
        ("Office supplies", 1 + n % 9, 1_999 + (n as i64 % 13) * 100),
        ("Software licence", 1, 49_900 + (n as i64 % 3) * 10_000),
    ];
    let rate = [21, 19, 20, 10, 25][(n % 5) as usize];
    let mut lines = vec![
        company.full_name(),
        company.street.clone(),
        format!("{} {}", company.postal_code, company.city),
    ];
    let vat = company.vat.clone();
    if let Some(vat) = &vat {
        lines.push(match n % 3 {
            0 => format!("VAT: {vat}"),
            1 => format!("VAT number {vat}"),
            _ => format!("Tax ID: {vat}"),
        });
    }
    lines.push(format!("Phone {}", company.phone));
    lines.push(if n.is_multiple_of(2) {
        "INVOICE".into()
    } else {
        "Tax invoice".into()
    });
    lines.push(match n % 3 {
        0 => format!("Invoice No.: {number}"),
        1 => format!("Invoice number {number}"),
        _ => format!("Invoice # {number}"),
    });
    lines.push(match n % 3 {
        0 => format!("Invoice date: {}", date_text(country, date)),
        1 => format!("Date: {}", date_text(country, date)),
        _ => format!("Issue date {}", date_text(country, date)),
    });
    lines.push(match n % 2 {
        0 => format!("Due date: {}", date_text(country, due)),
        _ => format!("Payment due {}", date_text(country, due)),
    });
    lines.push("Bill to: Demo Company, Rue de la Loi 16, 1000 Brussels".into());
    lines.push("Description    Qty    Unit price    Amount".into());
    let mut subtotal = 0;
    for (what, qty, unit) in items {
        let amount = unit * qty as i64;
        subtotal += amount;
        lines.push(format!(
            "{what}    {qty}    {}    {}",
            amount_text(country, unit),
            amount_text(country, amount)
        ));
    }
    let tax = subtotal * rate / 100;
    let total = subtotal + tax;
    lines.push(format!("Subtotal    {}", amount_text(country, subtotal)));
    lines.push(match n % 2 {
        0 => format!("VAT {rate}%    {}", amount_text(country, tax)),
        _ => format!("Tax ({rate}%)    {}", amount_text(country, tax)),
    });
    lines.push(match n % 3 {
        0 => format!("Total due    {currency} {}", amount_text(country, total)),
        1 => format!("Amount due    {} {currency}", amount_text(country, total)),
        _ => format!("Total    {currency} {}", amount_text(country, total)),
    });
    lines.push("Payment terms: 30 days. Thank you for your business.".into());
    SampleBill {
        vendor: company.full_name(),
        vat,
        number,
        date,
        due,
        currency,
        total_minor: total,
        tax_minor: tax,
        lines,
    }
}

/// Text as WinAnsi bytes (what is not Latin-1 prints as "?").
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| if (c as u32) < 256 { c as u8 } else { b'?' })
        .collect()
}

/// The three kinds of typeface bills come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFont {
    Sans,
    Serif,
    Mono,
}

impl SampleFont {
    pub const ALL: [SampleFont; 3] = [SampleFont::Sans, SampleFont::Serif, SampleFont::Mono];

    fn file_name(self) -> &'static str {
        match self {
            SampleFont::Sans => "DejaVuSans",
            SampleFont::Serif => "DejaVuSerif",
            SampleFont::Mono => "DejaVuSansMono",
        }
    }
}

/// The font embedded in `doc` (a TrueType font program with its WinAnsi widths), as a font
/// resource.
fn embed_font(doc: &mut Document, font: SampleFont) -> lopdf::ObjectId {
    let name = font.file_name();
    let path = format!("/usr/share/fonts/truetype/dejavu/{name}.ttf");
    let program = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{path}: {e}: the sample documents embed DejaVu: install Debian's fonts-dejavu-core (.ci/run does)")
    });
    let face = ttf_parser::Face::parse(&program, 0).unwrap();
    let per_em = f32::from(face.units_per_em());
    let scale = |v: i16| (f32::from(v) * 1000.0 / per_em).round() as i64;
    let widths: Vec<Object> = (32u8..=255)
        .map(|byte| {
            let width = face
                .glyph_index(char::from(byte))
                .and_then(|g| face.glyph_hor_advance(g))
                .map_or(0, |w| (f32::from(w) * 1000.0 / per_em).round() as i64);
            Object::Integer(width)
        })
        .collect();
    let bbox = face.global_bounding_box();
    let (ascent, descent) = (scale(face.ascender()), scale(face.descender()));
    let cap_height = scale(face.capital_height().unwrap_or(face.ascender()));
    let length = program.len() as i64;
    let mut file = Stream::new(dictionary! { "Length1" => length }, program.clone());
    file.compress().unwrap();
    let file_id = doc.add_object(file);
    let descriptor_id = doc.add_object(dictionary! {
        "Type" => "FontDescriptor",
        "FontName" => name,
        // Nonsymbolic (its characters are Latin ones).
        "Flags" => 32,
        "FontBBox" => vec![
            scale(bbox.x_min).into(), scale(bbox.y_min).into(),
            scale(bbox.x_max).into(), scale(bbox.y_max).into(),
        ],
        "ItalicAngle" => 0,
        "Ascent" => ascent,
        "Descent" => descent,
        "CapHeight" => cap_height,
        "StemV" => 80,
        "FontFile2" => file_id,
    });
    doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "TrueType",
        "BaseFont" => name,
        "FirstChar" => 32,
        "LastChar" => 255,
        "Widths" => widths,
        "FontDescriptor" => descriptor_id,
        "Encoding" => "WinAnsiEncoding",
    })
}

/// The bill as an A4 PDF with a text layer, in DejaVu Sans.
pub fn pdf(bill: &SampleBill) -> Vec<u8> {
    pdf_in(bill, SampleFont::Sans)
}

/// The bill as an A4 PDF with a text layer, drawn in `font` (embedded).
pub fn pdf_in(bill: &SampleBill, font: SampleFont) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = embed_font(&mut doc, font);
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut operations = Vec::new();
    let mut y = 790;
    for (i, line) in bill.lines.iter().enumerate() {
        let size = if i == 0 { 16 } else { 11 };
        operations.push(Operation::new("BT", vec![]));
        operations.push(Operation::new("Tf", vec!["F1".into(), size.into()]));
        operations.push(Operation::new("Td", vec![56.into(), y.into()]));
        operations.push(Operation::new(
            "Tj",
            vec![Object::string_literal(win_ansi(line))],
        ));
        operations.push(Operation::new("ET", vec![]));
        y -= if i == 0 { 26 } else { 20 };
    }
    let content = Content { operations };
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    doc.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

/// The PDF rendered to a PNG at 200 dpi, as a scanner would give it.
pub fn png(pdf: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bill.pdf");
    std::fs::write(&input, pdf).unwrap();
    let status = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "200", "-singlefile"])
        .arg(&input)
        .arg(dir.path().join("bill"))
        .status()
        .expect("pdftoppm (Debian's poppler-utils) renders the sample bills: .ci/run installs it");
    assert!(status.success());
    std::fs::read(dir.path().join("bill.png")).unwrap()
}

/// A letter of `pages` pages of `width` × `height` points, each with a line of text.
pub fn letter_pdf(pages: usize, width: i64, height: i64) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = embed_font(&mut doc, SampleFont::Sans);
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids = Vec::new();
    for n in 1..=pages {
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 12.into()]),
                Operation::new("Td", vec![56.into(), (height - 80).into()]),
                Operation::new(
                    "Tj",
                    vec![Object::string_literal(format!("Dear customer, page {n}."))],
                ),
                Operation::new("ET", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => pages as i64,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), width.into(), height.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

/// The bill as a scanned PDF: one JPEG image a page (DCTDecode), no text layer.
pub fn scanned_pdf(bill: &SampleBill) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bill.pdf");
    std::fs::write(&input, pdf(bill)).unwrap();
    let status = std::process::Command::new("pdftoppm")
        .args(["-jpeg", "-r", "200", "-singlefile"])
        .arg(&input)
        .arg(dir.path().join("scan"))
        .status()
        .unwrap();
    assert!(status.success());
    let jpeg = std::fs::read(dir.path().join("scan.jpg")).unwrap();
    scanned_pages_pdf(jpeg, 1)
}

/// An A4 PDF of `pages` pages, each the same scanned image (`jpeg`, 200 dpi of A4: 1654 × 2339
/// pixels, DCTDecode), with no text layer.
pub fn scanned_pages_pdf(jpeg: Vec<u8>, pages: usize) -> Vec<u8> {
    let (width, height) = (1654, 2339);
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let image_id = doc.add_object(
        Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image", "Width" => width, "Height" => height,
                "ColorSpace" => "DeviceRGB", "BitsPerComponent" => 8, "Filter" => "DCTDecode",
            },
            jpeg,
        )
        .with_compression(false),
    );
    let content = Content {
        operations: vec![
            Operation::new("q", vec![]),
            Operation::new(
                "cm",
                vec![
                    595.into(),
                    0.into(),
                    0.into(),
                    842.into(),
                    0.into(),
                    0.into(),
                ],
            ),
            Operation::new("Do", vec!["Im1".into()]),
            Operation::new("Q", vec![]),
        ],
    };
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
    let kids: Vec<Object> = (0..pages)
        .map(|_| {
            doc.add_object(dictionary! {
                "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
                "Resources" => dictionary! { "XObject" => dictionary! { "Im1" => image_id } },
            })
            .into()
        })
        .collect();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => pages as i64,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

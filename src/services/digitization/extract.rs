//! Reads a vendor bill's fields from its text (a PDF's text layer or an OCR's output): vendor,
//! invoice number, invoice date, due date, currency, total, tax amount and the vendor's VAT
//! number (kept only when it passes its country's check). Each field gets a confidence from 0
//! to 100: high when a label names it ("Invoice No.", "Due date", "Total due"), lower when it
//! is only guessed (the first date, the largest amount). Amounts are read into minor units as
//! integers; no float touches them.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;

use crate::services::directory::data::COUNTRIES;
use crate::services::directory::vat;

/// A value read, and how sure the reading is.
#[derive(Debug, Clone, PartialEq)]
pub struct Field<T> {
    pub value: T,
    pub confidence: u8,
}

fn field<T>(value: T, confidence: u8) -> Option<Field<T>> {
    Some(Field { value, confidence })
}

/// What was read from a bill.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extracted {
    pub vendor: Option<Field<String>>,
    pub invoice_number: Option<Field<String>>,
    pub invoice_date: Option<Field<NaiveDate>>,
    pub due_date: Option<Field<NaiveDate>>,
    pub currency: Option<Field<String>>,
    /// Minor units (cents).
    pub total: Option<Field<i64>>,
    pub tax: Option<Field<i64>>,
    pub vat: Option<Field<String>>,
}

impl Extracted {
    /// How many fields were found.
    pub fn found(&self) -> usize {
        [
            self.vendor.is_some(),
            self.invoice_number.is_some(),
            self.invoice_date.is_some(),
            self.due_date.is_some(),
            self.currency.is_some(),
            self.total.is_some(),
            self.tax.is_some(),
            self.vat.is_some(),
        ]
        .iter()
        .filter(|f| **f)
        .count()
    }

    /// Nothing a bill is made of: no number, no date and no amount.
    pub fn is_unreadable(&self) -> bool {
        self.invoice_number.is_none() && self.invoice_date.is_none() && self.total.is_none()
    }

    /// The confidence of each field found, by field name.
    pub fn confidences(&self) -> BTreeMap<&'static str, u8> {
        let mut map = BTreeMap::new();
        let mut put = |name, c: Option<u8>| {
            if let Some(c) = c {
                map.insert(name, c);
            }
        };
        put("vendor", self.vendor.as_ref().map(|f| f.confidence));
        put(
            "invoice_number",
            self.invoice_number.as_ref().map(|f| f.confidence),
        );
        put(
            "invoice_date",
            self.invoice_date.as_ref().map(|f| f.confidence),
        );
        put("due_date", self.due_date.as_ref().map(|f| f.confidence));
        put("currency", self.currency.as_ref().map(|f| f.confidence));
        put("total", self.total.as_ref().map(|f| f.confidence));
        put("tax", self.tax.as_ref().map(|f| f.confidence));
        put("vat", self.vat.as_ref().map(|f| f.confidence));
        map
    }
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid pattern")
}

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{4}|[a-z]{3,9}\.? \d{1,2},? \d{4}|\d{1,2}\.? [a-z]{3,9}\.? \d{4})\b",
    )
});
static AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?:^|[^\d.,'])(\d{1,3}(?:[ ,.'\u{a0}]\d{3})+[.,]\d{2}|\d+[.,]\d{2})(?:[^\d%]|$)")
});
static INVOICE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    // OCR may split a short prefix from its digits ("F 2026/0117"): it may stand apart.
    re(
        r"(?i)\b(?:invoice|bill|facture|rechnung|factuur|fattura)\s*(?:no\.?|number|nr\.?|#|n°|num\.?)\s*[:#.]?\s*((?:[A-Z]{1,4} )?[A-Z0-9][A-Z0-9./_-]{1,40})",
    )
});
static INVOICE_WORD_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\binvoice\s*[:#]\s*([A-Z0-9][A-Z0-9./_-]{1,40})"));
static DUE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\b(?:due|payable|échéance|fällig)"));
static DATE_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:invoice date|date of issue|issue date|issued on|issued|billing date|datum|date)\b",
    )
});
static STRONG_DATE_LABEL: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\b(?:invoice date|date of issue|issue date|issued on|issued)\b"));
// OCR drops spaces ("Totaldue"): the words of a label may touch.
static TOTAL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:grand\s*total|total\s*due|total\s*to\s*pay|total\s*amount|amount\s*due|balance\s*due|total)",
    )
});
static STRONG_TOTAL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:grand\s*total|total\s*due|total\s*to\s*pay|amount\s*due|balance\s*due|total\s*incl)",
    )
});
static NOT_TOTAL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:sub-?\s?total|total excl|total before|total net|net total|total ht|total vat|total tax)",
    )
});
static TAX: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\b(?:vat|tax|tva|btw|mwst|iva|gst|moms|mva)\b"));
static NOT_TAX: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)(?:vat (?:no|number|id|reg)|tax (?:id|no|number)|excl|incl|before tax|vat-id|ust-id)")
});
static LEGAL_FORM: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:\b(?:gmbh|ag|sa|srl|bv|b\.v\.|nv|n\.v\.|ltd|limited|llc|inc|corp|sas|sarl|oy|ab|a/s|as|s\.p\.a\.|s\.r\.l\.|spa|sp\. z o\.o\.|s\.r\.o\.|pty ltd|plc|s\.a\.|kg|se|lda|s\.l\.|sl|aps|asa|oyj)\.?)$",
    )
});
static HEADING: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)^(?:invoice|tax invoice|bill|facture|rechnung|factuur|page \d+|original|copy)\b")
});

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// A month by its English name or an abbreviation of it ("Mar", "Sept.", "March").
fn month(name: &str) -> Option<u32> {
    let lower = name.trim_end_matches('.').to_lowercase();
    if lower.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(&lower))
        .map(|i| i as u32 + 1)
}

/// A date as bills write it: 2026-03-14, 14/03/2026, 14.03.2026, March 14, 2026, 14 March 2026.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(d);
    }
    let parts: Vec<&str> = text
        .split(['/', '.', '-', ' ', ','])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() != 3 {
        return None;
    }
    let num = |s: &str| s.parse::<u32>().ok();
    match (num(parts[0]), num(parts[1]), num(parts[2])) {
        // Day first, as everywhere but the US; a first number above 12 can only be a day, a
        // second one above 12 only a US day.
        (Some(a), Some(b), Some(y)) if b > 12 => NaiveDate::from_ymd_opt(y as i32, a, b),
        (Some(d), Some(m), Some(y)) => NaiveDate::from_ymd_opt(y as i32, m, d),
        (None, Some(d), Some(y)) => NaiveDate::from_ymd_opt(y as i32, month(parts[0])?, d),
        (Some(d), None, Some(y)) => NaiveDate::from_ymd_opt(y as i32, month(parts[1])?, d),
        _ => None,
    }
}

/// An amount as bills write it (1,234.56 · 1.234,56 · 1 234,56 · 1'234.56 · 12.50) in minor
/// units: the last separator before two final digits is the decimal one.
pub fn parse_amount(text: &str) -> Option<i64> {
    let digits: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
    let trimmed = text.trim();
    let bytes = trimmed.as_bytes();
    if bytes.len() < 4 || !matches!(bytes[bytes.len() - 3], b'.' | b',') {
        return None;
    }
    if digits.len() > 15 {
        return None;
    }
    digits.parse().ok()
}

fn dates_in(line: &str) -> Vec<NaiveDate> {
    DATE.captures_iter(line)
        .filter_map(|c| parse_date(&c[1]))
        .collect()
}

fn amounts_in(line: &str) -> Vec<i64> {
    AMOUNT
        .captures_iter(line)
        .filter_map(|c| parse_amount(&c[1]))
        .collect()
}

/// The value after a label: on the label's line, else on the next line when the label's line
/// holds no figure at all (a label above its value, not a value misread).
fn after_label<T>(lines: &[&str], i: usize, read: impl Fn(&str) -> Option<T>) -> Option<T> {
    read(lines[i]).or_else(|| {
        if lines[i].chars().any(|c| c.is_ascii_digit()) {
            return None;
        }
        lines.get(i + 1).and_then(|next| read(next))
    })
}

static SPLIT_WORD: LazyLock<Regex> = LazyLock::new(|| re(r"\b([A-Za-z]) ([a-z]{2,8})\b"));

/// Mends what OCR splits: a month name with a space after its first letter ("J uly").
fn mend(line: &str) -> String {
    SPLIT_WORD
        .replace_all(line, |c: &regex::Captures| {
            let joined = format!("{}{}", &c[1], &c[2]);
            if month(&joined).is_some() && joined.len() >= 3 {
                joined
            } else {
                c[0].to_string()
            }
        })
        .into_owned()
}

fn currency_in(line: &str) -> Option<&'static str> {
    const CODES: &[&str] = &[
        "EUR", "USD", "GBP", "CHF", "SEK", "DKK", "NOK", "PLN", "CZK", "CAD", "AUD",
    ];
    let upper = line.to_uppercase();
    for code in CODES {
        if upper
            .split(|c: char| !c.is_ascii_alphabetic())
            .any(|word| word == *code)
        {
            return Some(code);
        }
    }
    if line.contains('€') {
        Some("EUR")
    } else if line.contains('£') {
        Some("GBP")
    } else if line.contains("A$") {
        Some("AUD")
    } else if line.contains("C$") {
        Some("CAD")
    } else if line.contains('$') {
        Some("USD")
    } else if line.contains("Kč") {
        Some("CZK")
    } else if line.contains("zł") {
        Some("PLN")
    } else {
        None
    }
}

/// A VAT number on the line that passes its country's check: tokens (and up to three joined,
/// for numbers written with spaces) with their dots and dashes dropped. Bare digits count only
/// on a line that names a tax number (ABN, GST, BN).
fn vat_in(line: &str) -> Option<String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let labelled = Regex::new(r"(?i)\b(?:abn|gst|bn|vat|tax id|ust)\b")
        .map(|r| r.is_match(line))
        .unwrap_or(false);
    for start in 0..tokens.len() {
        for len in 1..=3.min(tokens.len() - start) {
            let compact: String = tokens[start..start + len]
                .concat()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_uppercase();
            if !(8..=16).contains(&compact.len()) || !compact.chars().any(|c| c.is_ascii_digit()) {
                continue;
            }
            let bare = compact.chars().all(|c| c.is_ascii_digit());
            if bare && !labelled {
                continue;
            }
            for country in COUNTRIES {
                if vat::is_valid(country.code, &compact) {
                    return Some(compact);
                }
            }
        }
    }
    None
}

/// Reads the fields of a bill from its text.
pub fn extract(text: &str) -> Extracted {
    let mended: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(mend)
        .collect();
    let lines: Vec<&str> = mended.iter().map(String::as_str).collect();
    let mut out = Extracted::default();

    // Vendor: the first line with a legal form near the top, else the first line that is not a
    // heading or a number.
    let top = &lines[..lines.len().min(10)];
    out.vendor = top
        .iter()
        .find(|l| LEGAL_FORM.is_match(l) && l.len() <= 120 && !HEADING.is_match(l))
        .map(|l| Field {
            value: l.to_string(),
            confidence: 90,
        })
        .or_else(|| {
            top.iter()
                .find(|l| {
                    !HEADING.is_match(l)
                        && l.chars().filter(|c| c.is_alphabetic()).count() >= 3
                        && dates_in(l).is_empty()
                        && amounts_in(l).is_empty()
                })
                .map(|l| Field {
                    value: l.chars().take(120).collect(),
                    confidence: 50,
                })
        });

    for (i, line) in lines.iter().enumerate() {
        if out.invoice_number.is_none() {
            if let Some(c) = INVOICE_NUMBER.captures(line) {
                let number: String = c[1]
                    .trim_end_matches(['.', ','])
                    .chars()
                    .filter(|ch| !ch.is_whitespace())
                    .collect();
                // A number OCR may have misread is kept, corrected, but flagged for review.
                let (number, corrected) = digits_where_digits_belong(&number);
                out.invoice_number = field(number, if corrected { REVIEW } else { 95 });
            } else if let Some(c) = INVOICE_WORD_NUMBER.captures(line)
                && c[1].chars().any(|ch| ch.is_ascii_digit())
            {
                out.invoice_number = field(c[1].to_string(), 70);
            }
        }
        if DUE.is_match(line) {
            if out.due_date.is_none()
                && let Some(d) = after_label(&lines, i, |l| dates_in(l).into_iter().next())
            {
                out.due_date = field(d, 95);
            }
        } else if out.invoice_date.as_ref().is_none_or(|f| f.confidence < 95)
            && DATE_LABEL.is_match(line)
            && let Some(d) = after_label(&lines, i, |l| dates_in(l).into_iter().next())
        {
            let confidence = if STRONG_DATE_LABEL.is_match(line) {
                95
            } else {
                85
            };
            if out
                .invoice_date
                .as_ref()
                .is_none_or(|f| f.confidence < confidence)
            {
                out.invoice_date = field(d, confidence);
            }
        }
        if TOTAL.is_match(line) && !NOT_TOTAL.is_match(line) {
            let confidence = if STRONG_TOTAL.is_match(line) { 95 } else { 85 };
            if let Some(amount) = after_label(&lines, i, |l| amounts_in(l).last().copied())
                && out
                    .total
                    .as_ref()
                    .is_none_or(|f| f.confidence <= confidence)
            {
                out.total = field(amount, confidence);
                if let Some(code) = currency_in(line) {
                    out.currency = field(code.to_string(), 95);
                }
            }
        } else if TAX.is_match(line)
            && !NOT_TAX.is_match(line)
            && vat_in(line).is_none()
            && let Some(amount) = amounts_in(line).last().copied()
            && out.tax.is_none()
        {
            out.tax = field(amount, 90);
        }
        if out.vat.is_none()
            && let Some(number) = vat_in(line)
        {
            out.vat = field(number, 95);
        }
    }

    // Guesses where no label said it.
    if out.invoice_date.is_none()
        && let Some(d) = lines.iter().flat_map(|l| dates_in(l)).next()
    {
        out.invoice_date = field(d, 50);
    }
    if out.total.is_none()
        && let Some(max) = lines.iter().flat_map(|l| amounts_in(l)).max()
    {
        out.total = field(max, 40);
    }
    if out.currency.is_none() {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for code in lines.iter().filter_map(|l| currency_in(l)) {
            *counts.entry(code).or_default() += 1;
        }
        if let Some((code, _)) = counts.into_iter().max_by_key(|(_, n)| *n) {
            out.currency = field(code.to_string(), 75);
        }
    }
    out
}

/// The confidence of a field that was read but needs a person's review: below it, the page says
/// so next to the field.
pub const REVIEW: u8 = 60;

/// OCR confuses letters and digits that look alike (`O`/`Q` and `0`, `I`/`l` and `1`), most of
/// all in typefaces with a slashed or dotted zero. In each part of an invoice number (between
/// `-`, `/`, `.` and `_`), look-alike letters in a tail that is mostly digits are read as the
/// digits they look like: "REO03217" is "RE003217". Answers whether it changed any: the field is
/// then flagged for review, since a real "INFO2026" would become "INF02026".
pub fn digits_where_digits_belong(number: &str) -> (String, bool) {
    let as_digit = |c: char| match c {
        'O' | 'o' | 'Q' => Some('0'),
        'I' | 'l' | '|' => Some('1'),
        _ => None,
    };
    let mut out = String::with_capacity(number.len());
    let mut corrected = false;
    for (i, part) in number.split(['-', '/', '.', '_']).enumerate() {
        if i > 0 {
            // The separator that stood here.
            let at = out.chars().count();
            out.push(number.chars().nth(at).unwrap_or('-'));
        }
        let chars: Vec<char> = part.chars().collect();
        // The tail of digits and look-alikes: when most of it is digits, it is a number.
        let tail = chars
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit() || as_digit(**c).is_some())
            .count();
        let start = chars.len() - tail;
        let digits = chars[start..].iter().filter(|c| c.is_ascii_digit()).count();
        let mostly_digits = digits >= 2 && digits > tail - digits;
        for (j, c) in chars.iter().enumerate() {
            match as_digit(*c) {
                Some(d) if mostly_digits && j >= start => {
                    out.push(d);
                    corrected = true;
                }
                _ => out.push(*c),
            }
        }
    }
    (out, corrected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_letters_in_a_numbers_digits_are_read_as_digits() {
        let read = |n: &str| digits_where_digits_belong(n);
        assert_eq!(read("REO03217"), ("RE003217".into(), true));
        assert_eq!(read("REQQ3713"), ("RE003713".into(), true));
        assert_eq!(read("INV-2026-000O3"), ("INV-2026-00003".into(), true));
        assert_eq!(read("F2026/010l"), ("F2026/0101".into(), true));
        // Nothing to correct, or a part that is mostly letters: kept as read.
        assert_eq!(read("RE003217"), ("RE003217".into(), false));
        assert_eq!(read("PO-12345"), ("PO-12345".into(), false));
        assert_eq!(read("26007"), ("26007".into(), false));
    }

    #[test]
    fn amounts_in_every_usual_format() {
        assert_eq!(parse_amount("1,234.56"), Some(123_456));
        assert_eq!(parse_amount("1.234,56"), Some(123_456));
        assert_eq!(parse_amount("1 234,56"), Some(123_456));
        assert_eq!(parse_amount("1'234.56"), Some(123_456));
        assert_eq!(parse_amount("12.50"), Some(1_250));
        assert_eq!(parse_amount("12"), None);
        assert_eq!(amounts_in("VAT 21%: 210.00"), vec![21_000]);
        assert_eq!(amounts_in("Total due EUR 1.210,00"), vec![121_000]);
    }

    #[test]
    fn dates_in_every_usual_format() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 14);
        for text in [
            "2026-03-14",
            "14/03/2026",
            "14.03.2026",
            "March 14, 2026",
            "14 March 2026",
            "Mar. 14, 2026",
            "03/14/2026",
        ] {
            assert_eq!(parse_date(text), d, "{text}");
        }
        assert_eq!(parse_date("31/02/2026"), None);
    }

    #[test]
    fn a_plain_bill() {
        let bill = "Acme Trading GmbH\nHauptstraße 12, 10115 Berlin\nVAT: DE136695976\n\
            INVOICE\nInvoice No.: RE-2026-0042\nInvoice date: 14.03.2026\nDue date: 13.04.2026\n\
            Widgets 2 x 500,00 1.000,00\nSubtotal 1.000,00\nVAT 19% 190,00\nTotal due EUR 1.190,00";
        let x = extract(bill);
        assert_eq!(x.vendor.unwrap().value, "Acme Trading GmbH");
        assert_eq!(x.invoice_number.unwrap().value, "RE-2026-0042");
        assert_eq!(
            x.invoice_date.unwrap().value,
            NaiveDate::from_ymd_opt(2026, 3, 14).unwrap()
        );
        assert_eq!(
            x.due_date.unwrap().value,
            NaiveDate::from_ymd_opt(2026, 4, 13).unwrap()
        );
        assert_eq!(x.total.unwrap().value, 119_000);
        assert_eq!(x.tax.unwrap().value, 19_000);
        assert_eq!(x.currency.unwrap().value, "EUR");
        assert_eq!(x.vat.unwrap().value, "DE136695976");
        assert!(extract("lorem ipsum").is_unreadable());
    }
}

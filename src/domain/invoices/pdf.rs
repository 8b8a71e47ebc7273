//! An invoice as a one-page A4 PDF (lopdf; the standard Helvetica fonts with WinAnsi encoding,
//! so no font is embedded). Amounts are set in Courier, whose fixed width lets them be aligned
//! on the right exactly.

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

use super::Invoice;

const LEFT: f32 = 56.0;
const RIGHT: f32 = 539.0;
const COURIER_WIDTH: f32 = 0.6;

/// Text in WinAnsi (Windows-1252): Latin-1 as is, the few typographic marks it has, `?` for
/// anything else.
pub fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '€' => 0x80,
            '…' => 0x85,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            c if (c as u32) < 0x80 || (0xA0..0x100).contains(&(c as u32)) => c as u8,
            _ => b'?',
        })
        .collect()
}

struct Page {
    operations: Vec<Operation>,
}

impl Page {
    fn text(&mut self, font: &str, size: f32, x: f32, y: f32, text: &str) {
        self.operations.extend([
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec![font.into(), size.into()]),
            Operation::new("Td", vec![x.into(), y.into()]),
            Operation::new("Tj", vec![Object::string_literal(win_ansi(text))]),
            Operation::new("ET", vec![]),
        ]);
    }

    /// An amount in Courier, its last character at `RIGHT`.
    fn amount(&mut self, size: f32, y: f32, text: &str) {
        let width = text.chars().count() as f32 * size * COURIER_WIDTH;
        self.text("F3", size, RIGHT - width, y, text);
    }

    fn rule(&mut self, y: f32) {
        self.operations.extend([
            Operation::new("w", vec![0.5.into()]),
            Operation::new("m", vec![LEFT.into(), y.into()]),
            Operation::new("l", vec![RIGHT.into(), y.into()]),
            Operation::new("S", vec![]),
        ]);
    }
}

/// The invoice's PDF.
pub fn render(invoice: &Invoice, paid_with: Option<&str>) -> Result<Vec<u8>, lopdf::Error> {
    let mut page = Page {
        operations: Vec::new(),
    };
    page.text(
        "F2",
        20.0,
        LEFT,
        780.0,
        &format!("Invoice {}", invoice.reference()),
    );
    page.text(
        "F1",
        10.0,
        LEFT,
        760.0,
        &format!("Date: {}", invoice.issued_at.format("%Y-%m-%d")),
    );

    let mut y = 720.0;
    page.text("F2", 10.0, LEFT, y, "From");
    page.text("F2", 10.0, 320.0, y, "Bill to");
    let seller: Vec<String> = std::iter::once(invoice.seller_name.clone())
        .chain(invoice.seller_lines().into_iter().map(String::from))
        .chain((!invoice.seller_vat.is_empty()).then(|| format!("VAT: {}", invoice.seller_vat)))
        .collect();
    let buyer: Vec<String> = std::iter::once(invoice.buyer_name.clone())
        .chain(invoice.buyer_lines().into_iter().map(String::from))
        .chain((!invoice.buyer_vat.is_empty()).then(|| format!("VAT: {}", invoice.buyer_vat)))
        .chain((!invoice.buyer_email.is_empty()).then(|| invoice.buyer_email.clone()))
        .collect();
    for i in 0..seller.len().max(buyer.len()).min(12) {
        y -= 14.0;
        if let Some(line) = seller.get(i) {
            page.text("F1", 10.0, LEFT, y, line);
        }
        if let Some(line) = buyer.get(i) {
            page.text("F1", 10.0, 320.0, y, line);
        }
    }

    y -= 40.0;
    page.text("F2", 10.0, LEFT, y, "Description");
    page.text("F2", 10.0, RIGHT - 40.0, y, "Amount");
    y -= 6.0;
    page.rule(y);
    y -= 16.0;
    page.text("F1", 10.0, LEFT, y, &invoice.description());
    page.amount(10.0, y, &invoice.total().to_string());
    y -= 10.0;
    page.rule(y);
    if let Some(label) = invoice.vat_label() {
        y -= 16.0;
        page.text("F1", 10.0, 320.0, y, "Net");
        page.amount(10.0, y, &invoice.net().to_string());
        y -= 14.0;
        page.text("F1", 10.0, 320.0, y, &label);
        page.amount(10.0, y, &invoice.vat().to_string());
    }
    y -= 18.0;
    page.text("F2", 11.0, 320.0, y, "Total");
    page.amount(11.0, y, &invoice.total().to_string());

    y -= 40.0;
    let paid = match paid_with {
        Some(last4) => format!(
            "Paid on {} by card ending {last4}.",
            invoice.issued_at.format("%Y-%m-%d")
        ),
        None => format!("Paid on {}.", invoice.issued_at.format("%Y-%m-%d")),
    };
    page.text("F1", 10.0, LEFT, y, &paid);
    if invoice.vat_rate_bp.is_some() {
        y -= 14.0;
        page.text("F1", 10.0, LEFT, y, "Prices include VAT.");
    }

    let mut document = Document::with_version("1.5");
    let pages_id = document.new_object_id();
    let font = |name: &str| {
        dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => name.to_string(),
            "Encoding" => "WinAnsiEncoding",
        }
    };
    let regular = document.add_object(font("Helvetica"));
    let bold = document.add_object(font("Helvetica-Bold"));
    let mono = document.add_object(font("Courier"));
    let content = Content {
        operations: page.operations,
    }
    .encode()?;
    let content_id = document.add_object(Stream::new(dictionary! {}, content));
    let page_id = document.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
    });
    document.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            "Resources" => dictionary! {
                "Font" => dictionary! { "F1" => regular, "F2" => bold, "F3" => mono },
            },
        }),
    );
    let catalog_id = document.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    document.trailer.set("Root", catalog_id);
    let info_id = document.add_object(dictionary! {
        "Title" => Object::string_literal(win_ansi(&format!("Invoice {}", invoice.reference()))),
        "Producer" => Object::string_literal("IAP Credits"),
    });
    document.trailer.set("Info", info_id);
    let mut out = Vec::new();
    document.save_to(&mut out)?;
    Ok(out)
}

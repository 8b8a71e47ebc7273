//! What a PDF holds, read with lopdf and pdf-extract: its pages' sizes, its text layer, and
//! which pages are scanned images. An uploaded PDF is untrusted (a decompression bomb, a file
//! that sends a parser into a loop, a text layer that inflates to megabytes), so it is read in
//! a child process of our own binary (`iap-credits inspect-pdf`) under `limited`'s memory, CPU
//! and wall-clock limits, and its answer is bounded: facts, never page images (a scanned page's
//! JPEG is asked for alone, when OCR reads it). Uploads reach it through `gate`, a few at a time.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::limited::{self, ChildError, Limits};

/// What one reading may use: a bill, letter or contract is read in well under a second.
const READ_LIMITS: Limits = Limits {
    memory: 768 * 1024 * 1024,
    cpu_seconds: 10,
    wall_clock: Duration::from_secs(15),
    // Facts only: 200 pages' sizes and at most MAX_TEXT characters of text, as JSON.
    max_output: 1024 * 1024,
};
/// One scanned page's image: never more than the file it came from.
const PAGE_IMAGE_LIMITS: Limits = Limits {
    max_output: super::MAX_BYTES,
    ..READ_LIMITS
};
/// The document with a page appended: the file and a page of text.
const APPEND_LIMITS: Limits = Limits {
    max_output: super::MAX_BYTES + 1024 * 1024,
    ..READ_LIMITS
};
/// More pages than any bill, letter or contract: refused before its text is read.
pub const MAX_PAGES: usize = 200;
/// The most text layer kept (characters, all pages): more than any bill; the rest is dropped.
pub const MAX_TEXT: usize = 100_000;

/// A page's size in PostScript points (1/72 inch).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PageSize {
    pub width: f32,
    pub height: f32,
}

impl PageSize {
    /// A4 (595 × 842 pt) either way round, within 2 points.
    pub fn is_a4(&self) -> bool {
        let (short, long) = if self.width <= self.height {
            (self.width, self.height)
        } else {
            (self.height, self.width)
        };
        (short - 595.3).abs() <= 2.0 && (long - 841.9).abs() <= 2.0
    }
}

/// What a PDF holds: read once, when it is uploaded, and kept with the document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PdfFacts {
    pub pages: Vec<PageSize>,
    /// The text layer, page by page (empty for a scan), at most `MAX_TEXT` characters in all.
    pub text: Vec<String>,
    /// The pages (from 0) whose content is a scanned JPEG image, for OCR.
    #[serde(default)]
    pub scanned_pages: Vec<u32>,
}

impl PdfFacts {
    pub fn text(&self) -> String {
        self.text.join("\n")
    }

    /// The first page that is not A4 (from 1), if any.
    pub fn first_page_not_a4(&self) -> Option<usize> {
        self.pages.iter().position(|p| !p.is_a4()).map(|i| i + 1)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PdfError {
    #[error("this file is not a PDF that can be read: {0}")]
    Unreadable(String),
    #[error("this PDF has more than {MAX_PAGES} pages")]
    TooManyPages,
    #[error("this PDF took too much memory or time to read, and was refused")]
    TooCostly,
    #[error("the PDF reader could not be started: {0}")]
    Helper(String),
}

/// Reads PDFs in a limited child process: `helper` is this app's own binary.
#[derive(Debug, Clone)]
pub struct PdfInspector {
    pub helper: PathBuf,
}

impl PdfInspector {
    /// The running binary as the helper (the server and the CLI).
    pub fn current() -> Self {
        PdfInspector {
            helper: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("iap-credits")),
        }
    }

    /// What the PDF holds (bounded facts).
    pub fn inspect(&self, pdf: &[u8]) -> Result<PdfFacts, PdfError> {
        let output = self.run(&["inspect"], pdf.to_vec(), READ_LIMITS)?;
        serde_json::from_slice(&output).map_err(|e| PdfError::Helper(e.to_string()))
    }

    /// The JPEG image of scanned page `page` (from 0), for OCR.
    pub fn page_jpeg(&self, pdf: &[u8], page: u32) -> Result<Vec<u8>, PdfError> {
        self.run(
            &["page-jpeg", &page.to_string()],
            pdf.to_vec(),
            PAGE_IMAGE_LIMITS,
        )
    }

    /// The PDF with one A4 page appended, showing `lines` (a signature page).
    pub fn append_page(&self, pdf: &[u8], lines: &[String]) -> Result<Vec<u8>, PdfError> {
        let input = serde_json::to_vec(&AppendRequest {
            pdf: base64::engine::general_purpose::STANDARD.encode(pdf),
            lines: lines.to_vec(),
        })
        .map_err(|e| PdfError::Helper(e.to_string()))?;
        self.run(&["append-page"], input, APPEND_LIMITS)
    }

    /// Runs the helper's `mode` on `input` in the limited child process.
    fn run(&self, mode: &[&str], input: Vec<u8>, limits: Limits) -> Result<Vec<u8>, PdfError> {
        let mut command = limited::command(&self.helper);
        command.arg("inspect-pdf").args(mode).env("RUST_LOG", "off");
        let output = match limited::run(command, input, limits) {
            Ok(output) => output,
            Err(ChildError::TimedOut(_) | ChildError::OutputTooLarge(_)) => {
                return Err(PdfError::TooCostly);
            }
            Err(e) => return Err(PdfError::Helper(e.to_string())),
        };
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stderr).trim().to_string();
            return Err(match said.strip_prefix("refused: ") {
                Some("too many pages") => PdfError::TooManyPages,
                Some(reason) => PdfError::Unreadable(reason.to_string()),
                // Killed by its limits (SIGKILL, SIGXCPU) or out of memory.
                None => PdfError::TooCostly,
            });
        }
        Ok(output.stdout)
    }
}

/// What `append_page` hands the helper.
#[derive(Serialize, Deserialize)]
pub struct AppendRequest {
    pub pdf: String,
    pub lines: Vec<String>,
}

/// The helper's `append-page`: the PDF with an A4 page of `lines` (Helvetica, WinAnsi) added at
/// the end of its page tree's root.
pub fn run_append_page(input: &[u8]) -> Result<Vec<u8>, String> {
    use lopdf::{Object, Stream, dictionary};
    let request: AppendRequest = serde_json::from_slice(input).map_err(|e| e.to_string())?;
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(&request.pdf)
        .map_err(|e| e.to_string())?;
    let mut document = lopdf::Document::load_mem(&pdf).map_err(|e| e.to_string())?;
    let pages_id = document
        .catalog()
        .and_then(|c| c.get(b"Pages"))
        .and_then(|p| p.as_reference())
        .map_err(|e| e.to_string())?;
    let font_id = document.add_object(helvetica());
    let content = text_page_content(&request.lines).map_err(|e| e.to_string())?;
    let content_id = document.add_object(Stream::new(dictionary! {}, content));
    let page_id = document.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
    });
    let pages = document
        .get_object_mut(pages_id)
        .and_then(Object::as_dict_mut)
        .map_err(|e| e.to_string())?;
    let count = pages.get(b"Count").and_then(Object::as_i64).unwrap_or(0);
    let mut kids = pages
        .get(b"Kids")
        .and_then(Object::as_array)
        .cloned()
        .unwrap_or_default();
    kids.push(page_id.into());
    pages.set("Kids", kids);
    pages.set("Count", count + 1);
    let mut out = Vec::new();
    document.save_to(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Helvetica in WinAnsi: a standard font, nothing embedded.
fn helvetica() -> lopdf::Dictionary {
    lopdf::dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding"
    }
}

/// An A4 page's content: `lines` in F1, the first as a heading, as many as fit.
fn text_page_content(lines: &[String]) -> Result<Vec<u8>, lopdf::Error> {
    use lopdf::Object;
    use lopdf::content::{Content, Operation};
    let mut operations = Vec::new();
    let mut y = 780;
    for (i, line) in lines.iter().enumerate() {
        // WinAnsi: Latin-1, and the bullet of masked numbers at 0x95.
        let bytes: Vec<u8> = line
            .chars()
            .map(|c| match c {
                '•' => 0x95,
                c if (c as u32) < 256 => c as u8,
                _ => b'?',
            })
            .collect();
        operations.push(Operation::new("BT", vec![]));
        operations.push(Operation::new(
            "Tf",
            vec!["F1".into(), if i == 0 { 16 } else { 10 }.into()],
        ));
        operations.push(Operation::new("Td", vec![56.into(), y.into()]));
        operations.push(Operation::new("Tj", vec![Object::string_literal(bytes)]));
        operations.push(Operation::new("ET", vec![]));
        y -= if i == 0 { 28 } else { 15 };
        if y < 40 {
            break;
        }
    }
    Content { operations }.encode()
}

/// A PDF of our own making (not an upload: written in-process): one A4 page of text per entry
/// of `pages`, as `append_page` writes one.
pub fn text_document(pages: &[Vec<String>]) -> Result<Vec<u8>, lopdf::Error> {
    use lopdf::{Object, Stream, dictionary};
    let mut document = lopdf::Document::with_version("1.5");
    let pages_id = document.new_object_id();
    let font_id = document.add_object(helvetica());
    let mut kids: Vec<Object> = Vec::new();
    for lines in pages {
        let content_id =
            document.add_object(Stream::new(dictionary! {}, text_page_content(lines)?));
        kids.push(
            document
                .add_object(dictionary! {
                    "Type" => "Page",
                    "Parent" => pages_id,
                    "Contents" => content_id,
                    "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                    "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
                })
                .into(),
        );
    }
    let count = kids.len() as i64;
    document.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog_id = document.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    document.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    document.save_to(&mut out)?;
    Ok(out)
}

/// The helper's `inspect`, in the child: reads the PDF from `input` and answers its facts, or
/// exits 2 with "refused: <reason>" on stderr.
pub fn run_helper(input: &[u8]) -> Result<PdfFacts, String> {
    let document = lopdf::Document::load_mem(input).map_err(|e| e.to_string())?;
    let pages = document.get_pages();
    if pages.len() > MAX_PAGES {
        return Err("too many pages".into());
    }
    if pages.is_empty() {
        return Err("it has no page".into());
    }
    let mut facts = PdfFacts::default();
    for (i, page_id) in pages.values().enumerate() {
        facts.pages.push(page_size(&document, *page_id));
        if page_jpeg(&document, *page_id).is_some() {
            facts.scanned_pages.push(i as u32);
        }
    }
    let mut left = MAX_TEXT;
    for page in pdf_extract::extract_text_from_mem_by_pages(input).unwrap_or_default() {
        let kept: String = page.chars().take(left).collect();
        left -= kept.chars().count();
        facts.text.push(kept);
    }
    Ok(facts)
}

/// The helper's `page-jpeg N`: the JPEG image of page N (from 0).
pub fn run_page_jpeg(input: &[u8], page: Option<&str>) -> Result<Vec<u8>, String> {
    let page: usize = page
        .and_then(|p| p.parse().ok())
        .ok_or("which page was not said")?;
    let document = lopdf::Document::load_mem(input).map_err(|e| e.to_string())?;
    let page_id = *document
        .get_pages()
        .values()
        .nth(page)
        .ok_or("there is no such page")?;
    page_jpeg(&document, page_id).ok_or_else(|| "that page is not a scanned image".into())
}

/// The page's MediaBox, inherited from its parents when it has none of its own.
fn page_size(document: &lopdf::Document, page_id: lopdf::ObjectId) -> PageSize {
    let mut node = document.get_dictionary(page_id).ok();
    for _ in 0..32 {
        let Some(dict) = node else { break };
        if let Ok(lopdf::Object::Array(b)) = dict.get(b"MediaBox").map(|o| match o {
            lopdf::Object::Reference(id) => document
                .get_object(*id)
                .cloned()
                .unwrap_or(lopdf::Object::Null),
            other => other.clone(),
        }) && b.len() == 4
        {
            let n: Vec<f32> = b.iter().map(|o| o.as_float().unwrap_or(0.0)).collect();
            return PageSize {
                width: (n[2] - n[0]).abs(),
                height: (n[3] - n[1]).abs(),
            };
        }
        node = dict
            .get(b"Parent")
            .and_then(|p| p.as_reference())
            .and_then(|id| document.get_dictionary(id))
            .ok();
    }
    // The PDF default when no box is given: US Letter.
    PageSize {
        width: 612.0,
        height: 792.0,
    }
}

/// The page's largest JPEG image (DCTDecode: its stream is the JPEG file itself).
fn page_jpeg(document: &lopdf::Document, page_id: lopdf::ObjectId) -> Option<Vec<u8>> {
    let images = document.get_page_images(page_id).ok()?;
    images
        .into_iter()
        .filter(|i| {
            i.filters
                .as_ref()
                .is_some_and(|f| f.iter().any(|f| f == "DCTDecode"))
        })
        .max_by_key(|i| i.width * i.height)
        .map(|i| i.content.to_vec())
}

//! Optical character recognition behind a trait, so that another engine (or a paid OCR API) can
//! replace the default: Tesseract, the standard open-source engine (Debian's `tesseract-ocr`),
//! run as a child process with a memory, CPU and wall-clock limit and an empty environment.

use std::time::Duration;

use crate::services::documents::limited::{self, ChildError, Limits};

#[derive(Debug, thiserror::Error)]
#[error("OCR failed: {0}")]
pub struct OcrError(pub String);

pub trait OcrEngine: Send + Sync {
    /// The text of a PNG or JPEG image.
    fn recognize(&self, image: &[u8]) -> Result<String, OcrError>;
}

/// Tesseract's command line: `tesseract stdin stdout -l eng`.
#[derive(Debug, Clone)]
pub struct Tesseract {
    pub program: String,
    pub languages: String,
}

impl Default for Tesseract {
    fn default() -> Self {
        Tesseract {
            program: "tesseract".into(),
            languages: "eng".into(),
        }
    }
}

/// What one page's recognition may use: a bill's page takes a second or two.
const LIMITS: Limits = Limits {
    memory: 1024 * 1024 * 1024,
    cpu_seconds: 30,
    wall_clock: Duration::from_secs(30),
    // A page's text: far less than this.
    max_output: 1024 * 1024,
};

impl OcrEngine for Tesseract {
    fn recognize(&self, image: &[u8]) -> Result<String, OcrError> {
        let mut command = limited::command(&self.program);
        command
            .args(["stdin", "stdout", "-l", &self.languages, "--psm", "4"])
            // One thread: two cores serve requests too.
            .env("OMP_THREAD_LIMIT", "1");
        let output = limited::run(command, image.to_vec(), LIMITS).map_err(|e| match e {
            ChildError::Start(e) => OcrError(format!(
                "{} could not be started ({e}): install Debian's tesseract-ocr",
                self.program
            )),
            other => OcrError(other.to_string()),
        })?;
        if !output.status.success() {
            return Err(OcrError(
                String::from_utf8_lossy(&output.stderr).trim().to_string(),
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

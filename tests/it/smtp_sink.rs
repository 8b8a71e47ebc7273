//! A real SMTP server on loopback for the mail tests: `tests/smtp_sink.py` (aiosmtpd), which
//! saves every message it accepts as JSON. It can be stopped and started again on its port to
//! play an outage.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde::Deserialize;

use crate::harness::scratch_dir;

#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub content_type: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

pub struct SmtpSink {
    pub port: u16,
    out: PathBuf,
    reject_rcpt: String,
    child: Option<Child>,
}

/// The Python that has aiosmtpd: `IAP_TEST_PYTHON`, else `python3`, else Debian's own.
fn python() -> String {
    if let Ok(python) = std::env::var("IAP_TEST_PYTHON") {
        return python;
    }
    for candidate in ["python3", "/usr/bin/python3"] {
        let has_aiosmtpd = Command::new(candidate)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if has_aiosmtpd {
            return candidate.to_string();
        }
    }
    panic!(
        "the mail tests need aiosmtpd: `python3 -m pip install aiosmtpd` or \
         `apt-get install python3-aiosmtpd` (.ci/run does this)"
    );
}

impl SmtpSink {
    /// Starts on a free port.
    pub fn start() -> SmtpSink {
        Self::start_rejecting("")
    }

    /// Starts on a free port, refusing (550) recipients that contain `reject_rcpt`.
    pub fn start_rejecting(reject_rcpt: &str) -> SmtpSink {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut sink = SmtpSink {
            port,
            out: scratch_dir("smtp-sink"),
            reject_rcpt: reject_rcpt.to_string(),
            child: None,
        };
        sink.resume();
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port; returns once it accepts connections.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--port", &self.port.to_string()])
            .arg("--out")
            .arg(&self.out)
            .args(["--reject-rcpt", &self.reject_rcpt])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        self.child = Some(child);
    }

    /// Stops the server: connections to its port are refused until `resume`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far, in the order received.
    pub fn received(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<_> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

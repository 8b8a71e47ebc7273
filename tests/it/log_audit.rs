//! No secret in any log line of the whole test run. Every line the in-process app logs (at
//! debug level for the app, through a JSON subscriber installed here like `--log-format json`)
//! is kept; at exit, after every test, the lines are searched for each secret the tests used —
//! the fixtures' and the demo's passwords, the test cards' numbers, and every account token the
//! fixtures made or the API was called with. A line holding one fails the run (the test binary
//! exits 1, naming the line) even when every test passed. The server processes some tests start
//! are checked by `request_logs.rs`.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Mutex, Once};

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static SECRETS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Secrets every run knows: passwords and the test cards (as typed, and as digits).
const KNOWN: &[&str] = &[
    crate::fixtures::PASSWORD,
    iap_credits::demo::DEMO_PASSWORD,
    "4242424242424242",
    "4242 4242 4242 4242",
    "4000000000000002",
    "4000000000009995",
    "4000000000000341",
];

/// Installs the capturing subscriber (once per test binary).
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::new("info,iap_credits=debug");
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .flatten_event(true)
            .with_writer(|| Capture(Vec::new()))
            .try_init();
    });
}

/// A secret the tests handed the app: no log line may hold it.
pub fn secret(text: &str) {
    if text.len() >= 8
        && let Ok(mut secrets) = SECRETS.lock()
    {
        secrets.insert(text.to_string());
    }
}

/// One log event's text, kept when dropped.
struct Capture(Vec<u8>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if !self.0.is_empty()
            && let Ok(mut lines) = LINES.lock()
        {
            lines.push(String::from_utf8_lossy(&self.0).into_owned());
        }
    }
}

/// The lines holding a secret (the secret masked), and how many lines were searched.
pub fn leaks() -> (Vec<String>, usize) {
    let lines = LINES.lock().map(|l| l.clone()).unwrap_or_default();
    let mut secrets: Vec<String> = SECRETS
        .lock()
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    secrets.extend(KNOWN.iter().map(|s| s.to_string()));
    let Ok(search) = aho_corasick::AhoCorasick::new(&secrets) else {
        return (
            vec!["the secrets could not be searched for".into()],
            lines.len(),
        );
    };
    let found = lines
        .iter()
        .filter_map(|line| {
            let hit = search.find(line)?;
            let secret = &secrets[hit.pattern().as_usize()];
            Some(line.replace(secret, &format!("<SECRET {}…>", &secret[..4])))
        })
        .collect();
    (found, lines.len())
}

/// The run's verdict, at exit: prints what leaked and says whether the run must fail.
pub fn run_leaked_secrets() -> bool {
    let (found, searched) = leaks();
    if found.is_empty() {
        eprintln!("log audit: no secret in any of the {searched} log lines of this run");
        return false;
    }
    eprintln!(
        "\nlog audit: {} of {searched} log lines of this run hold a secret:",
        found.len()
    );
    for line in found.iter().take(20) {
        eprintln!("  {}", line.trim_end());
    }
    true
}

#[test]
fn a_secret_in_a_log_line_is_found_and_masked() {
    install();
    let token = "audit-test-token-0123456789abcdef";
    secret(token);
    tracing::info!(target: "iap_credits::audit_probe", "probe without anything");
    tracing::info!(target: "iap_credits::audit_probe", probe = token, "probe");
    let (found, searched) = leaks();
    assert!(searched >= 2);
    let ours: Vec<&String> = found.iter().filter(|l| l.contains("audit_probe")).collect();
    assert_eq!(ours.len(), 1, "{found:?}");
    assert!(ours[0].contains("<SECRET audi…>") && !ours[0].contains(token));
    // The probe's own line must not fail the run: forget it.
    LINES.lock().unwrap().retain(|l| !l.contains("audit_probe"));
}

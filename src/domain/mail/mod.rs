//! Outgoing email: low-credit alerts and order receipts. Messages are queued in the outbox
//! (`outbox`) inside the transaction that causes them and sent later by a worker through the
//! `Mailer`: SMTP when `SMTP_URL` is set, else `.eml` files a newcomer can open.

pub mod compose;
pub mod outbox;

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::SmtpTransport;
use lettre::{Message, Transport};

/// How long one SMTP conversation may take before it counts as a failed attempt.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("SMTP_URL is not usable: {0}")]
    SmtpUrl(String),
    #[error("IAP_MAIL_FROM is not a valid sender address: {0}")]
    From(String),
}

/// Why a hand-off failed; a permanent one (the server refused the message or a recipient for
/// good) is not retried.
#[derive(Debug)]
pub struct SendFailure {
    pub message: String,
    pub permanent: bool,
}

enum MailTransport {
    Smtp {
        transport: SmtpTransport,
        /// The URL without its credentials, for logs.
        shown: String,
    },
    Files(PathBuf),
}

/// Where messages go, and who they are from.
pub struct Mailer {
    transport: MailTransport,
    from: Mailbox,
    /// Absolute URL of the app (links in messages), without a trailing slash.
    pub base_url: String,
}

pub const DEFAULT_FROM: &str = "IAP Credits <iap-credits@localhost>";

impl Mailer {
    /// SMTP through `url` (`smtp://host:port`, `smtps://user:pass@host`, or
    /// `smtp://host?tls=required` for STARTTLS).
    pub fn smtp(url: &str, from: &str, base_url: &str) -> Result<Self, MailError> {
        let transport = SmtpTransport::from_url(url)
            .map_err(|e| MailError::SmtpUrl(e.to_string()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let shown = match url.rsplit_once('@') {
            Some((scheme_and_credentials, host)) => {
                let scheme = scheme_and_credentials.split("://").next().unwrap_or("smtp");
                format!("{scheme}://{host}")
            }
            None => url.to_string(),
        };
        Ok(Mailer {
            transport: MailTransport::Smtp { transport, shown },
            from: parse_from(from)?,
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    /// Messages written as `<dir>/<outbox id>-<kind>.eml`.
    pub fn files(dir: PathBuf, from: &str, base_url: &str) -> Result<Self, MailError> {
        Ok(Mailer {
            transport: MailTransport::Files(dir),
            from: parse_from(from)?,
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    /// From the configuration: `SMTP_URL` if set, else files under `$IAP_DATA_DIR/mail`.
    pub fn from_config(
        config: &crate::platform::config::Config,
        base_url: &str,
    ) -> Result<Self, MailError> {
        let from = config.mail_from.as_deref().unwrap_or(DEFAULT_FROM);
        match config.smtp_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => Mailer::smtp(url, from, base_url),
            _ => Mailer::files(config.data_dir.join("mail"), from, base_url),
        }
    }

    /// Where messages go, for the log (never with credentials).
    pub fn describe(&self) -> String {
        match &self.transport {
            MailTransport::Smtp { shown, .. } => format!("SMTP server {shown}"),
            MailTransport::Files(dir) => format!(".eml files in {}", dir.display()),
        }
    }

    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Hands `message` over; `name` names the file for the file transport.
    pub fn deliver(&self, name: &str, message: &Message) -> Result<(), SendFailure> {
        match &self.transport {
            MailTransport::Smtp { transport, .. } => {
                transport.send(message).map(drop).map_err(|e| SendFailure {
                    permanent: e.is_permanent(),
                    message: e.to_string(),
                })
            }
            MailTransport::Files(dir) => {
                // Written whole under a temporary name, then renamed: a reader never sees half
                // a message, and a retry simply rewrites the same file.
                let write = || -> std::io::Result<PathBuf> {
                    crate::platform::config::ensure_private_dir(dir)?;
                    let path = dir.join(format!("{name}.eml"));
                    let partial = dir.join(format!(".{name}.eml.partial"));
                    // Messages name customers and amounts: readable by the app's user only.
                    use std::io::Write;
                    use std::os::unix::fs::OpenOptionsExt;
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(&partial)?
                        .write_all(&message.formatted())?;
                    std::fs::rename(&partial, &path)?;
                    Ok(path)
                };
                match write() {
                    Ok(path) => {
                        tracing::info!("wrote the email {}", path.display());
                        Ok(())
                    }
                    Err(e) => Err(SendFailure {
                        message: format!("could not write into {}: {e}", dir.display()),
                        permanent: false,
                    }),
                }
            }
        }
    }
}

fn parse_from(from: &str) -> Result<Mailbox, MailError> {
    from.trim()
        .parse()
        .map_err(|e: lettre::address::AddressError| MailError::From(format!("{from:?}: {e}")))
}

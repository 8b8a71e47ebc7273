//! The `iap-credits` command: `serve` (the default) and the operator's commands. Every command
//! uses the same configuration as the server, starting the embedded PostgreSQL for its duration
//! when needed (or joining the one a running server uses).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::demo;
use crate::domain::catalog;
use crate::domain::ledger::{self, Actor};
use crate::domain::mail::outbox::{self, EmailStatus};
use crate::domain::tenancy::{self, Role, Subscription};
use crate::kernel::credits::Credits;
use crate::platform::config::Config;
use crate::platform::db;
use crate::startup::{self, Application, DatabaseHandle};

#[derive(Parser, Debug)]
#[command(
    name = "iap-credits",
    version,
    about = "Sells and meters prepaid credits for in-app services"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,

    /// Create the demo database and logins even with an external DATABASE_URL.
    #[arg(long, global = true)]
    pub demo: bool,

    /// The demo without its ninety days of history (the blank state the seed's walkthroughs
    /// start from).
    #[arg(long, global = true)]
    pub no_demo_history: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web server (the default).
    Serve,
    /// Apply the database migrations and seed the catalog, then exit.
    Migrate,
    /// Create a customer database.
    CreateDatabase {
        /// The database's name, e.g. "My Company".
        name: String,
        #[arg(long, value_enum)]
        subscription: SubscriptionArg,
    },
    /// Create a user who signs in to a customer database.
    CreateUser {
        /// Name of the database the user belongs to.
        #[arg(long)]
        database: String,
        #[arg(long)]
        email: String,
        /// At least 8 characters.
        #[arg(long)]
        password: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Add or remove credits by hand (an adjustment): negative amounts go down to zero, never below.
    Grant {
        #[arg(long)]
        database: String,
        /// Service slug, e.g. sms.
        #[arg(long)]
        service: String,
        /// Credits to add, or to remove with a leading minus (e.g. -5), up to 4 decimals.
        #[arg(long, allow_hyphen_values = true)]
        credits: String,
        /// Why (kept in the ledger).
        #[arg(long)]
        reason: String,
    },
    /// Print an account's token and balances as JSON (creating the account on first use).
    ShowAccount {
        #[arg(long)]
        database: String,
        #[arg(long)]
        service: String,
    },
    /// Check the ledger's invariants for every account; exits 1 if any is broken.
    VerifyLedger,
    /// Make an API key for a service provider (Odoo's `iap_authorize`/`capture`/`cancel`);
    /// prints it once, as JSON.
    CreateProviderKey {
        /// The service's slug, e.g. `sms`.
        #[arg(long)]
        service: String,
        /// Whose key it is, e.g. the provider's name.
        #[arg(long)]
        name: String,
    },
    /// Write a consistent backup of the database (pg_dump's custom format) to a file only its
    /// owner can read.
    Backup {
        /// The file to write, e.g. iap-2026-11-28.dump.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Load a backup into an empty database (a new data dir, or an external database just
    /// created), migrate it, and check its ledger.
    Restore {
        /// A file written by `backup`.
        #[arg(long)]
        from: std::path::PathBuf,
    },
    /// End every session of a user at once (a lost laptop, a departed employee).
    SignOutEverywhere {
        #[arg(long)]
        email: String,
    },
    /// List the email outbox (alerts and receipts), newest first; or send a failed one again.
    Outbox {
        /// Only messages with this status.
        #[arg(long, value_enum)]
        status: Option<EmailStatusArg>,
        /// How many to list.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Queue this failed message again (its attempts start over).
        #[arg(long, value_name = "ID")]
        retry: Option<i64>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum EmailStatusArg {
    Pending,
    Sent,
    Failed,
    Cancelled,
}

impl From<EmailStatusArg> for EmailStatus {
    fn from(arg: EmailStatusArg) -> Self {
        match arg {
            EmailStatusArg::Pending => EmailStatus::Pending,
            EmailStatusArg::Sent => EmailStatus::Sent,
            EmailStatusArg::Failed => EmailStatus::Failed,
            EmailStatusArg::Cancelled => EmailStatus::Cancelled,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum SubscriptionArg {
    Enterprise,
    Demo,
    Educational,
    OneAppFree,
    None,
}

impl From<SubscriptionArg> for Subscription {
    fn from(arg: SubscriptionArg) -> Self {
        match arg {
            SubscriptionArg::Enterprise => Subscription::Enterprise,
            SubscriptionArg::Demo => Subscription::Demo,
            SubscriptionArg::Educational => Subscription::Educational,
            SubscriptionArg::OneAppFree => Subscription::OneAppFree,
            SubscriptionArg::None => Subscription::None,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum RoleArg {
    User,
    Admin,
    Platform,
}

impl From<RoleArg> for Role {
    fn from(arg: RoleArg) -> Self {
        match arg {
            RoleArg::User => Role::User,
            RoleArg::Admin => Role::Admin,
            RoleArg::Platform => Role::Platform,
        }
    }
}

/// Entry point of the binary: errors are one line on stderr and exit code 1, never a panic.
pub fn main() -> ExitCode {
    // The PDF reader's child process (see `documents::pdf`): no configuration, no database.
    if std::env::args().nth(1).as_deref() == Some("inspect-pdf") {
        return inspect_pdf();
    }
    let _ = dotenvy::dotenv();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Operator commands stay quiet unless asked; the server logs at info by default.
    let log_is_default = matches.value_source("rust_log") == Some(ValueSource::DefaultValue);
    let is_serve = matches!(cli.command, None | Some(Command::Serve));
    init_tracing(
        if log_is_default && !is_serve {
            "warn"
        } else {
            &cli.config.rust_log
        },
        cli.config.log_format,
    );
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Reads a PDF on stdin and prints what it holds as JSON; "refused: <reason>" and exit code 2
/// when it cannot be read. Run by `documents::pdf::PdfInspector` under memory and CPU limits.
fn inspect_pdf() -> ExitCode {
    use std::io::{Read, Write};
    let mut input = Vec::new();
    if std::io::stdin()
        // A signature page's request carries the PDF in base64: a third more.
        .take(crate::services::documents::MAX_BYTES as u64 * 2)
        .read_to_end(&mut input)
        .is_err()
    {
        eprintln!("refused: the PDF could not be read");
        return ExitCode::from(2);
    }
    let answer = match std::env::args().nth(2).as_deref() {
        Some("append-page") => crate::services::documents::pdf::run_append_page(&input),
        Some("page-jpeg") => crate::services::documents::pdf::run_page_jpeg(
            &input,
            std::env::args().nth(3).as_deref(),
        ),
        _ => crate::services::documents::pdf::run_helper(&input)
            .map(|facts| serde_json::to_vec(&facts).unwrap_or_default()),
    };
    match answer {
        Ok(bytes) => {
            let _ = std::io::stdout().write_all(&bytes);
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("refused: {reason}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(filter: &str, format: crate::platform::config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::platform::config::LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // One object per line, the event's fields at the top level.
        crate::platform::config::LogFormat::Json => logs.json().flatten_event(true).try_init(),
    };
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let base_url = cli.config.base_url()?;
    cli.config.prepare_data_dir()?;
    let database = DatabaseHandle::open(&cli.config)?;
    let result = run_with_database(&cli, &database, base_url);
    // Stop the embedded PostgreSQL whatever happened, once the pool is gone.
    database.close()?;
    result
}

fn run_with_database(cli: &Cli, database: &DatabaseHandle, base_url: String) -> anyhow::Result<()> {
    let pg_bin = cli.config.pg_bin.as_deref();
    // Before the migrations, which would make the database no longer empty.
    if let Some(Command::Restore { from }) = &cli.command {
        crate::platform::backup::restore(&database.owner_url, pg_bin, from)?;
        println!("Restored {}.", from.display());
    }
    let pool = startup::prepare_database(database, cli.config.db_pool_size)?;
    match cli.command.as_ref().unwrap_or(&Command::Serve) {
        Command::Serve => serve(cli, database, pool, base_url),
        Command::Migrate => {
            println!("The database is migrated and the catalog is seeded.");
            Ok(())
        }
        Command::CreateDatabase { name, subscription } => {
            let mut conn = pool.get()?;
            let created = tenancy::create_database(&mut conn, name, (*subscription).into())?;
            println!(
                "Created the database {:?} (subscription {}).",
                created.name, created.subscription
            );
            Ok(())
        }
        Command::CreateUser {
            database: database_name,
            email,
            password,
            role,
        } => {
            let mut conn = pool.get()?;
            let user =
                tenancy::create_user(&mut conn, database_name, email, password, (*role).into())?;
            println!(
                "Created the user {} ({}) in {:?}.",
                user.email, user.role, database_name
            );
            Ok(())
        }
        Command::Grant {
            database,
            service,
            credits,
            reason,
        } => {
            let mut conn = pool.get()?;
            let account = account_of(&mut conn, database, service)?;
            let (negative, magnitude) = match credits.trim().strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, credits.trim()),
            };
            let amount = Credits::parse(magnitude)
                .map_err(|e| anyhow::anyhow!("invalid --credits {credits:?}: {e}"))?;
            let delta = if negative {
                -amount.units()
            } else {
                amount.units()
            };
            let entry = ledger::adjust(&mut conn, account.id, delta, reason, &Actor::cli())?;
            println!(
                "Adjusted {database:?} {service} by {}: balance {}.",
                entry.amount, entry.balance_after
            );
            Ok(())
        }
        Command::ShowAccount { database, service } => {
            let mut conn = pool.get()?;
            let account = account_of(&mut conn, database, service)?;
            let shown = serde_json::json!({
                "database": database,
                "service": service,
                "token": account.token,
                "balance": account.balance.to_string(),
                "reserved": account.reserved.to_string(),
                "available": account.available().to_string(),
            });
            println!("{shown}");
            Ok(())
        }
        Command::Outbox {
            status,
            limit,
            retry,
        } => {
            let mut conn = pool.get()?;
            if let Some(id) = retry {
                if !outbox::retry_failed(&mut conn, *id)? {
                    anyhow::bail!("there is no failed message {id} in the outbox");
                }
                println!("Message {id} is queued again.");
                return Ok(());
            }
            let emails = outbox::list(&mut conn, status.map(Into::into), *limit)?;
            if emails.is_empty() {
                println!("The outbox is empty.");
            }
            for e in emails {
                println!(
                    "{} {} {} created {} attempts {}{}{}",
                    e.id,
                    e.kind,
                    e.status,
                    e.created_at.format("%Y-%m-%d %H:%M:%S"),
                    e.attempts,
                    e.recipients
                        .map(|to| format!(" to {to}"))
                        .unwrap_or_default(),
                    e.last_error
                        .map(|error| format!(" — {error}"))
                        .unwrap_or_default(),
                );
            }
            Ok(())
        }
        Command::CreateProviderKey { service, name } => {
            let mut conn = pool.get()?;
            let found = catalog::service_by_slug(&mut conn, service)?
                .ok_or_else(|| anyhow::anyhow!("there is no service with the slug {service:?}"))?;
            let created = crate::domain::provider_keys::create(&mut conn, found.id, name)?;
            let shown = serde_json::json!({
                "key": created.key,
                "service": found.slug.as_str(),
                "name": created.record.name,
            });
            println!("{shown}");
            Ok(())
        }
        Command::SignOutEverywhere { email } => {
            let mut conn = pool.get()?;
            let user = tenancy::find_user_by_email(&mut conn, email)?
                .ok_or_else(|| anyhow::anyhow!("there is no user with the email {email:?}"))?;
            let ended =
                crate::domain::auth::sessions::end_all_of(&mut conn, user.id, chrono::Utc::now())?;
            println!("Ended {ended} session(s) of {}.", user.email);
            Ok(())
        }
        Command::VerifyLedger | Command::Restore { .. } => verify_ledger(&pool),
        Command::Backup { to } => {
            let bytes = crate::platform::backup::backup(&database.owner_url, pg_bin, to)?;
            println!(
                "Wrote {} ({:.1} MiB), readable by its owner only. Restore it into an empty data \
                 dir with `iap-credits restore --from {}`.",
                to.display(),
                bytes as f64 / 1_048_576.0,
                to.display()
            );
            Ok(())
        }
    }
}

/// Checks the ledger's invariants and says what differs; an error when anything does.
fn verify_ledger(pool: &db::DbPool) -> anyhow::Result<()> {
    let mut conn = pool.get()?;
    let report = ledger::verify::verify_ledger(&mut conn)?;
    for d in &report.discrepancies {
        println!(
            "account {}: balance {} vs ledger {} (last entry {:?}); reserved {} vs ledger {} vs active holds {}",
            d.account_id,
            Credits::from_units(d.balance),
            Credits::from_units(d.ledger_sum),
            d.last_balance_after
                .map(Credits::from_units)
                .map(|c| c.to_string()),
            Credits::from_units(d.reserved),
            Credits::from_units(d.ledger_reserved_sum),
            Credits::from_units(d.active_holds_sum),
        );
    }
    for m in &report.rollup_mismatches {
        println!(
            "{} of account {} on {} differs from the rows it sums",
            m.rollup, m.account_id, m.day
        );
    }
    if report.is_consistent() {
        println!(
            "The ledger is consistent: {} accounts checked, daily rollups equal to the ledger.",
            report.accounts_checked
        );
        Ok(())
    } else {
        anyhow::bail!(
            "the ledger is inconsistent for {} of {} accounts; {} rollup day(s) differ",
            report.discrepancies.len(),
            report.accounts_checked,
            report.rollup_mismatches.len()
        )
    }
}

/// The account of a database (by name) for a service (by slug), created on first use.
fn account_of(
    conn: &mut diesel::PgConnection,
    database: &str,
    service: &str,
) -> anyhow::Result<ledger::IapAccount> {
    let db = tenancy::find_database(conn, database)?
        .ok_or_else(|| anyhow::anyhow!("there is no database named {database:?}"))?;
    let service = catalog::service_by_slug(conn, service)?
        .ok_or_else(|| anyhow::anyhow!("there is no service with the slug {service:?}"))?;
    Ok(ledger::accounts::get_or_create(conn, db.id, service.id)?)
}

/// Whether every address `bind` names is a loopback address (only this machine can connect).
fn binds_loopback_only(bind: &str) -> bool {
    use std::net::ToSocketAddrs;
    match bind.to_socket_addrs() {
        Ok(addresses) => {
            let addresses: Vec<_> = addresses.collect();
            !addresses.is_empty() && addresses.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

fn serve(
    cli: &Cli,
    database: &DatabaseHandle,
    pool: db::DbPool,
    base_url: String,
) -> anyhow::Result<()> {
    let loopback = binds_loopback_only(&cli.config.bind);
    let mut conn = pool.get()?;
    seed_demo_if_wanted(cli, database, loopback, &mut conn)?;
    let with_demo = demo::demo_logins_exist(&mut conn)?;
    drop(conn);
    if with_demo && !loopback && !cli.demo {
        anyhow::bail!(
            "the demo logins (password {:?}) exist in this database and {} can be reached from \
             other machines: delete the demo users, bind to 127.0.0.1, or pass --demo if this \
             is really a demo",
            demo::DEMO_PASSWORD,
            cli.config.bind
        );
    }
    let secret = cli.config.secret_key()?;
    let session_key = actix_web::cookie::Key::try_from(secret.as_slice())
        .context("the secret key is too short for a session key")?;
    let mailer = crate::domain::mail::Mailer::from_config(&cli.config, &base_url)?;
    let mail_destination = mailer.describe();
    let state = startup::server_state(&cli.config, database, pool, base_url.clone(), session_key)?;
    let bind = cli.config.bind.clone();
    actix_web::rt::System::new().block_on(async move {
        startup::spawn_workers(&state, mailer);
        tracing::info!("emails go to {mail_destination}");
        let settings = crate::platform::config::ServerSettings::new(
            cli.config.http_workers,
            cli.config.db_pool_size,
        );
        tracing::info!(?settings, "server settings");
        if let Some(address) = &cli.config.metrics_bind {
            let metrics = startup::metrics_server(state.clone(), address)
                .with_context(|| format!("could not listen on {address} for metrics"))?;
            actix_web::rt::spawn(metrics);
            tracing::info!("metrics at http://{address}/metrics");
        }
        let app = Application::build(state, &bind, settings)
            .with_context(|| format!("could not listen on {bind}"))?;
        let mut banner = format!("IAP Credits is running at {base_url} (press Ctrl-C to stop)\n");
        if with_demo {
            banner += &format!(
                "Demo logins for {:?} (password {:?}):\n",
                demo::DEMO_DATABASE,
                demo::DEMO_PASSWORD
            );
            for (email, role) in demo::DEMO_LOGINS {
                banner += &format!("  {email:<22} {role}\n");
            }
        }
        // A closed stdout (a detached terminal, a pipe nobody reads) must not stop the server.
        let mut stdout = std::io::stdout();
        let _ = stdout
            .write_all(banner.as_bytes())
            .and_then(|()| stdout.flush());
        app.run_until_stopped().await?;
        tracing::info!("web server stopped");
        anyhow::Ok(())
    })
}

/// The demo's public logins are for trying the app on this machine: created (with their
/// history, once) on the embedded default when only this machine can connect, or when asked
/// with --demo.
fn seed_demo_if_wanted(
    cli: &Cli,
    database: &DatabaseHandle,
    loopback: bool,
    conn: &mut diesel::PgConnection,
) -> anyhow::Result<()> {
    if cli.demo || (database.is_embedded() && loopback) {
        if demo::seed_demo(conn)? {
            tracing::info!("created the demo database {:?}", demo::DEMO_DATABASE);
            let started = std::time::Instant::now();
            let history = if cli.no_demo_history {
                None
            } else {
                demo::seed_demo_history(conn)?
            };
            if let Some(seeded) = history {
                tracing::info!(
                    databases = seeded.databases,
                    orders = seeded.orders,
                    ledger_rows = seeded.ledger_rows,
                    sms = seeded.sms,
                    enrichments = seeded.enrichments,
                    lead_requests = seeded.lead_requests,
                    letters = seeded.letters,
                    identifications = seeded.identifications,
                    bills = seeded.bills,
                    "wrote the demo's {} days of history in {:.1} s",
                    demo::history::DAYS,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    } else if database.is_embedded() {
        tracing::info!(
            "no demo data on {}: create the first operator with `iap-credits create-user \
             --database <name> --email <email> --password <password> --role platform`",
            cli.config.bind
        );
    }
    Ok(())
}

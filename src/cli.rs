//! The `iap-credits` command: `serve` (the default) and the operator's commands. Every command
//! uses the same configuration as the server, starting the embedded PostgreSQL for its duration
//! when needed (or joining the one a running server uses).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::db;
use crate::demo;
use crate::startup::{self, AppState, Application, DatabaseHandle};
use crate::tenancy::{self, Role, Subscription};

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
    let _ = dotenvy::dotenv();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Operator commands stay quiet unless asked; the server logs at info by default.
    let log_is_default = matches.value_source("rust_log") == Some(ValueSource::DefaultValue);
    let is_serve = matches!(cli.command, None | Some(Command::Serve));
    init_tracing(if log_is_default && !is_serve {
        "warn"
    } else {
        &cli.config.rust_log
    });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let base_url = cli.config.base_url()?;
    let database = DatabaseHandle::open(&cli.config)?;
    let result = run_with_database(&cli, &database, base_url);
    // Stop the embedded PostgreSQL whatever happened, once the pool is gone.
    database.close()?;
    result
}

fn run_with_database(cli: &Cli, database: &DatabaseHandle, base_url: String) -> anyhow::Result<()> {
    let pool = db::connect(&database.url).context("could not connect to the database")?;
    startup::prepare_database(&pool)?;
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
    }
}

fn serve(
    cli: &Cli,
    database: &DatabaseHandle,
    pool: db::DbPool,
    base_url: String,
) -> anyhow::Result<()> {
    let with_demo = database.is_embedded() || cli.demo;
    if with_demo {
        let mut conn = pool.get()?;
        if demo::seed_demo(&mut conn)? {
            tracing::info!("created the demo database {:?}", demo::DEMO_DATABASE);
        }
    }
    let secret = cli.config.secret_key()?;
    let session_key = actix_web::cookie::Key::try_from(secret.as_slice())
        .context("the secret key is too short for a session key")?;
    let state = AppState {
        pool,
        base_url: base_url.clone(),
        session_key,
    };
    let bind = cli.config.bind.clone();
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(state, &bind)
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

//! View My Services (the IAP Account list) and each account's Account Information page with
//! its history, token and low-credit alert settings (Warn Me, Threshold, Warning Email).

use crate::http::page;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::catalog::{self, Service};
use crate::domain::ledger::accounts::{self, AlertSettings, Naming};
use crate::domain::ledger::forecast::{self, Forecast};
use crate::domain::ledger::usage::{self, UsageDay};
use crate::domain::ledger::{self, IapAccount, LedgerEntry, LedgerError, entries};
use crate::domain::topup::{self, TopupErrors, TopupFields, TopupSettings};
use crate::http::error::AppError;
use crate::http::session::{Admin, CsrfForm, CurrentUser};
use crate::http::state::{AppState, with_conn};
use crate::kernel::ids::AccountId;
use crate::kernel::pagination::{Keyset, Page};
use crate::web::auto_topup::{self, TopupSection};
use crate::web::charts::{self, Series};
use page::Nav;

const HISTORY_PAGE: Keyset = Keyset(20);
/// The days the usage chart covers.
const USAGE_DAYS: i64 = 90;

/// Credits spent and bought each day, as a chart (the page's table has the exact figures).
fn usage_chart(days: &[UsageDay]) -> String {
    let dates: Vec<chrono::NaiveDate> = days.iter().map(|d| d.day).collect();
    // Drawing coordinates only: the figures shown are the exact ones in the table.
    let as_number = |c: crate::kernel::credits::Credits| c.units() as f64 / 10_000.0;
    charts::daily_lines(
        "Credits spent and bought per day, last 90 days",
        "credits",
        &dates,
        &[
            Series {
                name: "Spent".into(),
                values: days.iter().map(|d| as_number(d.spent)).collect(),
            },
            Series {
                name: "Bought".into(),
                values: days.iter().map(|d| as_number(d.bought)).collect(),
            },
        ],
    )
}

#[derive(Template)]
#[template(path = "iap/accounts.html")]
struct AccountListPage {
    nav: Nav,
    rows: Vec<(Service, IapAccount)>,
    /// Each account's label and whether it is marked as its service's default.
    namings: std::collections::HashMap<AccountId, Naming>,
    forecasts: std::collections::HashMap<AccountId, Forecast>,
    /// Each account's last 30 days of use, as a sparkline.
    sparklines: std::collections::HashMap<AccountId, String>,
}

impl AccountListPage {
    fn sparkline_of(&self, account: &IapAccount) -> String {
        self.sparklines
            .get(&account.id)
            .cloned()
            .unwrap_or_default()
    }

    /// "SMS", "SMS · Company B" with a label, and "… (account …3f9a)" where the database has
    /// several accounts of the service (Odoo sends a token per company).
    fn name_of(&self, service: &Service, account: &IapAccount) -> String {
        let siblings: Vec<&IapAccount> = self
            .rows
            .iter()
            .filter(|(s, _)| s.id == service.id)
            .map(|(_, a)| a)
            .collect();
        account_name(
            service,
            account,
            self.namings.get(&account.id),
            siblings.len() > 1,
        )
    }

    /// Whether the account is the one the database's own pages spend from, among several.
    fn is_default_of(&self, service: &Service, account: &IapAccount) -> bool {
        let siblings: Vec<&IapAccount> = self
            .rows
            .iter()
            .filter(|(s, _)| s.id == service.id)
            .map(|(_, a)| a)
            .collect();
        siblings.len() > 1 && default_among(&siblings, &self.namings) == Some(account.id)
    }

    fn forecast_of(&self, account: &IapAccount) -> String {
        self.forecasts
            .get(&account.id)
            .map(Forecast::sentence)
            .unwrap_or_default()
    }
}

pub async fn list(
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, AppError> {
    let database_id = current.user.database_id;
    let (rows, forecasts, spent, namings) = with_conn(&state, move |conn| {
        let rows = accounts::all_for_database(conn, database_id)?;
        let available: Vec<(AccountId, crate::kernel::credits::Credits)> =
            rows.iter().map(|(_, a)| (a.id, a.available())).collect();
        let ids: Vec<AccountId> = rows.iter().map(|(_, a)| a.id).collect();
        let namings = accounts::namings(conn, &ids)?;
        let now = chrono::Utc::now();
        let forecasts = forecast::forecasts(conn, &available, now)?;
        let ids: Vec<AccountId> = available.iter().map(|(id, _)| *id).collect();
        let today = now.date_naive();
        let spent = usage::daily_spent(conn, &ids, today - chrono::Duration::days(29), today)?;
        Ok((rows, forecasts, spent, namings))
    })
    .await?;
    let sparklines = spent
        .into_iter()
        .map(|(id, days)| {
            let total: crate::kernel::credits::Credits = days.iter().copied().sum();
            // Drawing coordinates only; the label says the exact total.
            let values: Vec<f64> = days.iter().map(|c| c.units() as f64 / 10_000.0).collect();
            let label = format!(
                "Credits spent per day, last 30 days: {} in all",
                total.to_display()
            );
            (id, charts::sparkline(&label, &values))
        })
        .collect();
    page::render(&AccountListPage {
        nav: Nav::for_user(&current),
        rows,
        namings,
        forecasts,
        sparklines,
    })
}

/// An account's name on the customer's pages: its service, its label, and (when the database
/// has several of the service) the end of its token.
fn account_name(
    service: &Service,
    account: &IapAccount,
    naming: Option<&Naming>,
    several: bool,
) -> String {
    let mut name = service.name.clone();
    if let Some(label) = naming.map(|n| n.label.as_str()).filter(|l| !l.is_empty()) {
        name = format!("{name} · {label}");
    }
    if several {
        name = format!("{name} (account …{})", account.token_ending());
    }
    name
}

/// The default among a service's accounts (oldest first): the one marked, else the oldest.
fn default_among(
    accounts: &[&IapAccount],
    namings: &std::collections::HashMap<AccountId, Naming>,
) -> Option<AccountId> {
    accounts
        .iter()
        .find(|a| namings.get(&a.id).is_some_and(|n| n.marked_default))
        .or(accounts.first())
        .map(|a| a.id)
}

/// The label form as typed.
#[derive(Default)]
pub struct LabelForm {
    pub label: String,
    pub error: Option<String>,
    pub saved: bool,
}

/// The "Move credits" form as typed.
pub struct MoveForm {
    pub form_key: String,
    pub credits: String,
    pub to: String,
    pub credits_error: Option<String>,
    pub to_error: Option<String>,
    /// What the last move did.
    pub moved: Option<String>,
}

impl Default for MoveForm {
    fn default() -> Self {
        MoveForm {
            form_key: crate::kernel::forms::new_form_key(),
            credits: String::new(),
            to: String::new(),
            credits_error: None,
            to_error: None,
            moved: None,
        }
    }
}

/// The alert form as typed, with a message per field that did not parse.
#[derive(Default)]
pub struct AlertForm {
    pub warn_me: bool,
    pub threshold: String,
    pub warning_email: String,
    pub threshold_error: Option<String>,
    pub email_error: Option<String>,
    pub saved: bool,
    /// An Odoo database asked for these settings: not saved until an administrator saves them.
    pub proposed: bool,
}

impl AlertForm {
    fn from_account(account: &IapAccount) -> Self {
        AlertForm {
            warn_me: account.warn_me,
            threshold: account.threshold.to_form_text(),
            warning_email: account.warning_email.clone(),
            ..AlertForm::default()
        }
    }
}

#[derive(Template)]
#[template(path = "iap/account.html")]
struct AccountPage {
    nav: Nav,
    /// The automatic top-up section (administrators only).
    topup: Option<TopupSection>,
    is_admin: bool,
    service: Service,
    account: IapAccount,
    history: Vec<LedgerEntry>,
    older: Option<i64>,
    alerts: AlertForm,
    forecast: Forecast,
    /// The last 90 days: the days with use (exact figures) and their chart.
    usage: Vec<UsageDay>,
    usage_chart: String,
    /// The top-up form shows what an Odoo database proposed, not what is saved.
    proposed_topup: bool,
    /// The account's name (service, label, token ending) and whether its database's own
    /// pages spend from it.
    name: String,
    is_default: bool,
    /// The database's other accounts of the service, by name.
    siblings: Vec<(AccountId, String)>,
    label_form: LabelForm,
    move_form: MoveForm,
}

impl AccountPage {
    fn masked_token(&self) -> String {
        let t = &self.account.token;
        format!("{}…{}", &t[..4], self.account.token_ending())
    }
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    before: Option<i64>,
    /// A change an Odoo database asked for with the account token alone, shown in its form
    /// for an administrator to confirm: "topup" (`below`, `pack`) or "alerts" (`threshold`,
    /// `warning_email`).
    propose: Option<String>,
    below: Option<String>,
    pack: Option<String>,
    threshold: Option<String>,
    warning_email: Option<String>,
}

impl HistoryQuery {
    /// The proposed alert settings, as the form shows them.
    fn proposed_alerts(&self) -> Option<AlertForm> {
        (self.propose.as_deref() == Some("alerts")).then(|| AlertForm {
            warn_me: true,
            threshold: self.threshold.clone().unwrap_or_default(),
            warning_email: self.warning_email.clone().unwrap_or_default(),
            proposed: true,
            ..AlertForm::default()
        })
    }
}

/// Everything the Account Information page shows, for an account of the user's database;
/// `alerts` and `topup` are refused forms to show again.
fn load_page(
    conn: &mut diesel::PgConnection,
    current: &CurrentUser,
    account_id: AccountId,
    before: Option<i64>,
    alerts: Option<AlertForm>,
    topup: Option<(TopupFields, TopupErrors)>,
) -> Result<AccountPage, AppError> {
    accounts::of_database(conn, current.user.database_id, account_id)?.ok_or(AppError::NotFound)?;
    let account = ledger::refresh(conn, account_id)?;
    let service = catalog::service_by_id(conn, account.service_id)?;
    let rows = entries::history(conn, account.id, before, HISTORY_PAGE.fetch())?;
    let Page {
        rows: history,
        next: older,
    } = HISTORY_PAGE.page(rows, |e| e.id);
    let today = chrono::Utc::now().date_naive();
    let days = usage::daily(
        conn,
        account.id,
        today - chrono::Duration::days(USAGE_DAYS - 1),
        today,
    )?;
    let active: Vec<UsageDay> = days
        .iter()
        .filter(|d| d.spent.units() != 0 || d.bought.units() != 0)
        .cloned()
        .collect();
    let chart = if active.is_empty() {
        String::new()
    } else {
        usage_chart(&days)
    };
    let forecast = forecast::forecasts(
        conn,
        &[(account.id, account.available())],
        chrono::Utc::now(),
    )?
    .remove(&account.id)
    .unwrap_or(Forecast::NotEnoughHistory);
    let topup = if current.user.is_admin() {
        Some(auto_topup::load_section(conn, &account, topup)?)
    } else {
        None
    };
    let same_service: Vec<IapAccount> =
        accounts::of_service(conn, current.user.database_id, account.service_id)?;
    let ids: Vec<AccountId> = same_service.iter().map(|a| a.id).collect();
    let namings = accounts::namings(conn, &ids)?;
    let several = same_service.len() > 1;
    let refs: Vec<&IapAccount> = same_service.iter().collect();
    let default = default_among(&refs, &namings);
    let siblings = same_service
        .iter()
        .filter(|a| a.id != account.id)
        .map(|a| (a.id, account_name(&service, a, namings.get(&a.id), several)))
        .collect();
    let naming = namings.get(&account.id).cloned().unwrap_or_default();
    Ok(AccountPage {
        name: account_name(&service, &account, Some(&naming), several),
        is_default: several && default == Some(account.id),
        siblings,
        label_form: LabelForm {
            label: naming.label,
            ..LabelForm::default()
        },
        move_form: MoveForm::default(),
        topup,
        forecast,
        usage_chart: chart,
        usage: active,
        proposed_topup: false,
        nav: Nav::for_user(current),
        is_admin: current.user.is_admin(),
        alerts: alerts.unwrap_or_else(|| AlertForm::from_account(&account)),
        service,
        account,
        history,
        older,
    })
}

pub async fn account_information(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<AccountId>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, AppError> {
    let (account_id, before) = (path.into_inner(), query.before);
    let query = query.into_inner();
    let page = with_conn(&state, move |conn| {
        let alerts = query.proposed_alerts();
        let topup = match query.propose.as_deref() {
            Some("topup") if current.user.is_admin() => auto_topup::proposed(
                conn,
                current.user.database_id,
                account_id,
                &query.below,
                &query.pack,
            )?,
            _ => None,
        };
        let proposed_topup = topup.is_some();
        let mut page = load_page(conn, &current, account_id, before, alerts, topup)?;
        page.proposed_topup = proposed_topup;
        Ok(page)
    })
    .await?;
    page::render(&page)
}

#[derive(Deserialize)]
pub struct AlertFields {
    warn_me: Option<String>,
    threshold: String,
    warning_email: String,
}

/// Parses the alert form; on error, the form as typed with its messages.
fn parse_alerts(fields: AlertFields) -> Result<AlertSettings, AlertForm> {
    let form = AlertForm {
        warn_me: fields.warn_me.is_some(),
        threshold: fields.threshold.trim().to_string(),
        warning_email: fields.warning_email.trim().to_string(),
        ..AlertForm::default()
    };
    AlertSettings::parse(form.warn_me, &form.threshold, &form.warning_email).map_err(|errors| {
        AlertForm {
            threshold_error: errors.threshold,
            email_error: errors.email,
            ..form
        }
    })
}

pub async fn save_alerts(
    state: web::Data<AppState>,
    Admin(current): Admin,
    path: web::Path<AccountId>,
    CsrfForm(fields): CsrfForm<AlertFields>,
) -> Result<HttpResponse, AppError> {
    let account_id = path.into_inner();
    let parsed = parse_alerts(fields);
    let (page, valid) = with_conn(&state, move |conn| {
        accounts::of_database(conn, current.user.database_id, account_id)?
            .ok_or(AppError::NotFound)?;
        match parsed {
            Ok(settings) => {
                accounts::save_alert_settings(conn, account_id, &settings)?;
                let mut page = load_page(conn, &current, account_id, None, None, None)?;
                page.alerts.saved = true;
                Ok((page, true))
            }
            Err(form) => Ok((
                load_page(conn, &current, account_id, None, Some(form), None)?,
                false,
            )),
        }
    })
    .await?;
    let status = if valid {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    page::render_with_status(&page, status)
}

/// Saves "Top up automatically"; a refused form comes back with its messages (422).
pub async fn save_topup(
    state: web::Data<AppState>,
    Admin(current): Admin,
    path: web::Path<AccountId>,
    CsrfForm(form): CsrfForm<auto_topup::TopupForm>,
) -> Result<HttpResponse, AppError> {
    let account_id = path.into_inner();
    let fields = form.fields();
    let (page, saved) = with_conn(&state, move |conn| {
        let (database_id, user_id) = (current.user.database_id, current.user.id);
        accounts::of_database(conn, database_id, account_id)?.ok_or(AppError::NotFound)?;
        let refused = match TopupSettings::parse(&fields) {
            Ok(settings) => {
                topup::save(conn, database_id, account_id, Some(user_id), &settings)?.err()
            }
            Err(errors) => Some(errors),
        };
        match refused {
            None => {
                let mut page = load_page(conn, &current, account_id, None, None, None)?;
                if let Some(section) = page.topup.as_mut() {
                    section.saved = true;
                }
                Ok((page, true))
            }
            Some(errors) => Ok((
                load_page(
                    conn,
                    &current,
                    account_id,
                    None,
                    None,
                    Some((fields, errors)),
                )?,
                false,
            )),
        }
    })
    .await?;
    let status = if saved {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    page::render_with_status(&page, status)
}

pub async fn regenerate_token(
    state: web::Data<AppState>,
    Admin(current): Admin,
    path: web::Path<AccountId>,
    _form: CsrfForm<page::EmptyForm>,
) -> Result<HttpResponse, AppError> {
    let account_id = path.into_inner();
    let database_id = current.user.database_id;
    with_conn(&state, move |conn| {
        accounts::of_database(conn, database_id, account_id)?.ok_or(AppError::NotFound)?;
        Ok(accounts::regenerate_token(conn, account_id)?)
    })
    .await?;
    Ok(page::see_other(format!("/iap/accounts/{account_id}")))
}

/// `GET /iap/accounts/{id}/ledger.csv`: the account's whole ledger, for its database's users.
pub async fn ledger_csv(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<AccountId>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    with_conn(&state, move |conn| {
        accounts::of_database(conn, database_id, id)?.ok_or(AppError::NotFound)
    })
    .await?;
    crate::web::ledger_csv::response(&state, id)
}

/// A page's status: 200, or 422 for a refused form.
fn status_of(valid: bool) -> actix_web::http::StatusCode {
    if valid {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    }
}

#[derive(Deserialize)]
pub struct LabelFields {
    label: String,
}

/// Names the account ("Company B", "Brussels office"): how the customer tells its accounts of
/// one service apart.
pub async fn save_label(
    state: web::Data<AppState>,
    Admin(current): Admin,
    path: web::Path<AccountId>,
    CsrfForm(fields): CsrfForm<LabelFields>,
) -> Result<HttpResponse, AppError> {
    let account_id = path.into_inner();
    let (page, valid) = with_conn(&state, move |conn| {
        let database_id = current.user.database_id;
        accounts::of_database(conn, database_id, account_id)?.ok_or(AppError::NotFound)?;
        let parsed = accounts::parse_label(&fields.label);
        if let Ok(label) = &parsed {
            accounts::set_label(conn, database_id, account_id, label)?;
        }
        let mut page = load_page(conn, &current, account_id, None, None, None)?;
        let valid = parsed.is_ok();
        match parsed {
            Ok(_) => page.label_form.saved = true,
            Err(error) => {
                page.label_form = LabelForm {
                    label: fields.label,
                    error: Some(error),
                    saved: false,
                }
            }
        }
        Ok((page, valid))
    })
    .await?;
    page::render_with_status(&page, status_of(valid))
}

/// Makes the account the one its database's own pages spend from.
pub async fn make_default(
    state: web::Data<AppState>,
    Admin(current): Admin,
    path: web::Path<AccountId>,
    _form: CsrfForm<page::EmptyForm>,
) -> Result<HttpResponse, AppError> {
    let account_id = path.into_inner();
    let database_id = current.user.database_id;
    let found = with_conn(&state, move |conn| {
        Ok(accounts::make_default(conn, database_id, account_id)?)
    })
    .await?;
    if !found {
        return Err(AppError::NotFound);
    }
    Ok(page::see_other(format!("/iap/accounts/{account_id}")))
}

#[derive(Deserialize)]
pub struct MoveFields {
    form_key: String,
    credits: String,
    to: String,
}

/// Why a move did not happen, at its field.
enum MoveRefused {
    Credits(String),
    To(String),
    Fault(AppError),
}

impl From<diesel::result::Error> for MoveRefused {
    fn from(e: diesel::result::Error) -> Self {
        MoveRefused::Fault(e.into())
    }
}

/// Moves credits from this account to another of the database's accounts of the service,
/// once per form (a re-posted form shows the first move again).
pub async fn move_credits(
    state: web::Data<AppState>,
    Admin(current): Admin,
    path: web::Path<AccountId>,
    CsrfForm(fields): CsrfForm<MoveFields>,
) -> Result<HttpResponse, AppError> {
    let account_id = path.into_inner();
    let (page, valid) = with_conn(&state, move |conn| {
        let database_id = current.user.database_id;
        let account =
            accounts::of_database(conn, database_id, account_id)?.ok_or(AppError::NotFound)?;
        let outcome = run_move(conn, &current, &account, &fields);
        let mut page = load_page(conn, &current, account_id, None, None, None)?;
        let valid = match outcome {
            Ok(moved) => {
                page.move_form.moved = Some(moved);
                true
            }
            Err(refused) => {
                let (credits_error, to_error) = match refused {
                    MoveRefused::Credits(e) => (Some(e), None),
                    MoveRefused::To(e) => (None, Some(e)),
                    MoveRefused::Fault(e) => return Err(e),
                };
                page.move_form = MoveForm {
                    form_key: fields.form_key,
                    credits: fields.credits,
                    to: fields.to,
                    credits_error,
                    to_error,
                    moved: None,
                };
                false
            }
        };
        Ok((page, valid))
    })
    .await?;
    page::render_with_status(&page, status_of(valid))
}

/// The move a form asks for, once per form key: what it did, or why not.
fn run_move(
    conn: &mut diesel::PgConnection,
    current: &CurrentUser,
    account: &IapAccount,
    fields: &MoveFields,
) -> Result<String, MoveRefused> {
    let amount = crate::kernel::credits::Credits::parse(fields.credits.trim())
        .ok()
        .filter(|c| *c > crate::kernel::credits::Credits::ZERO)
        .ok_or_else(|| {
            MoveRefused::Credits(
                "Enter a number of credits greater than zero, with at most 4 decimals.".into(),
            )
        })?;
    let to: AccountId = fields
        .to
        .trim()
        .parse::<i64>()
        .map(AccountId)
        .map_err(|_| MoveRefused::To("Choose the account that receives the credits.".into()))?;
    let form_key = fields.form_key.trim();
    if form_key.is_empty() || form_key.len() > 100 {
        return Err(MoveRefused::Credits("The form expired: try again.".into()));
    }
    let operator = crate::domain::audit::Operator {
        user_id: current.user.id,
        email: current.user.email.clone(),
    };
    let database_id = current.user.database_id;
    let request = format!("move {} {} {}", account.id, to, amount);
    let outcome = ledger::idempotency::run_once(
        conn,
        &format!("move-credits:{database_id}"),
        form_key,
        &request,
        |conn| {
            let moved = ledger::transfers::move_between_accounts(
                conn,
                database_id,
                account.id,
                to,
                amount,
                &operator,
            );
            match moved {
                Ok((_, into)) => Ok(ledger::idempotency::StoredResponse {
                    status: 200,
                    body: format!(
                        "Moved {} to account …{}.",
                        amount.with_unit(),
                        accounts::by_id(conn, into.account_id)?
                            .map(|a| a.token_ending().to_string())
                            .unwrap_or_default()
                    ),
                }),
                Err(LedgerError::InsufficientCredits { available, .. }) => {
                    Err(MoveRefused::Credits(format!(
                        "Only {} can be moved: that is what this account has available.",
                        available.with_unit()
                    )))
                }
                Err(LedgerError::AccountNotFound | LedgerError::SameAccount) => Err(
                    MoveRefused::To("Choose another account of this service.".into()),
                ),
                Err(LedgerError::ZeroAmount | LedgerError::Overflow) => Err(MoveRefused::Credits(
                    "Enter a number of credits greater than zero.".into(),
                )),
                Err(e) => Err(MoveRefused::Fault(e.into())),
            }
        },
    )?;
    match outcome {
        ledger::idempotency::Outcome::Fresh(r) | ledger::idempotency::Outcome::Replayed(r) => {
            Ok(r.body)
        }
        ledger::idempotency::Outcome::Conflict => Err(MoveRefused::Credits(
            "This form was already used for another move: reload the page to move again.".into(),
        )),
    }
}

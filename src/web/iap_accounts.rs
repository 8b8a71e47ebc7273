//! View My Services (the IAP Account list) and each account's Account Information page with
//! its history, token and low-credit alert settings (Warn Me, Threshold, Warning Email).

use crate::web::page;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::session::{Admin, CsrfForm, CurrentUser};
use crate::catalog::{self, Service};
use crate::error::AppError;
use crate::ids::AccountId;
use crate::ledger::accounts::{self, AlertSettings};
use crate::ledger::forecast::{self, Forecast};
use crate::ledger::usage::{self, UsageDay};
use crate::ledger::{self, IapAccount, LedgerEntry, entries};
use crate::pagination::{Keyset, Page};
use crate::topup::{self, TopupErrors, TopupFields, TopupSettings};
use crate::web::auto_topup::{self, TopupSection};
use crate::web::charts::{self, Series};
use crate::web::state::{AppState, with_conn};
use page::Nav;

const HISTORY_PAGE: Keyset = Keyset(20);
/// The days the usage chart covers.
const USAGE_DAYS: i64 = 90;

/// Credits spent and bought each day, as a chart (the page's table has the exact figures).
fn usage_chart(days: &[UsageDay]) -> String {
    let dates: Vec<chrono::NaiveDate> = days.iter().map(|d| d.day).collect();
    // Drawing coordinates only: the figures shown are the exact ones in the table.
    let as_number = |c: crate::credits::Credits| c.units() as f64 / 10_000.0;
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

    /// "SMS", or "SMS (account …3f9a)" where the database has several accounts of the service
    /// (Odoo sends a token per company).
    fn name_of(&self, service: &Service, account: &IapAccount) -> String {
        let several = self.rows.iter().filter(|(s, _)| s.id == service.id).count() > 1;
        if several {
            format!("{} (account …{})", service.name, account.token_ending())
        } else {
            service.name.clone()
        }
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
    let (rows, forecasts, spent) = with_conn(&state, move |conn| {
        let rows = accounts::all_for_database(conn, database_id)?;
        let available: Vec<(AccountId, crate::credits::Credits)> =
            rows.iter().map(|(_, a)| (a.id, a.available())).collect();
        let now = chrono::Utc::now();
        let forecasts = forecast::forecasts(conn, &available, now)?;
        let ids: Vec<AccountId> = available.iter().map(|(id, _)| *id).collect();
        let today = now.date_naive();
        let spent = usage::daily_spent(conn, &ids, today - chrono::Duration::days(29), today)?;
        Ok((rows, forecasts, spent))
    })
    .await?;
    let sparklines = spent
        .into_iter()
        .map(|(id, days)| {
            let total: crate::credits::Credits = days.iter().copied().sum();
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
        forecasts,
        sparklines,
    })
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
    Ok(AccountPage {
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

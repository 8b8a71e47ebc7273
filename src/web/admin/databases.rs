//! `/admin/databases`: search customer databases, see their accounts, one account's holds and
//! ledger (with a streamed CSV export of all of it), and adjust its credits by hand.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::ledger::accounts::{self, AccountRow, AccountView};
use crate::domain::ledger::{LedgerEntry, LedgerError, adjustments, entries};
use crate::domain::tenancy::{self, DatabaseRow, PAGE_SIZE};
use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::{CsrfForm, PlatformOperator};
use crate::http::state::{AppState, with_conn};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, DatabaseId};
use crate::kernel::pagination::{Keyset, Page};

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    /// Also the databases never used (no users, never bought or spent): a name search looks
    /// at every database.
    all: Option<String>,
    after: Option<DatabaseId>,
}

#[derive(Template)]
#[template(path = "admin/databases.html")]
struct ListPage {
    nav: Nav,
    q: String,
    all: bool,
    rows: Vec<DatabaseRow>,
    next: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, AppError> {
    let SearchQuery { q, all, after } = query.into_inner();
    let all = all.is_some();
    let search = q.clone();
    let everything = all || !q.trim().is_empty();
    let found = with_conn(&state, move |conn| {
        Ok(tenancy::search(
            conn,
            &search,
            everything,
            after,
            PAGE_SIZE.fetch(),
        )?)
    })
    .await?;
    let Page { rows, next } = PAGE_SIZE.page(found, |r| {
        let mut pairs = vec![("q", q.clone()), ("after", r.id.to_string())];
        if all {
            pairs.push(("all", "on".into()));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    });
    page::render(&ListPage {
        nav: Nav::for_user(&operator.0),
        q,
        all,
        rows,
        next,
    })
}

#[derive(Template)]
#[template(path = "admin/database.html")]
struct DatabasePage {
    nav: Nav,
    database: DatabaseRow,
    accounts: Vec<AccountRow>,
    /// Its latest SMS, sent from its contacts or through Odoo's SMS API.
    sms: Vec<crate::services::sms::messages::SmsMessage>,
    /// Its latest Partner Autocomplete enrichments and Lead Generation requests.
    enrichments: Vec<crate::services::partner_autocomplete::EnrichmentRow>,
    lead_requests: Vec<crate::services::leads::generation::RequestWithCharge>,
    /// Its latest letters, sent by post from its pages or by its Odoo's `snailmail`.
    letters: Vec<crate::services::snailmail::Letter>,
}

pub async fn show(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<DatabaseId>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let page = with_conn(&state, move |conn| {
        let database = tenancy::database_row(conn, id)?.ok_or(AppError::NotFound)?;
        let mut sms = crate::services::sms::messages::history(conn, id)?;
        sms.truncate(50);
        Ok(DatabasePage {
            nav: Nav::for_user(&operator.0),
            database,
            accounts: accounts::accounts_of(conn, id)?,
            sms,
            enrichments: crate::services::partner_autocomplete::latest(conn, id, 20)?,
            lead_requests: crate::services::leads::generation::requests(conn, id, 20)?,
            letters: crate::services::snailmail::latest(conn, id, 20)?,
        })
    })
    .await?;
    page::render(&page)
}

/// The adjustment form as typed.
#[derive(Deserialize, Default)]
pub struct AdjustForm {
    #[serde(default)]
    direction: String,
    #[serde(default)]
    credits: String,
    #[serde(default)]
    reason: String,
}

#[derive(Template)]
#[template(path = "admin/account.html")]
struct AccountPage {
    nav: Nav,
    view: AccountView,
    entries: Vec<LedgerEntry>,
    older: Option<i64>,
    form: AdjustForm,
    credits_error: Option<String>,
    reason_error: Option<String>,
    adjusted: bool,
}

const LEDGER_PAGE: Keyset = Keyset(50);

fn account_page(
    conn: &mut crate::platform::db::DbConn,
    nav: Nav,
    account_id: AccountId,
    before: Option<i64>,
) -> Result<AccountPage, AppError> {
    let view = accounts::operator_view(conn, account_id)?.ok_or(AppError::NotFound)?;
    let rows = entries::history(conn, account_id, before, LEDGER_PAGE.fetch())?;
    let Page {
        rows: entries,
        next: older,
    } = LEDGER_PAGE.page(rows, |e| e.id);
    Ok(AccountPage {
        nav,
        view,
        entries,
        older,
        form: AdjustForm {
            direction: "credit".into(),
            ..AdjustForm::default()
        },
        credits_error: None,
        reason_error: None,
        adjusted: false,
    })
}

#[derive(Deserialize)]
pub struct AccountQuery {
    before: Option<i64>,
    adjusted: Option<String>,
}

pub async fn account(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<AccountId>,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, AppError> {
    let (id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let query = query.into_inner();
    let page = with_conn(&state, move |conn| {
        let mut page = account_page(conn, nav, id, query.before)?;
        page.adjusted = query.adjusted.is_some();
        Ok(page)
    })
    .await?;
    page::render(&page)
}

pub async fn adjust(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<AccountId>,
    CsrfForm(form): CsrfForm<AdjustForm>,
) -> Result<HttpResponse, AppError> {
    let (id, nav) = (path.into_inner(), Nav::for_user(&operator.0));
    let operator = operator.operator();
    let outcome = with_conn(&state, move |conn| {
        let mut credits_error = None;
        let mut reason_error = None;
        let sign = match form.direction.as_str() {
            "credit" => 1,
            "debit" => -1,
            _ => {
                credits_error = Some("Choose Add or Remove.".to_string());
                0
            }
        };
        let amount = match Credits::parse(form.credits.trim()) {
            Ok(amount) if amount > Credits::ZERO => amount,
            Ok(_) => {
                credits_error = Some("Enter more than 0 credits.".into());
                Credits::ZERO
            }
            Err(e) => {
                credits_error = Some(format!("Credits: {e}."));
                Credits::ZERO
            }
        };
        if form.reason.trim().is_empty() {
            reason_error = Some("Say why the credits are adjusted.".into());
        }
        if credits_error.is_none() && reason_error.is_none() {
            match adjustments::adjust_by_operator(
                conn,
                &operator,
                id,
                sign * amount.units(),
                &form.reason,
            ) {
                Ok(_) => return Ok(Ok(())),
                Err(LedgerError::AccountNotFound) => return Err(AppError::NotFound),
                Err(LedgerError::InsufficientCredits { available, .. }) => {
                    credits_error = Some(format!(
                        "Only {} credits are available; an adjustment never takes an account below zero.",
                        available.to_display()
                    ));
                }
                Err(LedgerError::Database(e)) => return Err(e.into()),
                Err(e) => credits_error = Some(e.to_string()),
            }
        }
        let mut page = account_page(conn, nav, id, None)?;
        page.form = form;
        page.credits_error = credits_error;
        page.reason_error = reason_error;
        Ok(Err(page))
    })
    .await?;
    match outcome {
        Ok(()) => Ok(page::see_other(format!("/admin/accounts/{id}?adjusted=1"))),
        Err(page) => page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

/// The whole ledger of an account as CSV, streamed a batch at a time so that a long ledger
/// never sits in memory.
pub async fn ledger_csv(
    state: web::Data<AppState>,
    _operator: PlatformOperator,
    path: web::Path<AccountId>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let exists = with_conn(&state, move |conn| {
        Ok(accounts::operator_view(conn, id)?.is_some())
    })
    .await?;
    if !exists {
        return Err(AppError::NotFound);
    }
    crate::web::ledger_csv::response(&state, id)
}

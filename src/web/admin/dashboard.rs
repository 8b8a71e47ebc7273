//! `/admin`: what sells, what is consumed, who is about to run dry, what needs attention.

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::PlatformOperator;
use crate::http::state::{AppState, with_conn, with_read_conn};
use crate::kernel::period::{Period, parse_day};
use crate::read_models::operator_dashboard::{self, Dashboard};
use crate::web::charts::{self, Series};

/// The period choices offered, in days.
const CHOICES: [i64; 3] = [7, 30, 90];
const DEFAULT_DAYS: i64 = 30;

#[derive(Deserialize, Default)]
pub struct PeriodQuery {
    #[serde(default)]
    period: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// The period form as typed, with its error, and the period it means (the default when the
/// form is wrong).
pub struct PeriodForm {
    pub choice: String,
    pub from: String,
    pub to: String,
    pub error: Option<String>,
    pub period: Period,
}

impl PeriodForm {
    fn parse(query: PeriodQuery) -> PeriodForm {
        let today = Utc::now().date_naive();
        let mut form = PeriodForm {
            choice: query.period.trim().to_string(),
            from: query.from.trim().to_string(),
            to: query.to.trim().to_string(),
            error: None,
            period: Period::last_days(DEFAULT_DAYS, today),
        };
        if form.choice.is_empty() {
            form.choice = DEFAULT_DAYS.to_string();
        }
        if form.choice == "custom" {
            let result = match (parse_day(&form.from), parse_day(&form.to)) {
                (Ok(Some(from)), Ok(Some(to))) => Period::new(from, to).map_err(|e| e.to_string()),
                (Err(e), _) | (_, Err(e)) => Err(e),
                _ => Err("Enter both the first and the last day.".to_string()),
            };
            match result {
                Ok(period) => form.period = period,
                Err(e) => form.error = Some(e),
            }
        } else {
            match form.choice.parse::<i64>() {
                Ok(days) if CHOICES.contains(&days) => form.period = Period::last_days(days, today),
                _ => {
                    form.error = Some("Choose 7, 30 or 90 days, or dates.".into());
                    form.choice = DEFAULT_DAYS.to_string();
                }
            }
        }
        form
    }
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    nav: Nav,
    below_threshold_shown: i64,
    form: PeriodForm,
    d: Dashboard,
    revenue_chart: String,
    sold_chart: String,
    consumed_chart: String,
}

pub async fn page(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    query: web::Query<PeriodQuery>,
) -> Result<HttpResponse, AppError> {
    let form = PeriodForm::parse(query.into_inner());
    let period = form.period;
    let d = with_read_conn(&state, move |conn| {
        Ok(operator_dashboard::dashboard(conn, period)?)
    })
    .await?;
    let days = d.period.days();
    // Chart coordinates only; the tables show the exact figures.
    let revenue: Vec<Series> = d
        .daily_revenue_minor
        .iter()
        .map(|(currency, values)| Series {
            name: currency.clone(),
            values: values.iter().map(|m| *m as f64 / 100.0).collect(),
        })
        .collect();
    let credits =
        |map: &std::collections::BTreeMap<String, Vec<crate::kernel::credits::Credits>>| {
            map.iter()
                .map(|(service, values)| Series {
                    name: service.clone(),
                    values: values.iter().map(|c| c.units() as f64 / 10_000.0).collect(),
                })
                .collect::<Vec<_>>()
        };
    let page = DashboardPage {
        nav: Nav::for_user(&operator.0),
        below_threshold_shown: operator_dashboard::BELOW_THRESHOLD_SHOWN,
        revenue_chart: charts::daily_lines("Revenue per day", "revenue", &days, &revenue),
        sold_chart: charts::daily_lines(
            "Credits sold per day, per service",
            "credits",
            &days,
            &credits(&d.daily_sold),
        ),
        consumed_chart: charts::daily_lines(
            "Credits consumed per day, per service",
            "credits",
            &days,
            &credits(&d.daily_consumed),
        ),
        form,
        d,
    };
    page::render(&page)
}

pub async fn retry_email(
    state: web::Data<AppState>,
    operator: PlatformOperator,
    path: web::Path<i64>,
    _form: crate::http::session::CsrfForm<page::EmptyForm>,
) -> Result<HttpResponse, AppError> {
    let (id, operator) = (path.into_inner(), operator.operator());
    let queued = with_conn(&state, move |conn| {
        Ok(crate::domain::mail::outbox::retry_failed_by_operator(
            conn, &operator, id,
        )?)
    })
    .await?;
    if !queued {
        return Err(AppError::NotFound);
    }
    Ok(page::see_other("/admin#outbox-title"))
}

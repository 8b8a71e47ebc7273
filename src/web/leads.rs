//! The Leads app: list (search, pages), a lead's page, Generate Leads and its requests.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::page::{self, Nav};
use crate::http::session::{CsrfForm, CurrentUser};
use crate::http::state::{AppState, with_conn};
use crate::kernel::credits::Credits;
use crate::kernel::forms::FieldErrors;
use crate::kernel::ids::{AccountId, LeadId, LeadRequestId};
use crate::kernel::pagination::Page;
use crate::services::directory::data::{COUNTRIES, DEPARTMENTS, INDUSTRIES, SENIORITIES};
use crate::services::leads::generation::{
    self, GenerateError, LeadPrices, LeadRequestInput, LeadRequestStatus, RequestWithCharge,
};
use crate::services::leads::{self, Lead, LeadContact, LeadEvent};

#[derive(Template)]
#[template(path = "leads/list.html")]
struct ListPage {
    nav: Nav,
    search: String,
    leads: Vec<Lead>,
    contact_counts: std::collections::HashMap<LeadId, i64>,
    next: Option<String>,
}

impl ListPage {
    fn contacts_of(&self, lead: &LeadId) -> i64 {
        self.contact_counts.get(lead).copied().unwrap_or(0)
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    after_name: Option<String>,
    after_id: Option<LeadId>,
}

pub async fn list(
    state: web::Data<AppState>,
    current: CurrentUser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let search = query.q.unwrap_or_default();
    let after = query.after_name.zip(query.after_id);
    let (database_id, text) = (current.user.database_id, search.clone());
    let (found, contact_counts) = with_conn(&state, move |conn| {
        let found = leads::list(conn, database_id, &text, after)?;
        let ids: Vec<LeadId> = found.iter().map(|l| l.id).collect();
        let counts = leads::contact_counts(conn, database_id, &ids)?;
        Ok((found, counts))
    })
    .await?;
    let Page { rows, next } = leads::PAGE_SIZE.page(found, |l| {
        serde_urlencoded::to_string([
            ("q", search.as_str()),
            ("after_name", l.name.as_str()),
            ("after_id", &l.id.to_string()),
        ])
        .unwrap_or_default()
    });
    page::render(&ListPage {
        nav: Nav::for_user(&current),
        search,
        leads: rows,
        contact_counts,
        next,
    })
}

#[derive(Template)]
#[template(path = "leads/show.html")]
struct ShowPage {
    nav: Nav,
    lead: Lead,
    contacts: Vec<LeadContact>,
    events: Vec<LeadEvent>,
}

pub async fn show(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<LeadId>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    let (lead, contacts, events) = with_conn(&state, move |conn| {
        let lead = leads::find(conn, database_id, id)?.ok_or(AppError::NotFound)?;
        let contacts = leads::contacts_of(conn, database_id, id)?;
        let events = leads::events_of(conn, database_id, id)?;
        Ok((lead, contacts, events))
    })
    .await?;
    page::render(&ShowPage {
        nav: Nav::for_user(&current),
        lead,
        contacts,
        events,
    })
}

/// What a refused request lacks, and what the credits afford instead.
struct Shortfall {
    account_id: AccountId,
    available: Credits,
    needed: Credits,
    affordable: i64,
}

#[derive(Template)]
#[template(path = "leads/generate.html")]
struct GeneratePage {
    nav: Nav,
    input: LeadRequestInput,
    errors: FieldErrors,
    prices: LeadPrices,
    shortfall: Option<Shortfall>,
    requests: Vec<RequestWithCharge>,
    countries: Vec<(&'static str, &'static str)>,
    industries: &'static [(&'static str, &'static str)],
    seniorities: &'static [&'static str],
    departments: &'static [&'static str],
}

impl GeneratePage {
    fn new(
        current: &CurrentUser,
        input: LeadRequestInput,
        prices: LeadPrices,
        requests: Vec<RequestWithCharge>,
    ) -> Self {
        GeneratePage {
            nav: Nav::for_user(current),
            input,
            errors: FieldErrors::default(),
            prices,
            shortfall: None,
            requests,
            countries: COUNTRIES.iter().map(|c| (c.code, c.name)).collect(),
            industries: INDUSTRIES,
            seniorities: SENIORITIES,
            departments: DEPARTMENTS,
        }
    }

    fn checked(values: &[String], value: &str) -> bool {
        values.iter().any(|v| v == value)
    }

    /// The maximum cost of the form's values, as the page first shows it (the script updates
    /// it as the user types).
    fn maximum(&self) -> String {
        let leads = self.input.leads.trim().parse::<i32>().unwrap_or(0);
        let contacts = self.input.contacts.trim().parse::<i32>().unwrap_or(0);
        if (1..=generation::MAX_LEADS).contains(&leads)
            && (0..=generation::MAX_CONTACTS).contains(&contacts)
        {
            self.prices.maximum(leads, contacts).to_display()
        } else {
            "—".into()
        }
    }

    fn label(text: &str) -> String {
        let spaced = text.replace('_', " ");
        let mut chars = spaced.chars();
        chars
            .next()
            .map(|first| first.to_uppercase().collect::<String>() + chars.as_str())
            .unwrap_or_default()
    }
}

async fn generate_page(
    state: &AppState,
    current: &CurrentUser,
    input: LeadRequestInput,
) -> Result<GeneratePage, AppError> {
    let database_id = current.user.database_id;
    let (prices, requests) = with_conn(state, move |conn| {
        Ok((
            LeadPrices::current(conn)?,
            generation::requests(conn, database_id, 20)?,
        ))
    })
    .await?;
    Ok(GeneratePage::new(current, input, prices, requests))
}

pub async fn generate_form(
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, AppError> {
    let page = generate_page(&state, &current, LeadRequestInput::blank()).await?;
    page::render(&page)
}

pub async fn generate(
    state: web::Data<AppState>,
    current: CurrentUser,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let input = LeadRequestInput::from_pairs(&pairs);
    let valid = match input.validate() {
        Ok(valid) => valid,
        Err(errors) => {
            let mut page = generate_page(&state, &current, input).await?;
            page.errors = errors;
            return page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let (database_id, user_id) = (current.user.database_id, current.user.id);
    let directory = state.directory.clone();
    let outcome = with_conn(&state, move |conn| {
        match generation::generate(conn, &directory, database_id, user_id, &valid) {
            Ok(id) => Ok(Ok(id)),
            Err(GenerateError::InsufficientCredits {
                account_id,
                available,
                needed,
                affordable,
            }) => Ok(Err(Shortfall {
                account_id,
                available,
                needed,
                affordable,
            })),
            Err(GenerateError::Database(e)) => Err(e.into()),
            Err(e) => Err(AppError::Internal(e.to_string())),
        }
    })
    .await?;
    match outcome {
        Ok(id) => Ok(page::see_other(format!("/leads/requests/{id}"))),
        Err(shortfall) => {
            let mut page = generate_page(&state, &current, input).await?;
            page.shortfall = Some(shortfall);
            page::render_with_status(&page, StatusCode::PAYMENT_REQUIRED)
        }
    }
}

#[derive(Template)]
#[template(path = "leads/request.html")]
struct RequestPage {
    nav: Nav,
    request: generation::LeadRequest,
    charged: Option<Credits>,
    leads: Vec<Lead>,
}

impl RequestPage {
    fn or_any(values: &[String]) -> String {
        if values.is_empty() {
            "Any".into()
        } else {
            values.join(", ")
        }
    }

    fn industries(&self) -> String {
        if self.request.industries.is_empty() {
            "Any".into()
        } else {
            self.request
                .industries
                .iter()
                .map(|c| crate::services::directory::industry_label(c))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

pub async fn request(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<LeadRequestId>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    let ((request, charged), leads) = with_conn(&state, move |conn| {
        let found = generation::request(conn, database_id, id)?.ok_or(AppError::NotFound)?;
        let leads = leads::made_by(conn, database_id, id)?;
        Ok((found, leads))
    })
    .await?;
    page::render(&RequestPage {
        nav: Nav::for_user(&current),
        request,
        charged,
        leads,
    })
}

//! The Contacts app: list (search, pages), a contact's page, new, edit, delete.

use crate::http::page;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::session::{CsrfForm, CurrentUser};
use crate::http::state::{AppState, with_conn};
use crate::kernel::ids::{CompanyId, ContactId};
use crate::kernel::pagination::Page;
use crate::services::contacts::{self, Contact, ContactErrors, ContactInput, phone};
use crate::services::partner_autocomplete::Enriched;
use page::Nav;

#[derive(Template)]
#[template(path = "contacts/list.html")]
struct ListPage {
    nav: Nav,
    search: String,
    contacts: Vec<Contact>,
    /// Query string of the next page, if any.
    next: Option<String>,
}

impl ListPage {
    fn shown(&self, number: &Option<String>) -> String {
        number.as_deref().map(phone::display).unwrap_or_default()
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    after_name: Option<String>,
    after_id: Option<ContactId>,
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
    let found = with_conn(&state, move |conn| {
        Ok(contacts::list(conn, database_id, &text, after)?)
    })
    .await?;
    let Page { rows, next } = contacts::PAGE_SIZE.page(found, |c| {
        serde_urlencoded::to_string([
            ("q", search.as_str()),
            ("after_name", c.name.as_str()),
            ("after_id", &c.id.to_string()),
        ])
        .unwrap_or_default()
    });
    page::render(&ListPage {
        nav: Nav::for_user(&current),
        search,
        contacts: rows,
        next,
    })
}

#[derive(Template)]
#[template(path = "contacts/show.html")]
struct ShowPage {
    nav: Nav,
    contact: Contact,
    chatter: Vec<crate::services::sms::messages::SmsMessage>,
    events: Vec<contacts::ContactEvent>,
    /// Set after an enrichment that found too few credits: the account to buy for.
    short_of_credits: Option<crate::kernel::ids::AccountId>,
    /// What came of an enrichment asked with the form: "under-way" (the directory has not
    /// answered yet) or "failed".
    enrichment: Option<String>,
}

impl ShowPage {
    fn shown(&self, number: &Option<String>) -> String {
        number.as_deref().map(phone::display).unwrap_or_default()
    }
}

#[derive(Deserialize)]
pub struct ShowQuery {
    short: Option<crate::kernel::ids::AccountId>,
    enrichment: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<ContactId>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    let (contact, chatter, events) = with_conn(&state, move |conn| {
        let contact = contacts::find(conn, database_id, id)?.ok_or(AppError::NotFound)?;
        let chatter = crate::services::sms::messages::chatter(conn, database_id, id)?;
        let events = contacts::events_of(conn, database_id, id)?;
        Ok((contact, chatter, events))
    })
    .await?;
    page::render(&ShowPage {
        nav: Nav::for_user(&current),
        contact,
        chatter,
        events,
        short_of_credits: query.short,
        enrichment: query.enrichment.clone(),
    })
}

#[derive(Template)]
#[template(path = "contacts/companies.html")]
struct CompaniesPage {
    nav: Nav,
    contact: Contact,
    query: String,
    companies: Vec<crate::services::directory::Company>,
    /// What Enrich costs now (the catalog's price).
    price: crate::kernel::credits::Credits,
}

#[derive(Deserialize)]
pub struct FindQuery {
    #[serde(default)]
    q: String,
}

/// `GET /contacts/{id}/companies?q=`: Partner Autocomplete's suggestions (free).
pub async fn find_company(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<ContactId>,
    query: web::Query<FindQuery>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    let directory = state.directory.clone();
    let typed = query.into_inner().q;
    let shown = typed.clone();
    let (contact, price) = with_conn(&state, move |conn| {
        let contact = contacts::find(conn, database_id, id)?.ok_or(AppError::NotFound)?;
        let price = crate::domain::catalog::usage_prices::price(
            conn,
            crate::services::partner_autocomplete::SERVICE,
            crate::domain::catalog::usage_prices::ENRICHMENT,
        )?;
        Ok((contact, price))
    })
    .await?;
    // The provider is asked holding none of our connections.
    let companies = web::block(move || {
        crate::services::partner_autocomplete::suggest(directory.as_ref(), &typed)
            .map_err(|e| AppError::Unavailable(e.to_string()))
    })
    .await??;
    page::render(&CompaniesPage {
        nav: Nav::for_user(&current),
        contact,
        query: shown,
        companies,
        price,
    })
}

#[derive(Deserialize)]
pub struct EnrichForm {
    company_id: CompanyId,
}

/// `POST /contacts/{id}/enrich`: fills the contact from the chosen company, for 1 credit.
pub async fn enrich(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<ContactId>,
    CsrfForm(form): CsrfForm<EnrichForm>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id, user_id) = (path.into_inner(), current.user.database_id, current.user.id);
    let directory = state.directory.clone();
    let outcome = with_conn(&state, move |conn| {
        enrich_contact(conn, &directory, database_id, user_id, id, form.company_id)
    })
    .await?;
    Ok(after_enrichment(id, outcome))
}

fn enrich_contact(
    conn: &mut crate::platform::db::DbConn,
    directory: &std::sync::Arc<dyn crate::services::directory::provider::CompanyDirectory>,
    database_id: crate::kernel::ids::DatabaseId,
    user_id: crate::kernel::ids::UserId,
    contact_id: ContactId,
    company_id: CompanyId,
) -> Result<Enriched, AppError> {
    use crate::services::partner_autocomplete::EnrichError;
    match crate::services::partner_autocomplete::enrich(
        conn,
        directory,
        database_id,
        user_id,
        contact_id,
        company_id,
    ) {
        Ok(outcome) => Ok(outcome),
        Err(EnrichError::ContactNotFound | EnrichError::CompanyNotFound) => Err(AppError::NotFound),
        Err(EnrichError::Database(e)) => Err(e.into()),
        Err(e) => Err(AppError::Internal(e.to_string())),
    }
}

/// Where the browser goes after an enrichment: the contact, with what came of it.
fn after_enrichment(id: ContactId, outcome: Enriched) -> HttpResponse {
    match outcome {
        Enriched::WebsiteAndLogoOnly { account_id, .. } => {
            page::see_other(format!("/contacts/{id}?short={account_id}#enrichment"))
        }
        Enriched::UnderWay => {
            page::see_other(format!("/contacts/{id}?enrichment=under-way#enrichment"))
        }
        Enriched::Charged(_) | Enriched::AlreadyEnriched => {
            page::see_other(format!("/contacts/{id}#chatter"))
        }
    }
}

/// Where the browser goes after saving the contact form: the contact, with what came of the
/// enrichment it asked for. The contact is saved whatever the enrichment's fate.
fn after_save(id: ContactId, enriched: Option<Result<Enriched, AppError>>) -> HttpResponse {
    match enriched {
        None => page::see_other(format!("/contacts/{id}")),
        Some(Ok(outcome)) => after_enrichment(id, outcome),
        Some(Err(e)) => {
            tracing::warn!(contact = %id, "saved, but not enriched: {e}");
            page::see_other(format!("/contacts/{id}?enrichment=failed#enrichment"))
        }
    }
}

#[derive(Deserialize)]
pub struct SuggestQuery {
    #[serde(default)]
    q: String,
}

/// A suggestion as the contact form's script shows it.
#[derive(serde::Serialize)]
struct Suggestion {
    id: CompanyId,
    name: String,
    city: String,
    country: String,
    vat: Option<String>,
    website: String,
}

/// `GET /companies/suggest?q=`: Partner Autocomplete's suggestions as JSON, for the contact
/// form's script (free; signed-in users only).
pub async fn suggest(
    state: web::Data<AppState>,
    _current: CurrentUser,
    query: web::Query<SuggestQuery>,
) -> Result<HttpResponse, AppError> {
    let directory = state.directory.clone();
    let typed = query.into_inner().q;
    let companies = web::block(move || {
        crate::services::partner_autocomplete::suggest(directory.as_ref(), &typed)
            .map_err(|e| AppError::Unavailable(e.to_string()))
    })
    .await??;
    let suggestions: Vec<Suggestion> = companies
        .into_iter()
        .map(|c| Suggestion {
            id: c.id,
            name: c.full_name(),
            website: c.website(),
            city: c.city,
            country: c.country_code,
            vat: c.vat,
        })
        .collect();
    Ok(HttpResponse::Ok().json(suggestions))
}

#[derive(Template)]
#[template(path = "contacts/form.html")]
struct FormPage {
    nav: Nav,
    /// None for a new contact.
    id: Option<ContactId>,
    input: ContactInput,
    errors: ContactErrors,
    /// What an enrichment costs now (Partner Autocomplete's price in the catalog).
    enrichment_price: crate::kernel::credits::Credits,
}

async fn form_page(
    state: &AppState,
    current: &CurrentUser,
    id: Option<ContactId>,
    input: ContactInput,
    errors: ContactErrors,
) -> Result<FormPage, AppError> {
    let enrichment_price = with_conn(state, |conn| {
        Ok(crate::domain::catalog::usage_prices::price(
            conn,
            crate::services::partner_autocomplete::SERVICE,
            crate::domain::catalog::usage_prices::ENRICHMENT,
        )?)
    })
    .await?;
    Ok(FormPage {
        nav: Nav::for_user(current),
        id,
        input,
        errors,
        enrichment_price,
    })
}

pub async fn new_form(
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, AppError> {
    let page = form_page(
        &state,
        &current,
        None,
        ContactInput::default(),
        ContactErrors::default(),
    )
    .await?;
    page::render(&page)
}

pub async fn create(
    state: web::Data<AppState>,
    current: CurrentUser,
    CsrfForm(input): CsrfForm<ContactInput>,
) -> Result<HttpResponse, AppError> {
    let valid = match input.validate() {
        Ok(valid) => valid,
        Err(errors) => {
            let page = form_page(&state, &current, None, input, errors).await?;
            return page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let (database_id, user_id) = (current.user.database_id, current.user.id);
    let (directory, enrich_with) = (state.directory.clone(), input.company_to_enrich());
    let (id, enriched) = with_conn(&state, move |conn| {
        let id = contacts::create(conn, database_id, &valid)?.id;
        let enriched = enrich_with
            .map(|company| enrich_contact(conn, &directory, database_id, user_id, id, company));
        Ok((id, enriched))
    })
    .await?;
    Ok(after_save(id, enriched))
}

pub async fn edit_form(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<ContactId>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    let contact = with_conn(&state, move |conn| {
        contacts::find(conn, database_id, id)?.ok_or(AppError::NotFound)
    })
    .await?;
    let page = form_page(
        &state,
        &current,
        Some(id),
        ContactInput::from_contact(&contact),
        ContactErrors::default(),
    )
    .await?;
    page::render(&page)
}

pub async fn update(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<ContactId>,
    CsrfForm(input): CsrfForm<ContactInput>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    let valid = match input.validate() {
        Ok(valid) => valid,
        Err(errors) => {
            // Only another database's contact would be missing: check before showing errors.
            with_conn(&state, move |conn| {
                contacts::find(conn, database_id, id)?.ok_or(AppError::NotFound)
            })
            .await?;
            let page = form_page(&state, &current, Some(id), input, errors).await?;
            return page::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let user_id = current.user.id;
    let (directory, enrich_with) = (state.directory.clone(), input.company_to_enrich());
    let enriched = with_conn(&state, move |conn| {
        contacts::update(conn, database_id, id, &valid)?.ok_or(AppError::NotFound)?;
        Ok(enrich_with
            .map(|company| enrich_contact(conn, &directory, database_id, user_id, id, company)))
    })
    .await?;
    Ok(after_save(id, enriched))
}

pub async fn delete(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<ContactId>,
    _form: CsrfForm<page::EmptyForm>,
) -> Result<HttpResponse, AppError> {
    let (id, database_id) = (path.into_inner(), current.user.database_id);
    let deleted = with_conn(&state, move |conn| {
        Ok(contacts::delete(conn, database_id, id)?)
    })
    .await?;
    if !deleted {
        return Err(AppError::NotFound);
    }
    Ok(page::see_other("/contacts"))
}

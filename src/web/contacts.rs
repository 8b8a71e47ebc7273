//! The Contacts app: list (search, pages), a contact's page, new, edit, delete.

use crate::web::page;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::session::{CsrfForm, CurrentUser};
use crate::contacts::{self, Contact, ContactErrors, ContactInput, phone};
use crate::error::AppError;
use crate::ids::ContactId;
use crate::pagination::Page;
use crate::web::state::{AppState, with_conn};
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
    chatter: Vec<crate::sms::messages::SmsMessage>,
    events: Vec<contacts::ContactEvent>,
    /// Set after an enrichment that found too few credits: the account to buy for.
    short_of_credits: Option<crate::ids::AccountId>,
}

impl ShowPage {
    fn shown(&self, number: &Option<String>) -> String {
        number.as_deref().map(phone::display).unwrap_or_default()
    }
}

#[derive(Deserialize)]
pub struct ShowQuery {
    short: Option<crate::ids::AccountId>,
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
        let chatter = crate::sms::messages::chatter(conn, database_id, id)?;
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
    })
}

#[derive(Template)]
#[template(path = "contacts/companies.html")]
struct CompaniesPage {
    nav: Nav,
    contact: Contact,
    query: String,
    companies: Vec<crate::directory::Company>,
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
    let contact = with_conn(&state, move |conn| {
        contacts::find(conn, database_id, id)?.ok_or(AppError::NotFound)
    })
    .await?;
    // The provider is asked holding none of our connections.
    let companies = web::block(move || {
        crate::partner_autocomplete::suggest(directory.as_ref(), &typed)
            .map_err(|e| AppError::Unavailable(e.to_string()))
    })
    .await??;
    page::render(&CompaniesPage {
        nav: Nav::for_user(&current),
        contact,
        query: shown,
        companies,
    })
}

#[derive(Deserialize)]
pub struct EnrichForm {
    company_id: i64,
}

/// `POST /contacts/{id}/enrich`: fills the contact from the chosen company, for 1 credit.
pub async fn enrich(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<ContactId>,
    CsrfForm(form): CsrfForm<EnrichForm>,
) -> Result<HttpResponse, AppError> {
    use crate::partner_autocomplete::{EnrichError, Enriched};
    let (id, database_id, user_id) = (path.into_inner(), current.user.database_id, current.user.id);
    let directory = state.directory.clone();
    let outcome = with_conn(
        &state,
        move |conn| match crate::partner_autocomplete::enrich(
            conn,
            &directory,
            database_id,
            user_id,
            id,
            form.company_id,
        ) {
            Ok(outcome) => Ok(outcome),
            Err(EnrichError::ContactNotFound | EnrichError::CompanyNotFound) => {
                Err(AppError::NotFound)
            }
            Err(EnrichError::Database(e)) => Err(e.into()),
            Err(e) => Err(AppError::Internal(e.to_string())),
        },
    )
    .await?;
    Ok(match outcome {
        Enriched::WebsiteAndLogoOnly { account_id, .. } => {
            page::see_other(format!("/contacts/{id}?short={account_id}#enrichment"))
        }
        Enriched::Charged(_) | Enriched::AlreadyEnriched => {
            page::see_other(format!("/contacts/{id}#chatter"))
        }
    })
}

#[derive(Template)]
#[template(path = "contacts/form.html")]
struct FormPage {
    nav: Nav,
    /// None for a new contact.
    id: Option<ContactId>,
    input: ContactInput,
    errors: ContactErrors,
}

fn form_page(
    current: &CurrentUser,
    id: Option<ContactId>,
    input: ContactInput,
    errors: ContactErrors,
) -> FormPage {
    FormPage {
        nav: Nav::for_user(current),
        id,
        input,
        errors,
    }
}

pub async fn new_form(current: CurrentUser) -> Result<HttpResponse, AppError> {
    page::render(&form_page(
        &current,
        None,
        ContactInput::default(),
        ContactErrors::default(),
    ))
}

pub async fn create(
    state: web::Data<AppState>,
    current: CurrentUser,
    CsrfForm(input): CsrfForm<ContactInput>,
) -> Result<HttpResponse, AppError> {
    let valid = match input.validate() {
        Ok(valid) => valid,
        Err(errors) => {
            return page::render_with_status(
                &form_page(&current, None, input, errors),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let database_id = current.user.database_id;
    let contact = with_conn(&state, move |conn| {
        Ok(contacts::create(conn, database_id, &valid)?)
    })
    .await?;
    Ok(page::see_other(format!("/contacts/{}", contact.id)))
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
    page::render(&form_page(
        &current,
        Some(id),
        ContactInput::from_contact(&contact),
        ContactErrors::default(),
    ))
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
            return page::render_with_status(
                &form_page(&current, Some(id), input, errors),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    with_conn(&state, move |conn| {
        contacts::update(conn, database_id, id, &valid)?.ok_or(AppError::NotFound)
    })
    .await?;
    Ok(page::see_other(format!("/contacts/{id}")))
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

//! Settings (administrators): the Contacts section with the Odoo IAP setting and its
//! View My Services button, and a search box that filters the settings.

use crate::http::page;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::session::Admin;
use page::Nav;

/// One setting: its section, its label, what it says, and where its button leads.
pub struct Setting {
    pub section: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub button: &'static str,
    pub href: &'static str,
}

const SETTINGS: &[Setting] = &[
    Setting {
        section: "Contacts",
        label: "Odoo IAP",
        help: "View your in-app purchase accounts: their credits, buy more, and low-credit alerts.",
        button: "View My Services",
        href: "/iap/accounts",
    },
    Setting {
        section: "Billing",
        label: "Billing details",
        help: "Your company's name, address and VAT number, as your invoices print them.",
        button: "Billing details",
        href: "/settings/billing",
    },
    Setting {
        section: "Billing",
        label: "Payment methods",
        help: "Cards saved for automatic top-ups: add or remove them.",
        button: "Payment methods",
        href: "/settings/payment-methods",
    },
];

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Nav,
    query: String,
    sections: Vec<(&'static str, Vec<&'static Setting>)>,
}

#[derive(Deserialize)]
pub struct SettingsQuery {
    q: Option<String>,
}

/// Settings whose section, label or help mention every word of `query` (case-insensitive).
fn matching(query: &str) -> Vec<(&'static str, Vec<&'static Setting>)> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let mut sections: Vec<(&'static str, Vec<&'static Setting>)> = Vec::new();
    for setting in SETTINGS {
        let text = format!(
            "{} {} {} {}",
            setting.section, setting.label, setting.help, setting.button
        )
        .to_lowercase();
        if !words.iter().all(|w| text.contains(w.as_str())) {
            continue;
        }
        match sections
            .iter_mut()
            .find(|(name, _)| *name == setting.section)
        {
            Some((_, list)) => list.push(setting),
            None => sections.push((setting.section, vec![setting])),
        }
    }
    sections
}

pub async fn page(
    Admin(current): Admin,
    query: web::Query<SettingsQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner().q.unwrap_or_default();
    page::render(&SettingsPage {
        nav: Nav::for_user(&current),
        sections: matching(&query),
        query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searching_iap_finds_the_odoo_iap_setting() {
        assert_eq!(matching("IAP")[0].1[0].label, "Odoo IAP");
        assert_eq!(matching("view my services")[0].0, "Contacts");
        assert!(matching("payroll").is_empty());
        assert_eq!(matching("").len(), 2, "Contacts and Billing");
        assert_eq!(matching("card")[0].1[0].label, "Payment methods");
        assert_eq!(matching("vat")[0].1[0].label, "Billing details");
    }
}

//! The history's made-up world: its customers, where their SMS and letters go and what they
//! say, who signs their contracts.

use crate::domain::tenancy::Subscription;

/// The other customer databases, with their subscriptions (most pay Odoo; a few are trials).
pub(super) const CUSTOMERS: &[(&str, Subscription)] = &[
    ("Azure Interior", Subscription::Enterprise),
    ("Deco Addict", Subscription::Enterprise),
    ("Gemini Furniture", Subscription::Enterprise),
    ("Lumber Inc", Subscription::None),
    ("Ready Mat", Subscription::Enterprise),
    ("Wood Corner", Subscription::None),
    ("The Jackson Group", Subscription::Enterprise),
    ("Ponto Mobiliário", Subscription::None),
    ("Nordlicht Logistik", Subscription::Enterprise),
    ("Brasserie du Parc", Subscription::OneAppFree),
    ("Kappa Dental", Subscription::Enterprise),
    ("Atelier Moreau", Subscription::None),
    ("Helios Solar", Subscription::Enterprise),
    ("Vega Pharma", Subscription::Enterprise),
    ("Blue Harbor Travel", Subscription::None),
    ("Studio Lumen", Subscription::Demo),
    ("Greenfield Farms", Subscription::Enterprise),
    ("Orion Consulting", Subscription::Enterprise),
    ("Maison Verte", Subscription::None),
    ("Pixel & Co", Subscription::Educational),
    ("Delta Freight", Subscription::Enterprise),
    ("Alpine Sports", Subscription::None),
    ("Coastal Realty", Subscription::Enterprise),
    ("Tulip Events", Subscription::Enterprise),
    ("Iron Works BV", Subscription::None),
    ("Sunrise Bakery", Subscription::OneAppFree),
    ("Quantum Labs", Subscription::Enterprise),
    ("Rivera Legal", Subscription::Enterprise),
    ("Northwind Traders", Subscription::None),
];

/// Where the customers' SMS go: (country, a number's first digits).
pub(super) const SMS_TARGETS: &[(&str, &str)] = &[
    ("BE", "+32470"),
    ("FR", "+33612"),
    ("DE", "+4915123"),
    ("NL", "+31612"),
    ("US", "+1202555"),
    ("GB", "+447911"),
    ("IN", "+9198200"),
    ("BR", "+5511912"),
];

pub(super) const SMS_BODIES: &[&str] = &[
    "Your order has shipped and will arrive tomorrow.",
    "Reminder: your appointment is tomorrow at 10:00.",
    "Your invoice is ready in your customer portal.",
    "Thank you for your visit! Rate us with a reply from 1 to 5.",
    "Your verification code is 482913.",
    "Our shop is closed on Monday for inventory. See you Tuesday!",
];

/// Where the history's letters go, by country: (country, street, postal code, city).
pub(super) const LETTER_ADDRESSES: &[(&str, &str, &str, &str)] = &[
    ("BE", "Avenue Louise 54", "1050", "Brussels"),
    ("FR", "12 Rue de Rivoli", "75004", "Paris"),
    ("NL", "Keizersgracht 241", "1016 EA", "Amsterdam"),
    ("DE", "Friedrichstraße 43", "10117", "Berlin"),
    ("LU", "2 Rue du Fossé", "1536", "Luxembourg"),
    ("US", "1600 Market Street", "19103", "Philadelphia, PA"),
];

/// Who signs the history's contracts with itsme: (name, email).
pub(super) const SIGNERS: &[(&str, &str)] = &[
    ("Marie Peeters", "marie.peeters@example.be"),
    ("Lucas Janssens", "lucas.janssens@example.be"),
    ("Emma Maes", "emma.maes@example.be"),
    ("Noah Jacobs", "noah.jacobs@example.be"),
    ("Louise Willems", "louise.willems@example.be"),
    ("Arthur Claes", "arthur.claes@example.be"),
];

pub(super) const CONTRACTS: &[&str] = &[
    "Service agreement",
    "Non-disclosure agreement",
    "Lease agreement",
    "Employment contract",
    "Framework purchase agreement",
];

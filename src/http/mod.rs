//! The floor the three front doors (`web`, `api`, `odoo`) share: the app's state, page
//! rendering, sessions and CSRF, the client's address, the request log, and the pages' one
//! error type.

pub mod client;
pub mod error;
pub mod error_page;
pub mod page;
pub mod request_log;
pub mod session;
pub mod state;

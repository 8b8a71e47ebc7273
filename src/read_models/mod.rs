//! Read models: figures read across the tables of several owners for one page or report. They
//! only read; every write goes through the owner of its table.

pub mod operator_dashboard;
pub mod outboxes;

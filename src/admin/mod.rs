//! The IAP operator's tools (role `platform`): dashboard figures and charts, refunds, manual
//! adjustments, catalog management, and the audit log that records every one of their actions.

pub mod audit;
pub mod catalog;
pub mod charts;
pub mod databases;
pub mod orders;
pub mod refunds;
pub mod stats;

//! What the app runs on: the PostgreSQL pools and the embedded cluster, configuration,
//! metrics, backups, memory tuning, outbound calls and the simulated providers' memory.

pub mod backup;
pub mod config;
pub mod db;
pub mod embedded_pg;
pub mod memory;
pub mod metrics;
pub mod outage;
pub mod outbound;
pub mod schema;
pub mod simulation;

//! Values every layer shares: exact credits and money, typed ids, periods, pagination, form
//! helpers, and the macros that map them to SQL. Imports nothing of the crate.

pub mod credits;
pub mod forms;
pub mod ids;
pub mod money;
pub mod pagination;
pub mod password;
pub mod period;
mod sql_enum;

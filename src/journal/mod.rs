//! What debug mode writes down: the record of each call, the daily statistics and call log,
//! and the request/response captures.

pub(crate) mod call_record;
pub(crate) mod capture;
pub(crate) mod stats;

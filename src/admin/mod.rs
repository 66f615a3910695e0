//! The pages and JSON routes a person uses to watch and manage the proxy: the console
//! (`/admin`, its API under `/admin/api`) and debug mode's `/debug` routes.

pub(crate) mod access;
pub(crate) mod api;
pub(crate) mod debug;
pub(crate) mod keys;
pub(crate) mod models;
pub(crate) mod page;
pub(crate) mod status;
pub(crate) mod usage;

//! The pages and JSON routes a person uses to watch and manage the proxy.

pub(crate) mod api;

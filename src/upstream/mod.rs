//! OpenRouter as the proxy reaches it: the HTTP client, and what a failed attempt means.

pub(crate) mod client;
pub(crate) mod failure;
mod transport;

#[cfg(test)]
mod tests;

//! The front door: the listening socket and the HTTP/1.1 server, the `Host`/`Origin` gate,
//! and the router that hands each request to its handler. Everything else in the crate sits
//! below this folder: nothing outside it calls in.

pub(crate) mod gate;
pub(crate) mod router;
pub(crate) mod server;

//! The front door: the listening socket, the HTTP/1.1 server, and the router that hands each
//! request to its handler.

pub(crate) mod router;
pub(crate) mod server;

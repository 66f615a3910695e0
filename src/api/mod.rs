//! The vocabulary every handler shares: the request it reads, the reply it returns, and the
//! error it fails with. It sits at the bottom of the house: it depends on nothing else in the
//! crate, and the HTTP server on top converts these to and from the wire.

pub(crate) mod client_watch;
pub(crate) mod error;
pub(crate) mod error_shape;
pub(crate) mod message;

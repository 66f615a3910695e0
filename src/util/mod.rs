//! Small helpers every part uses and that know nothing of the proxy: files, clocks, date and
//! number formats, terminal colour, secrets, locks, random numbers, and a raw HTTP/1.1 client
//! for local servers.

pub(crate) mod clock;
pub(crate) mod colour;
pub(crate) mod fs;
pub(crate) mod http_client;
pub(crate) mod logger;
pub(crate) mod net;
pub(crate) mod number_format;
pub(crate) mod random;
pub(crate) mod secret;
pub(crate) mod sync;
pub(crate) mod text;
pub(crate) mod time_format;

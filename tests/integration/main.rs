//! The integration suite: the real proxy, in-process, on loopback, against the fake upstream.
//! One crate so it builds and links once.

mod autopilot;
mod binary;
mod common;
mod console;
mod debug;
mod foundation;
mod front_door;
mod hostile;
mod max_tokens;
mod messages;
mod operations;
mod responses;
mod retry_signals;
mod secrets;
mod sentences;

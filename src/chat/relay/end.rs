//! How a relayed stream ended, as a value: it decides how the call counts in the statistics,
//! what the record says, and whether the client needs an error event (each protocol writes
//! its own). The relay decides on the variant, never on a message's words.

use std::io;

use crate::chat::relay::sse::ReadError;
use crate::journal::stats::Outcome;
use crate::upstream::client::is_client_gone;

/// The end of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamEnd {
    /// `[DONE]`, or the end of the body after a `finish_reason`.
    Complete,
    /// OpenRouter sent an error event, which the client got as it was.
    UpstreamError,
    /// The body ended before any choice finished.
    ClosedEarly,
    /// OpenRouter sent nothing for the idle timeout.
    Timeout,
    /// The connection failed; `detail` says how.
    Broken { detail: String },
    /// The client went away; the upstream call was closed for it.
    ClientGone,
    /// An event grew past `limit` bytes; the proxy stopped reading there.
    EventTooLong { limit: usize },
}

impl StreamEnd {
    /// The end that a failed read makes.
    pub(crate) fn from_read_error(error: ReadError) -> StreamEnd {
        match error {
            ReadError::Io(e) if is_client_gone(&e) => StreamEnd::ClientGone,
            ReadError::Io(e) if e.kind() == io::ErrorKind::TimedOut => StreamEnd::Timeout,
            ReadError::Io(e) => StreamEnd::Broken {
                detail: e.to_string(),
            },
            ReadError::TooLong { limit } => StreamEnd::EventTooLong { limit },
        }
    }

    /// How the call counts.
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            StreamEnd::Complete => Outcome::Success,
            StreamEnd::Timeout => Outcome::Timeout,
            _ => Outcome::Failed,
        }
    }

    /// What went wrong, in a sentence; `None` for a stream that completed.
    pub(crate) fn message(&self) -> Option<String> {
        Some(match self {
            StreamEnd::Complete => return None,
            StreamEnd::UpstreamError => "OpenRouter sent an error event mid-stream".into(),
            StreamEnd::ClosedEarly => {
                "OpenRouter closed the stream before the answer was complete".into()
            }
            StreamEnd::Timeout => "OpenRouter went silent in the middle of the answer".into(),
            StreamEnd::Broken { detail } => {
                format!("the connection to OpenRouter failed mid-stream: {detail}")
            }
            StreamEnd::ClientGone => "the client went away before the end of the stream".into(),
            StreamEnd::EventTooLong { limit } => format!(
                "OpenRouter sent an event longer than {} MiB; the proxy stopped reading the \
                 stream there",
                limit >> 20
            ),
        })
    }

    /// What the client must be told in an error event, when the stream did not end well and
    /// did not already carry OpenRouter's own error event.
    pub(crate) fn interruption(&self) -> Option<String> {
        match self {
            StreamEnd::Complete | StreamEnd::UpstreamError => None,
            _ => self.message(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_end_decides_outcome_and_error_event() {
        let silent = ReadError::Io(io::Error::new(io::ErrorKind::TimedOut, "any words"));
        let reset = ReadError::Io(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
        let table = [
            (StreamEnd::Complete, Outcome::Success, false),
            (StreamEnd::UpstreamError, Outcome::Failed, false),
            (StreamEnd::ClosedEarly, Outcome::Failed, true),
            (StreamEnd::from_read_error(silent), Outcome::Timeout, true),
            (StreamEnd::from_read_error(reset), Outcome::Failed, true),
            (StreamEnd::ClientGone, Outcome::Failed, true),
            (
                StreamEnd::from_read_error(ReadError::TooLong { limit: 16 << 20 }),
                Outcome::Failed,
                true,
            ),
        ];
        for (end, outcome, event) in table {
            assert_eq!(end.outcome(), outcome, "{end:?}");
            assert_eq!(end.interruption().is_some(), event, "{end:?}");
            assert_eq!(end.message().is_none(), end == StreamEnd::Complete);
        }
        let message = StreamEnd::EventTooLong { limit: 16 << 20 }
            .interruption()
            .unwrap();
        assert!(message.contains("16 MiB"), "{message}");
    }
}

//! Reads a server-sent-event body one event at a time, keeping each event's bytes as they
//! arrived so the relay can pass them on unchanged.
//!
//! An event is a run of lines ended by a blank line; its `data:` lines are joined into its
//! payload, and anything else (comments such as `: OPENROUTER PROCESSING`, `event:`, `id:`) is
//! kept in its bytes but not read. An event may be at most [`MAX_EVENT_BYTES`] long: an
//! upstream that sends an endless line must not make the proxy hold it all in memory. This
//! module only frames events; it never parses their JSON.

use std::io::{self, BufRead, BufReader, Read};

/// The most bytes one event (and so any line in it) may take. Real events are a few hundred
/// bytes; the largest seen carry a few KiB of reasoning.
pub(crate) const MAX_EVENT_BYTES: usize = 16 << 20;

/// One event, as it arrived.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Event {
    /// Its lines byte for byte, the blank line that ends it included. When the body ended
    /// inside a line, that line is completed with a `\n`.
    pub(crate) raw: Vec<u8>,
    /// The payloads of its `data:` lines, joined by `\n`; empty for a comment block.
    pub(crate) data: Vec<u8>,
    /// False when the body ended before the blank line that ends the event.
    pub(crate) complete: bool,
}

/// Why the next event could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The connection failed or went silent (`io::ErrorKind::TimedOut`).
    Io(io::Error),
    /// The event grew past its limit before its end.
    TooLong { limit: usize },
}

/// Reads events from an SSE body.
pub(crate) struct EventReader<R> {
    reader: BufReader<R>,
    limit: usize,
}

impl<R: Read> EventReader<R> {
    pub(crate) fn new(reader: R) -> EventReader<R> {
        EventReader::with_limit(reader, MAX_EVENT_BYTES)
    }

    /// A reader whose events may take at most `limit` bytes.
    pub(crate) fn with_limit(reader: R, limit: usize) -> EventReader<R> {
        EventReader {
            reader: BufReader::with_capacity(16 * 1024, reader),
            limit,
        }
    }

    /// The next event, or `None` at the end of the body. Blank lines between events are
    /// skipped; a block of lines cut off by the end of the body comes back incomplete.
    pub(crate) fn next_event(&mut self) -> Result<Option<Event>, ReadError> {
        let mut event = Event::default();
        loop {
            let line_start = event.raw.len();
            if !self.read_line(&mut event.raw)? {
                return Ok((!event.raw.is_empty()).then_some(event));
            }
            let line = trim_eol(&event.raw[line_start..]);
            if line.is_empty() {
                if line_start == 0 {
                    // A stray blank line: not an event.
                    event.raw.clear();
                    continue;
                }
                event.complete = true;
                return Ok(Some(event));
            }
            if let Some(payload) = line.strip_prefix(b"data:") {
                let payload = payload.strip_prefix(b" ").unwrap_or(payload);
                if !event.data.is_empty() {
                    event.data.push(b'\n');
                }
                event.data.extend_from_slice(payload);
            }
        }
    }

    /// Reads what little may follow the end of the stream (at most `limit` bytes), so that the
    /// connection can serve another call.
    pub(crate) fn drain(&mut self, limit: u64) {
        let _ = io::copy(&mut (&mut self.reader).take(limit), &mut io::sink());
    }

    /// Appends one line to `raw`, keeping `raw` within the limit; false at the end of the body.
    fn read_line(&mut self, raw: &mut Vec<u8>) -> Result<bool, ReadError> {
        let start = raw.len();
        loop {
            let buffer = match self.reader.fill_buf() {
                Ok(buffer) => buffer,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::Io(e)),
            };
            if buffer.is_empty() {
                if raw.len() > start && raw.last() != Some(&b'\n') {
                    // The body ended inside a line: complete it so the event stays well formed.
                    raw.push(b'\n');
                }
                return Ok(raw.len() > start);
            }
            let newline = buffer.iter().position(|&b| b == b'\n');
            let take = newline.map_or(buffer.len(), |i| i + 1);
            if raw.len() + take > self.limit {
                return Err(ReadError::TooLong { limit: self.limit });
            }
            raw.extend_from_slice(&buffer[..take]);
            self.reader.consume(take);
            if newline.is_some() {
                return Ok(true);
            }
        }
    }
}

/// A line without its `\n` or `\r\n`.
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(input: &[u8]) -> Vec<Event> {
        let mut reader = EventReader::new(input);
        std::iter::from_fn(|| reader.next_event().unwrap()).collect()
    }

    #[test]
    fn events_keep_their_bytes_and_join_their_data_lines() {
        let got = events(b": keep-alive\n\ndata: {\"a\":1}\r\n\r\n\n\ndata:x\ndata: y\nid: 7\n\n");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].raw, b": keep-alive\n\n");
        assert!(got[0].data.is_empty() && got[0].complete);
        assert_eq!(got[1].raw, b"data: {\"a\":1}\r\n\r\n");
        assert_eq!(got[1].data, b"{\"a\":1}");
        assert_eq!(got[2].raw, b"data:x\ndata: y\nid: 7\n\n");
        assert_eq!(got[2].data, b"x\ny");
    }

    #[test]
    fn an_event_cut_off_by_the_end_of_the_body_is_incomplete() {
        let got = events(b"data: 1\n\ndata: 2");
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].raw, b"data: 2\n");
        assert_eq!(got[1].data, b"2");
        assert!(!got[1].complete);
        assert!(events(b"\n\n\n").is_empty());
    }

    #[test]
    fn an_event_longer_than_the_limit_is_an_error_not_a_buffer() {
        let mut reader =
            EventReader::with_limit(&b"data: 12345678\n\ndata: 1\ndata: 2\n\n"[..], 16);
        assert_eq!(reader.next_event().unwrap().unwrap().data, b"12345678");
        // Each line fits, the event does not.
        let err = reader.next_event().unwrap_err();
        assert!(matches!(err, ReadError::TooLong { limit: 16 }), "{err:?}");

        // A line with no end in sight is refused as soon as it passes the limit, without
        // reading the rest.
        let endless = io::repeat(b'a').take(u64::MAX);
        let mut reader = EventReader::with_limit(endless, 1 << 20);
        assert!(matches!(
            reader.next_event(),
            Err(ReadError::TooLong { .. })
        ));
    }

    #[test]
    fn a_failed_read_is_reported() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::TimedOut, "silent"))
            }
        }
        let err = EventReader::new(Broken).next_event().unwrap_err();
        assert!(matches!(err, ReadError::Io(e) if e.kind() == io::ErrorKind::TimedOut));
    }
}

//! Whether the client being served on this thread is still there.
//!
//! The server answers each request on its connection's thread, and everything a request does
//! upstream happens on that thread too (the attempt loop, and the reads of a stream it
//! relays). So the server names the client for the time it serves a request
//! ([`serving`]), and the code that waits on OpenRouter asks [`client_gone`] before it starts
//! a call and, while it waits, every [`POLL_EVERY`]: a client that left costs no quota and
//! holds no concurrency slot. This thread-local is the one piece of ambient state in the
//! proxy; outside a request (background work, tests of pure code) no client is named and
//! [`client_gone`] is always false.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

/// How often a wait on OpenRouter looks at the client.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(100);

/// A client connection that can be asked, cheaply and without blocking, whether its peer has
/// closed it.
pub(crate) trait ClientLink: Send + Sync {
    /// True once the peer has closed the connection (or it failed).
    fn gone(&self) -> bool;
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<dyn ClientLink>>> = const { RefCell::new(None) };
}

/// Runs `serve` with `client` named as this thread's client, and forgets it afterwards (even
/// if `serve` panics).
pub(crate) fn serving<R>(client: Arc<dyn ClientLink>, serve: impl FnOnce() -> R) -> R {
    struct Forget(Option<Arc<dyn ClientLink>>);
    impl Drop for Forget {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = CURRENT.with(|c| c.borrow_mut().replace(client));
    let _forget = Forget(previous);
    serve()
}

/// Whether the client this thread serves has gone away; false when no client is named.
pub(crate) fn client_gone() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|link| link.gone()))
}

/// Whether this thread serves a client at all (a wait on OpenRouter then polls it).
pub(crate) fn watching() -> bool {
    CURRENT.with(|c| c.borrow().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct Flag(AtomicBool);
    impl ClientLink for Flag {
        fn gone(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn the_client_is_named_only_while_it_is_served() {
        assert!(!watching() && !client_gone());
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        serving(flag.clone(), || {
            assert!(watching());
            assert!(!client_gone());
            flag.0.store(true, Ordering::SeqCst);
            assert!(client_gone());
        });
        assert!(!watching() && !client_gone());
        let result = std::panic::catch_unwind(|| serving(flag.clone(), || panic!("handler")));
        assert!(result.is_err());
        assert!(!watching(), "a panic forgets the client too");
    }
}

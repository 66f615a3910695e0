//! Who may use the console's API (`/admin/api/*`): with `ADMIN_PASSWORD` set, whoever sends it
//! as a Bearer token; without it, whoever sends `PROXY_API_KEY`; with neither, only programs
//! on this machine (a loopback peer). The `Host` and `Origin` checks (`http/gate.rs`) come
//! first, as for every request, so a web page of another site never gets this far.
//!
//! The decision is a pure function of the settings, the `Authorization` header and whether the
//! peer is on loopback, with a table test; secrets are compared in constant time.

use crate::api::error::ApiError;
use crate::api::message::{HttpRequest, bearer_token};
use crate::app::state::AppState;
use crate::util::secret::constant_time_eq;

/// What guards the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    /// `ADMIN_PASSWORD`.
    Password,
    /// `PROXY_API_KEY`, when no password is set.
    ProxyKey,
    /// Neither is set: loopback peers only.
    LocalOnly,
}

impl Guard {
    pub(crate) fn of(password: Option<&str>, proxy_key: Option<&str>) -> Guard {
        match (password, proxy_key) {
            (Some(_), _) => Guard::Password,
            (None, Some(_)) => Guard::ProxyKey,
            (None, None) => Guard::LocalOnly,
        }
    }

    /// The word the console's status shows.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Guard::Password => "admin_password",
            Guard::ProxyKey => "proxy_key",
            Guard::LocalOnly => "local_only",
        }
    }
}

/// What the console's API does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Allow,
    /// No Bearer token came, and the guard needs one.
    Missing(Guard),
    /// A token came and is not the guard's secret.
    Wrong(Guard),
    /// Neither secret is set and the peer is not on this machine.
    NotLocal,
}

/// Decides for a request that sent `authorization` from a peer on loopback or not.
pub(crate) fn decide(
    password: Option<&str>,
    proxy_key: Option<&str>,
    authorization: Option<&str>,
    peer_is_loopback: bool,
) -> Decision {
    let guard = Guard::of(password, proxy_key);
    let Some(secret) = password.or(proxy_key) else {
        return if peer_is_loopback {
            Decision::Allow
        } else {
            Decision::NotLocal
        };
    };
    match bearer_token(authorization) {
        None => Decision::Missing(guard),
        Some(sent) if constant_time_eq(sent.as_bytes(), secret.as_bytes()) => Decision::Allow,
        Some(_) => Decision::Wrong(guard),
    }
}

/// Lets the request through, or says what it lacks.
pub(crate) fn check(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let config = state.config();
    let decision = decide(
        config.admin_password.as_deref(),
        config.proxy_api_key.as_deref(),
        req.header("Authorization"),
        req.peer.ip().is_loopback(),
    );
    let refused = |status, code, message: &str| {
        Err(ApiError::Unavailable {
            status,
            code,
            message: message.to_string(),
            retry_after: None,
        })
    };
    match decision {
        Decision::Allow => Ok(()),
        Decision::Missing(Guard::Password) => refused(
            401,
            "admin_password_required",
            "the console needs its password (ADMIN_PASSWORD): send it as \
             'Authorization: Bearer <password>'",
        ),
        Decision::Wrong(Guard::Password) => refused(
            401,
            "admin_password_refused",
            "the password sent is not the console's password (ADMIN_PASSWORD)",
        ),
        Decision::Missing(_) => refused(
            401,
            "admin_password_required",
            "the console needs the proxy key (PROXY_API_KEY, since ADMIN_PASSWORD is not set): \
             send it as 'Authorization: Bearer <key>'",
        ),
        Decision::Wrong(_) => refused(
            401,
            "admin_password_refused",
            "the key sent is not the proxy key (PROXY_API_KEY), which guards the console while \
             ADMIN_PASSWORD is not set",
        ),
        Decision::NotLocal => refused(
            403,
            "console_local_only",
            "the console answers only on this machine while neither ADMIN_PASSWORD nor \
             PROXY_API_KEY is set; set ADMIN_PASSWORD in .env to use it from elsewhere",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;

    #[test]
    fn each_setting_and_sender_gets_its_decision() {
        let pw = Some("open-sesame");
        let key = Some("proxy-key");
        // Password, proxy key, Authorization header, peer on loopback, decision.
        type Row<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            bool,
            Decision,
        );
        let table: &[Row] = &[
            // The password guards, whatever the proxy key, from anywhere.
            (pw, None, Some("Bearer open-sesame"), false, Allow),
            (pw, key, Some("bearer open-sesame"), true, Allow),
            (
                pw,
                key,
                Some("Bearer proxy-key"),
                true,
                Wrong(Guard::Password),
            ),
            (pw, None, None, true, Missing(Guard::Password)),
            (pw, None, Some("Bearer "), true, Missing(Guard::Password)),
            (
                pw,
                None,
                Some("Basic b3Blbi1zZXNhbWU="),
                true,
                Missing(Guard::Password),
            ),
            (
                pw,
                None,
                Some("Bearer open-sesame2"),
                true,
                Wrong(Guard::Password),
            ),
            // Without it, the proxy key.
            (None, key, Some("Bearer proxy-key"), false, Allow),
            (
                None,
                key,
                Some("Bearer open-sesame"),
                true,
                Wrong(Guard::ProxyKey),
            ),
            (None, key, None, true, Missing(Guard::ProxyKey)),
            // With neither, this machine only; a token changes nothing.
            (None, None, None, true, Allow),
            (None, None, Some("Bearer x"), true, Allow),
            (None, None, None, false, NotLocal),
            (None, None, Some("Bearer x"), false, NotLocal),
        ];
        for &(password, proxy_key, authorization, local, expected) in table {
            assert_eq!(
                decide(password, proxy_key, authorization, local),
                expected,
                "{password:?} {proxy_key:?} {authorization:?} local={local}"
            );
        }
        assert_eq!(Guard::of(None, key).name(), "proxy_key");
    }
}

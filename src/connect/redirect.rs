//! `-L/--location`: following the redirects a server answers to the upgrade, with
//! curl's rules (at most `--max-redirs`; Authorization and Cookie only while the
//! scheme, host and port stay the original URL's). Each hop is a new dial.

use std::error::Error as _;
use std::time::{Instant, SystemTime};

use super::{dial, prepare, ConnectOptions, Connection, Prepared, Stage};
use crate::error::{Error, Result};
use crate::event::{Redirect, Rejection};
use crate::target::Target;

/// The statuses `-L` follows (curl's, less 300 Multiple Choices and 305).
pub const FOLLOWED: [u16; 5] = [301, 302, 303, 307, 308];

/// Headers that carry credentials: sent to the original origin only.
const CREDENTIALS: [&str; 2] = ["authorization", "cookie"];

/// Open a connection, following redirects when `-L` asked for it. Each hop
/// dials anew (DNS, TCP, TLS) with its own `--connect-timeout`, all under the
/// run's `--timeout` (`run`). `redirected` hears of each hop before it is dialed;
/// `note` hears of each TCP attempt (for `-v`).
pub fn connect(
    prepared: &Prepared,
    run: Option<(Instant, std::time::Duration)>,
    stage: &mut dyn FnMut(Stage),
    redirected: &mut dyn FnMut(&Redirect),
    note: &mut dyn FnMut(String),
) -> Result<Connection> {
    let Some(max) = prepared.opts.max_redirects else {
        return dial(prepared, run, stage, note);
    };
    let original = &prepared.target;
    // Every URL dialed, to name a loop (and the hop count).
    let mut chain = vec![original.url.to_string()];
    let mut hop: Option<Prepared> = None;
    loop {
        let current = hop.as_ref().unwrap_or(prepared);
        let error = match dial(current, run, stage, note) {
            Ok(connection) => return Ok(connection),
            Err(e) => e,
        };
        let Some((rejection, location)) = redirect_of(&error) else {
            return Err(error);
        };
        let count = chain.len() as u32;
        if count > max {
            return Err(Error::Handshake(
                format!(
                    "too many redirects: the server answered HTTP {} {} after {max} (--max-redirs {max})",
                    rejection.status, rejection.reason
                )
                .into(),
            ));
        }
        let mut next = next_target(&current.target, location)?;
        let url = next.url.to_string();
        let seen = chain.contains(&url);
        chain.push(url);
        if seen {
            let shown: Vec<String> = chain.iter().map(|u| crate::redact::url(u)).collect();
            return Err(Error::Handshake(
                format!("redirect loop: {}", shown.join(" → ")).into(),
            ));
        }
        let same_origin = (next.tls, next.host.to_ascii_lowercase(), next.port)
            == (
                original.tls,
                original.host.to_ascii_lowercase(),
                original.port,
            );
        let mut opts = prepared.opts.clone();
        let mut dropped = false;
        if same_origin {
            // The original URL's user:password goes on as --auth would.
            next.userinfo = next.userinfo.or_else(|| original.userinfo.clone());
        } else {
            dropped = drop_credentials(&mut opts, original);
        }
        redirected(&Redirect {
            status: rejection.status,
            reason: rejection.reason.clone(),
            location: crate::redact::url(next.url.as_str()),
            hop: count,
            max,
            dropped_credentials: dropped,
            at: SystemTime::now(),
        });
        hop = Some(prepare(next, opts)?);
    }
}

/// The rejection and its Location when `error` is a redirect `-L` follows.
fn redirect_of(error: &Error) -> Option<(&Rejection, &str)> {
    let rejection = error.source()?.downcast_ref::<Rejection>()?;
    let location = rejection.location.as_deref()?;
    FOLLOWED
        .contains(&rejection.status)
        .then_some((rejection, location))
}

/// Where a Location leads from `current`: relative to it, or absolute in any of
/// ws, wss, http, https (http means ws, https wss, as on the command line).
fn next_target(current: &Target, location: &str) -> Result<Target> {
    let cannot = |why: String| {
        Error::Handshake(
            format!(
                "cannot follow the redirect to {}: {why}",
                crate::text::escape(&crate::redact::url(location))
            )
            .into(),
        )
    };
    let joined = resolve(&current.url, location).map_err(|e| cannot(e.to_string()))?;
    crate::target::parse(joined.as_str()).map_err(cannot)
}

/// A Location (absolute or relative) as the URL it names from `current`: the one
/// rule for both following a redirect and naming it in the error without `-L`.
pub fn resolve(
    current: &url::Url,
    location: &str,
) -> std::result::Result<url::Url, url::ParseError> {
    current.join(location.trim())
}

/// Leave out what `-H`, `--auth` and the URL would send as credentials; whether
/// there was any.
fn drop_credentials(opts: &mut ConnectOptions, original: &Target) -> bool {
    let upgrade = &mut opts.upgrade;
    let before = upgrade.headers.len();
    upgrade
        .headers
        .retain(|(name, _)| !CREDENTIALS.contains(&name.to_ascii_lowercase().as_str()));
    let had_auth = upgrade.auth.take().is_some() || original.userinfo.is_some();
    had_auth || upgrade.headers.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        crate::target::parse(url).unwrap()
    }

    #[test]
    fn locations_resolve_against_the_current_url() {
        let here = target("ws://a:1/x/y?q=1");
        let cases = [
            ("/z", "ws://a:1/z"),
            ("z", "ws://a:1/x/z"),
            ("//b:2/w", "ws://b:2/w"),
            ("http://c/", "ws://c/"),
            ("https://c:8443/s", "wss://c:8443/s"),
            ("wss://d/", "wss://d/"),
        ];
        for (location, want) in cases {
            assert_eq!(next_target(&here, location).unwrap().url.as_str(), want);
        }
        let e = next_target(&here, "ftp://e/").unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::HANDSHAKE);
        assert!(e
            .to_string()
            .contains("cannot follow the redirect to ftp://e/"));
    }
}

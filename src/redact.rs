//! Keeping credentials out of what wsprobe prints: URL passwords, query parameters,
//! header values and subprotocol entries that carry secrets are replaced by
//! `<redacted>` in every output (human, `-v`, `-vv`, `--jsonl`, `--record`, error
//! messages) unless the user passes `--show-secrets`.
//!
//! The policy is process-wide and set once at start ([`configure`]): secrets turn up
//! in error messages built deep in the connect code, and threading a flag through
//! every one of them would be easy to forget in the next one.

use std::borrow::Cow;
use std::sync::{Mutex, OnceLock};

pub const REDACTED: &str = "<redacted>";

/// Headers whose values are always credentials.
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// A header whose name contains one of these carries a secret (`X-Api-Key`,
/// `X-Auth-Token`, `X-Session-Id`, ...).
const SECRET_HEADER_PARTS: [&str; 7] = [
    "token",
    "key",
    "secret",
    "auth",
    "session",
    "cookie",
    "signature",
];

/// The handshake's own headers: nonces and negotiation, never credentials, and
/// what a debugger must show (`Sec-WebSocket-Key` contains "key").
const HANDSHAKE_HEADERS: [&str; 4] = [
    "sec-websocket-key",
    "sec-websocket-accept",
    "sec-websocket-extensions",
    "sec-websocket-version",
];

/// A query parameter whose name contains one of these carries a secret.
const SECRET_PARAM_PARTS: [&str; 10] = [
    "token",
    "api_key",
    "apikey",
    "key",
    "auth",
    "jwt",
    "password",
    "secret",
    "signature",
    "session",
];

/// Parameter names too short to match inside other names (`design`, `signal`).
const SECRET_PARAMS_EXACT: [&str; 1] = ["sig"];

#[derive(Debug, Default)]
struct Policy {
    show_secrets: bool,
    /// `--redact NAME`, lower-cased: more parameter or header names.
    extra: Vec<String>,
}

static POLICY: OnceLock<Policy> = OnceLock::new();

/// The secret values this run sends (query parameters, credential headers,
/// subprotocol tokens), so that free text from the peer (a rejection's body
/// that echoes the request, say) can be cleaned of them too.
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Shorter values are not looked for in free text: they would match by chance.
const MIN_KNOWN: usize = 4;

/// Set the process-wide policy (`--show-secrets`, `--redact NAME...`). Later calls
/// are ignored: the policy does not change during a run.
pub fn configure(show_secrets: bool, extra: &[String]) {
    let _ = POLICY.set(Policy {
        show_secrets,
        extra: extra.iter().map(|n| n.to_ascii_lowercase()).collect(),
    });
}

fn policy() -> &'static Policy {
    POLICY.get_or_init(Policy::default)
}

fn is_extra(name: &str) -> bool {
    policy().extra.iter().any(|n| n.eq_ignore_ascii_case(name))
}

fn is_secret_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if is_extra(&lower) {
        return true;
    }
    if HANDSHAKE_HEADERS.contains(&lower.as_str()) {
        return false;
    }
    SECRET_HEADERS.contains(&lower.as_str())
        || SECRET_HEADER_PARTS.iter().any(|part| lower.contains(part))
}

fn is_secret_param(name: &str) -> bool {
    let lower = crate::target::percent_decode(name).to_ascii_lowercase();
    is_extra(&lower)
        || SECRET_PARAMS_EXACT.contains(&lower.as_str())
        || SECRET_PARAM_PARTS.iter().any(|part| lower.contains(part))
}

/// The value to show for a header; `show_secrets` is the caller's switch (the
/// record file and stdout agree on it, see [`configure`] for the rest).
pub fn header_value<'a>(name: &str, value: &'a str, show_secrets: bool) -> Cow<'a, str> {
    if show_secrets || policy().show_secrets {
        return Cow::Borrowed(value);
    }
    if name.eq_ignore_ascii_case("sec-websocket-protocol") {
        return subprotocols(value);
    }
    if is_secret_header(name) {
        Cow::Borrowed(REDACTED)
    } else {
        Cow::Borrowed(value)
    }
}

/// A comma-separated subprotocol list with bearer tokens hidden: the Kubernetes
/// form `base64url.bearer.authorization.k8s.io.<token>` keeps its prefix.
pub fn subprotocols(list: &str) -> Cow<'_, str> {
    if policy().show_secrets || !list.split(',').any(|p| bearer_token_at(p).is_some()) {
        return Cow::Borrowed(list);
    }
    let shown: Vec<String> = list
        .split(',')
        .map(|entry| match bearer_token_at(entry) {
            Some(at) => format!("{}{REDACTED}", &entry[..at]),
            None => entry.to_string(),
        })
        .collect();
    Cow::Owned(shown.join(","))
}

/// Where the token starts in a subprotocol entry that carries one.
fn bearer_token_at(entry: &str) -> Option<usize> {
    let lower = entry.to_ascii_lowercase();
    const K8S: &str = "bearer.authorization.k8s.io.";
    if let Some(i) = lower.find(K8S) {
        return Some(i + K8S.len());
    }
    for marker in ["bearer.", "token.", "bearer-", "token-"] {
        if let Some(i) = lower.find(marker) {
            let at = i + marker.len();
            if at < entry.len() {
                return Some(at);
            }
        }
    }
    None
}

/// A URL as it may be shown: password and secret query parameters hidden.
/// Works on any string that looks like a URL (also one that did not parse).
pub fn url(raw: &str) -> String {
    if policy().show_secrets {
        return raw.to_string();
    }
    let without_password = crate::target::redact_userinfo(raw);
    query(&without_password)
}

/// `?token=abc&room=1` -> `?token=<redacted>&room=1`.
fn query(url: &str) -> String {
    let Some(start) = url.find('?') else {
        return url.to_string();
    };
    let end = url[start..].find('#').map_or(url.len(), |i| start + i);
    let params: Vec<String> = url[start + 1..end]
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() && is_secret_param(name) => {
                format!("{name}={REDACTED}")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{}?{}{}", &url[..start], params.join("&"), &url[end..])
}

/// Remember the secrets in what wsprobe sends: the passwords (the URL's and
/// `--auth`'s), secret
/// query parameters, the values of credential headers (and their last word:
/// the token of `Bearer TOKEN`), and bearer tokens offered as subprotocols.
pub fn remember_request(url: &url::Url, headers: &[(String, String)], passwords: &[&str]) {
    let mut found: Vec<String> = passwords.iter().map(|p| p.to_string()).collect();
    if let Some(password) = url.password() {
        found.push(crate::target::percent_decode(password));
    }
    for (name, value) in url.query_pairs() {
        if is_secret_param(&name) {
            found.push(value.into_owned());
        }
    }
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            for entry in value.split(',') {
                if let Some(at) = bearer_token_at(entry) {
                    found.push(entry[at..].trim().to_string());
                }
            }
        } else if is_secret_header(name) {
            found.push(value.clone());
            if let Some(word) = value.split_whitespace().last() {
                found.push(word.to_string());
            }
        }
    }
    let mut known = KNOWN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for secret in found {
        if secret.len() >= MIN_KNOWN && !known.contains(&secret) {
            known.push(secret);
        }
    }
    // Longest first, so that a token inside a longer secret does not leave the
    // rest of the longer one behind.
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Free text with every remembered secret replaced.
pub fn text(s: &str) -> Cow<'_, str> {
    if policy().show_secrets {
        return Cow::Borrowed(s);
    }
    let known = KNOWN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !known.iter().any(|k| s.contains(k.as_str())) {
        return Cow::Borrowed(s);
    }
    let mut out = s.to_string();
    for secret in known.iter() {
        out = out.replace(secret.as_str(), REDACTED);
    }
    Cow::Owned(out)
}

/// A stand-in for a secret in a message: shows that there was one, not its content.
pub fn secret_hint(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        REDACTED.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_are_redacted() {
        assert_eq!(header_value("Authorization", "Basic abc", false), REDACTED);
        assert_eq!(header_value("set-cookie", "a=b", false), REDACTED);
        assert_eq!(header_value("COOKIE", "a=b", false), REDACTED);
        assert_eq!(header_value("Proxy-Authorization", "x", false), REDACTED);
        assert_eq!(
            header_value("Authorization", "Basic abc", true),
            "Basic abc"
        );
        assert_eq!(header_value("X-Api-Key", "abc", false), REDACTED);
        assert_eq!(header_value("X-Auth-Token", "abc", false), REDACTED);
        assert_eq!(header_value("X-Session-Id", "abc", false), REDACTED);
        assert_eq!(header_value("Sec-WebSocket-Key", "nonce", false), "nonce");
        assert_eq!(header_value("Origin", "http://a", false), "http://a");
    }

    #[test]
    fn subprotocol_tokens_are_redacted() {
        assert_eq!(
            header_value(
                "Sec-WebSocket-Protocol",
                "v4.channel.k8s.io, base64url.bearer.authorization.k8s.io.ZXlKaGJH",
                false
            ),
            format!("v4.channel.k8s.io, base64url.bearer.authorization.k8s.io.{REDACTED}")
        );
        assert_eq!(subprotocols("chat, superchat"), "chat, superchat");
    }

    #[test]
    fn remembered_secrets_are_cleaned_from_free_text() {
        let url = url::Url::parse("ws://u:pw-Secret1@h/?token=tok-Secret2&room=lobby").unwrap();
        let headers = [
            (
                "authorization".to_string(),
                "Bearer tok-Secret3".to_string(),
            ),
            ("x-trace".to_string(), "trace-not-secret".to_string()),
            (
                "sec-websocket-protocol".to_string(),
                "chat, base64url.bearer.authorization.k8s.io.tok-Secret4".to_string(),
            ),
        ];
        remember_request(&url, &headers, &["auth-Secret5"]);
        let body = "denied pw-Secret1 tok-Secret2 tok-Secret3 tok-Secret4 auth-Secret5 lobby trace-not-secret";
        assert_eq!(
            text(body),
            "denied <redacted> <redacted> <redacted> <redacted> <redacted> lobby trace-not-secret"
        );
        assert!(matches!(text("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn secret_query_parameters_are_redacted() {
        assert_eq!(
            url("ws://h/chat?token=SECRET&room=1#x"),
            format!("ws://h/chat?token={REDACTED}&room=1#x")
        );
        assert_eq!(
            url("wss://u:pw@h/?access_token=a&X-Amz-Signature=b&sig=c&design=d"),
            format!(
                "wss://u:{REDACTED}@h/?access_token={REDACTED}&X-Amz-Signature={REDACTED}&sig={REDACTED}&design=d"
            )
        );
        assert_eq!(url("ws://h/?flag&key="), "ws://h/?flag&key=");
        assert_eq!(url("ws://h/path"), "ws://h/path");
    }
}

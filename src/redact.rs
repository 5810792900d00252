//! Keeping credentials out of what wsprobe prints: header values that carry secrets
//! are replaced by `<redacted>` in every output unless the user asks otherwise.

pub const REDACTED: &str = "<redacted>";

/// Headers whose values are credentials.
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The value to show for a header.
pub fn header_value<'a>(name: &str, value: &'a str, show_secrets: bool) -> &'a str {
    if !show_secrets && is_secret_header(name) {
        REDACTED
    } else {
        value
    }
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
        assert_eq!(header_value("X-Token", "abc", false), "abc");
    }
}

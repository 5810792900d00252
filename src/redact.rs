//! Keeping credentials out of what wsprobe prints.

/// A stand-in for a secret in a message: shows its shape, not its content.
pub fn secret_hint(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        "<redacted>".to_string()
    }
}

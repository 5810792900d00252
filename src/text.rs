//! Text from the peer, made safe for a one-line message on a terminal: control
//! characters (newlines, ESC sequences, NUL…) are shown as escapes, never emitted.

/// `1 byte`, `2 bytes`: a count with its noun in the right number.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `line1\nline2\x1b[31m` (with real control characters) becomes the printable
/// `line1\nline2\x1b[31m` (backslash escapes); everything else is kept.
pub fn escape(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_become_escapes() {
        assert_eq!(escape("plain text é"), "plain text é");
        assert_eq!(escape("line1\nline2\x1b[31m"), "line1\\nline2\\x1b[31m");
        assert_eq!(escape("a\r\tb\0\u{7f}\u{85}"), "a\\r\\tb\\x00\\x7f\\x85");
    }
}

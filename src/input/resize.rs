//! Redrawing the line being typed after the terminal is resized. Most terminals
//! (VTE, kitty, iTerm2, tmux, Windows Terminal…) reflow a wrapped line to the new
//! width, and the cursor moves with it; rustyline then clears the rows where the
//! line *was*, at the old width. Narrower, that leaves the first rows of the old
//! prompt on the screen; wider, it clears rows above the prompt. This module says
//! how far the cursor is from where rustyline believes it is, so that the REPL's
//! prompt highlighter can move it to the prompt's first row before the redraw,
//! and it keeps the last lines shown above the prompt ([`Shown`]) to draw again
//! the rows that rustyline cleared by mistake.
//!
//! Limits: terminals that do not reflow (xterm) keep the old rows, and rustyline's
//! own clearing is right there while this correction is not; a message printed
//! in the instant between the resize and the editor noticing it is drawn at the
//! old width.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use unicode_width::UnicodeWidthChar;

/// How many of the last lines shown above the prompt are kept.
const KEPT_LINES: usize = 256;

/// The last lines shown above the prompt (received messages, status lines, the
/// lines typed), as written, escape sequences included.
#[derive(Clone, Default)]
pub struct Shown {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl Shown {
    /// Note text written above the prompt (whole lines).
    pub fn record(&self, text: &str) {
        let Ok(mut lines) = self.lines.lock() else {
            return;
        };
        for line in text.strip_suffix('\n').unwrap_or(text).split('\n') {
            if lines.len() == KEPT_LINES {
                lines.pop_front();
            }
            lines.push_back(line.trim_end_matches('\r').to_string());
        }
    }

    /// The last lines that fill at least `rows` rows `cols` wide, as one text
    /// to write, and how many rows they take.
    fn last_rows(&self, rows: usize, cols: usize) -> (usize, String) {
        let Ok(lines) = self.lines.lock() else {
            return (0, String::new());
        };
        let mut taken = 0;
        let mut first = lines.len();
        while taken < rows && first > 0 {
            first -= 1;
            taken += rows_of(&lines[first], cols);
        }
        let text = lines
            .range(first..)
            .map(|line| format!("{line}\r\n"))
            .collect();
        (taken, text)
    }
}

/// How many rows a line takes `cols` wide (escape sequences take none).
fn rows_of(line: &str, cols: usize) -> usize {
    display_width(line).div_ceil(cols.max(1)).max(1)
}

/// Columns `text` takes: escape sequences (CSI, as colors are) take none.
fn display_width(text: &str) -> usize {
    let mut width = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        width += c.width().unwrap_or(0);
    }
    width
}

/// The row (from the prompt's first) where the cursor is after `before` (the
/// prompt and the text left of the cursor) is drawn `cols` wide, as rustyline
/// lays it out: a character that does not fit goes to the next row, and a row
/// filled exactly puts the cursor at the start of the next.
pub fn cursor_row(before: &str, cols: usize) -> usize {
    let cols = cols.max(1);
    let (mut row, mut col) = (0, 0);
    for c in before.chars() {
        if c == '\n' {
            row += 1;
            col = 0;
            continue;
        }
        let width = c.width().unwrap_or(0);
        col += width;
        if col > cols {
            row += 1;
            col = width;
        }
    }
    if col == cols {
        row += 1;
    }
    row
}

/// Where the cursor was, as rows below the prompt's first, in a terminal that
/// reflowed the line from `old_cols` to `new_cols`. A line that filled its last
/// row exactly was ended by rustyline with a hard newline, which reflow keeps.
fn reflowed_row(before: &str, old_cols: usize, new_cols: usize) -> usize {
    let old_cols = old_cols.max(1);
    let new_cols = new_cols.max(1);
    let mut row = 0;
    let logical: Vec<&str> = before.split('\n').collect();
    for (i, line) in logical.iter().enumerate() {
        let width: usize = line.chars().map(|c| c.width().unwrap_or(0)).sum();
        let last = i + 1 == logical.len();
        if last {
            let filled_exactly = width > 0 && width % old_cols == 0;
            row += if filled_exactly {
                width.div_ceil(new_cols)
            } else {
                cursor_row(line, new_cols)
            };
        } else {
            row += width.div_ceil(new_cols).max(1);
        }
    }
    row
}

/// The escape sequence that takes the cursor from where rustyline's clearing of
/// the old rows leaves it to the prompt's first row, clearing what is below and
/// drawing again the rows above it that were cleared (wider: the line now takes
/// fewer rows than rustyline cleared); empty when the width did not change.
pub fn correction(before: &str, old_cols: usize, new_cols: usize, shown: &Shown) -> String {
    if old_cols == new_cols {
        return String::new();
    }
    // rustyline moves up as many rows as the cursor was below the prompt's
    // first at the old width, from where the cursor is now.
    let believed = cursor_row(before, old_cols) as isize;
    let actual = reflowed_row(before, old_cols, new_cols) as isize;
    match actual - believed {
        0 => String::new(),
        up if up > 0 => format!("\x1b[{up}A\r\x1b[J"),
        down => {
            // The cursor is `-down` rows above the prompt's first, all cleared:
            // write the lines that were there again, from the first row of the
            // first of them (which is still on the screen, and written over).
            let cleared = (-down) as usize;
            let (rows, text) = shown.last_rows(cleared, new_cols);
            let up = rows.saturating_sub(cleared);
            let up = if up > 0 {
                format!("\x1b[{up}A")
            } else {
                String::new()
            };
            let rest = cleared.saturating_sub(rows);
            let rest = if rest > 0 {
                format!("\x1b[{rest}B")
            } else {
                String::new()
            };
            format!("{up}\r\x1b[J{text}{rest}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_as_rustyline_lays_them_out() {
        assert_eq!(cursor_row("", 10), 0);
        assert_eq!(cursor_row("123456789", 10), 0);
        assert_eq!(cursor_row("1234567890", 10), 1);
        assert_eq!(cursor_row("12345678901", 10), 1);
        assert_eq!(cursor_row("ab\ncd", 10), 1);
        // A wide character that does not fit goes to the next row.
        assert_eq!(cursor_row("123456789日", 10), 1);
    }

    #[test]
    fn narrower_moves_up_wider_draws_the_cleared_rows_again() {
        let shown = Shown::default();
        shown.record("< one\n< two\n");
        shown.record("\x1b[32m<\x1b[0m three\n");
        let line = "p> ".to_string() + &"x".repeat(45); // 48 columns
                                                        // At 40 columns: row 1. Reflowed to 20: row 2, one more.
        assert_eq!(correction(&line, 40, 20, &shown), "\x1b[1A\r\x1b[J");
        // At 20 columns: row 2. Reflowed to 60: row 0; rustyline cleared the
        // two rows above the prompt, where `< two` and `< three` were.
        assert_eq!(
            correction(&line, 20, 60, &shown),
            "\r\x1b[J< two\r\n\x1b[32m<\x1b[0m three\r\n"
        );
        assert_eq!(correction(&line, 40, 40, &shown), "");
        // One row that still fits: nothing moved.
        assert_eq!(correction("p> hi", 40, 20, &shown), "");
        // A row filled exactly ends with a newline that reflow keeps.
        assert_eq!(correction(&"x".repeat(40), 40, 80, &shown), "");
    }

    #[test]
    fn a_long_line_is_written_again_from_its_first_row() {
        let shown = Shown::default();
        shown.record(&format!("< {}\n", "y".repeat(28))); // 30 columns
                                                          // One row was cleared; the line takes two at 20 columns: start one higher.
        assert_eq!(shown.last_rows(1, 20).0, 2);
        assert_eq!(display_width("\x1b[1;33m*\x1b[0m hi"), 4);
    }
}

//! Tab completion in the REPL: slash-command names, and file paths after `/file`
//! (a leading `~` is the home directory, as in a shell). The path is the rest of
//! the line, as `/file` reads it: nothing is quoted or escaped.

use rustyline::completion::Pair;
use std::path::PathBuf;

use wsprobe::slash::{COMMANDS, HUB_COMMANDS};

/// Where the completed text starts in `line` and the candidates, for the cursor
/// at byte `pos`.
pub fn complete(line: &str, pos: usize) -> (usize, Vec<Pair>) {
    let head = &line[..pos];
    if let Some(start) = file_argument(head) {
        return complete_path(head, start);
    }
    if !head.starts_with('/') || head.contains(char::is_whitespace) {
        return (0, Vec::new());
    }
    let matches = COMMANDS
        .iter()
        .chain(HUB_COMMANDS)
        .map(|(name, _)| *name)
        .chain(["/exit"])
        .filter(|name| name.starts_with(head))
        .map(|name| Pair {
            display: name.to_string(),
            replacement: format!("{name} "),
        })
        .collect();
    (0, matches)
}

/// Where the path starts when `head` is `/file PATH` or `/file --binary PATH`.
fn file_argument(head: &str) -> Option<usize> {
    let args = head.strip_prefix("/file")?;
    if !args.starts_with(char::is_whitespace) {
        return None;
    }
    let mut start = head.len() - args.trim_start().len();
    let rest = &head[start..];
    if let Some(after) = rest.strip_prefix("--binary") {
        if !after.starts_with(char::is_whitespace) {
            return None; // still typing the flag
        }
        start = head.len() - after.trim_start().len();
    }
    Some(start)
}

/// Entries of the typed path's directory whose names start with its last part;
/// directories end in `/` so that Tab goes on into them.
fn complete_path(head: &str, start: usize) -> (usize, Vec<Pair>) {
    let typed = &head[start..];
    if typed == "~" {
        return (start, vec![pair("~/".to_string())]);
    }
    let (dir, prefix) = match typed.rfind('/') {
        Some(i) => typed.split_at(i + 1),
        None => ("", typed),
    };
    let listed = if dir.is_empty() {
        PathBuf::from(".")
    } else {
        expand_home(dir)
    };
    let Ok(entries) = std::fs::read_dir(&listed) else {
        return (start, Vec::new());
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            // Hidden files only when asked for, as shells do.
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            // Follow symbolic links: a link to a directory completes as one.
            let is_dir = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
            Some(if is_dir { format!("{name}/") } else { name })
        })
        .collect();
    names.sort();
    (start + dir.len(), names.into_iter().map(pair).collect())
}

fn pair(text: String) -> Pair {
    Pair {
        display: text.clone(),
        replacement: text,
    }
}

/// `~` and `~/…` are under `$HOME`; other paths are as typed.
pub fn expand_home(path: &str) -> PathBuf {
    let home = || std::env::var_os("HOME").filter(|h| !h.is_empty());
    match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => match home() {
            Some(home) => PathBuf::from(home).join(rest.trim_start_matches('/')),
            None => PathBuf::from(path),
        },
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replacements(line: &str) -> (usize, Vec<String>) {
        let (start, pairs) = complete(line, line.len());
        (start, pairs.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn command_names() {
        assert_eq!(replacements("/pi"), (0, vec!["/ping ".to_string()]));
        assert_eq!(
            replacements("/e"),
            (0, vec!["/empty ".to_string(), "/exit ".to_string()])
        );
        assert_eq!(replacements("hello /pi").1, Vec::<String>::new());
    }

    #[test]
    fn paths_after_file_with_directories_marked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("payload.json"), "{}").unwrap();
        std::fs::write(dir.path().join("payload.txt"), "x").unwrap();
        std::fs::write(dir.path().join(".hidden"), "x").unwrap();
        std::fs::create_dir(dir.path().join("pdir")).unwrap();
        let base = format!("{}/", dir.path().display());
        let line = format!("/file {base}p");
        assert_eq!(
            replacements(&line),
            (
                "/file ".len() + base.len(),
                vec!["payload.json".into(), "payload.txt".into(), "pdir/".into()]
            )
        );
        let line = format!("/file --binary {base}pay");
        assert_eq!(replacements(&line).1, ["payload.json", "payload.txt"]);
        let line = format!("/file {base}.h");
        assert_eq!(replacements(&line).1, [".hidden"]);
        assert_eq!(replacements("/file --bin").1, Vec::<String>::new());
    }

    #[test]
    fn home_is_expanded() {
        let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
        if home.as_os_str().is_empty() {
            return;
        }
        assert_eq!(expand_home("~/x.json"), home.join("x.json"));
        assert_eq!(expand_home("~"), home);
        assert_eq!(expand_home("~user/x"), PathBuf::from("~user/x"));
        assert_eq!(expand_home("a/~/b"), PathBuf::from("a/~/b"));
        assert_eq!(replacements("/file ~"), (6, vec!["~/".to_string()]));
    }
}

//! Checking that secrets stay out of every output: a run recorded with
//! `--record`, whose stdout, stderr and record must not hold any of the
//! forms a secret could leak in.

use super::{wsprobe_recorded, Run};

/// Asserts that `text` (named `what` in the failure) holds none of `secrets`.
#[track_caller]
pub fn assert_no_secret(what: &str, text: &[u8], secrets: &[String]) {
    let text = String::from_utf8_lossy(text);
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} leaks {s:?}:\n{text}");
    }
}

/// Runs wsprobe with `args` plus `--record FILE`, with `env`; asserts that
/// none of `secrets` appears in stdout, stderr or the (non-empty) record.
#[track_caller]
pub fn run_redacted(args: &[&str], env: &[(&str, &str)], secrets: &[String]) -> Run {
    let rec = wsprobe_recorded(args, env);
    let r = rec.run;
    let what = format!("{args:?} (env {env:?})");
    assert_no_secret(&format!("stdout of {what}"), &r.stdout, secrets);
    assert_no_secret(&format!("stderr of {what}"), &r.stderr, secrets);
    assert!(!rec.record.is_empty(), "nothing recorded\n{r}");
    assert_no_secret(&format!("record of {what}"), &rec.record, secrets);
    r
}

//! jq filters (`--expect-jq`, `--fail-on-jq`, `--jq`): compiled once, at startup,
//! with the jaq crates (a real jq, not a subset), and run on each JSON message.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data, unwrap_valr, Compiler, Ctx, Vars};
use jaq_json::Val;
use std::fmt;
use std::sync::Arc;

type Filter = jaq_core::Filter<data::JustLut<Val>>;

/// One compiled filter and the text it came from (for messages).
#[derive(Clone)]
pub struct Jq {
    code: String,
    filter: Arc<Filter>,
}

impl fmt::Debug for Jq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jq({:?})", self.code)
    }
}

impl Jq {
    /// Parse and compile `code`; the error names the position (1-based column).
    pub fn compile(code: &str) -> Result<Jq, String> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let at = |s: &str| {
            // Error positions are slices of `code`: their offset is the column.
            let offset = (s.as_ptr() as usize).saturating_sub(code.as_ptr() as usize);
            code.get(..offset.min(code.len()))
                .map_or(1, |before| before.chars().count() + 1)
        };
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errors| {
                let (_, error) = match errors.into_iter().next() {
                    Some(e) => e,
                    None => return "invalid jq filter".to_string(),
                };
                // Lexer and parser errors have different types but say the same.
                let first = match &error {
                    jaq_core::load::Error::Lex(errs) => errs
                        .first()
                        .map(|(expect, s)| (*s, format!("expected {}", expect.as_str()))),
                    jaq_core::load::Error::Parse(errs) => errs
                        .first()
                        .map(|(expect, s)| (*s, format!("expected {}", expect.as_str()))),
                    jaq_core::load::Error::Io(errs) => errs.first().map(|(s, m)| (*s, m.clone())),
                };
                match first {
                    Some((s, what)) => format!("invalid jq filter at column {}: {what}", at(s)),
                    None => "invalid jq filter".to_string(),
                }
            })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                match errors
                    .into_iter()
                    .next()
                    .and_then(|(_, e)| e.into_iter().next())
                {
                    Some((s, undefined)) => format!(
                        "invalid jq filter at column {}: undefined {} '{s}'",
                        at(s),
                        undefined.as_str()
                    ),
                    None => "invalid jq filter".to_string(),
                }
            })?;
        Ok(Jq {
            code: code.to_string(),
            filter: Arc::new(filter),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// The filter's outputs for `input`, compact, one string each (errors are
    /// skipped, as jq reports them on stderr and goes on).
    pub fn outputs(&self, input: &Val) -> Vec<String> {
        self.run(input).map(|v| v.to_string()).collect()
    }

    /// Whether the filter yields `true` for `input`.
    pub fn holds(&self, input: &Val) -> bool {
        self.run(input).any(|v| v == Val::from(true))
    }

    fn run<'a>(&'a self, input: &Val) -> impl Iterator<Item = Val> + 'a {
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        self.filter
            .id
            .run((ctx, input.clone()))
            .map(unwrap_valr)
            .filter_map(Result::ok)
    }
}

/// A message's payload as JSON, when it is JSON.
pub fn parse(payload: &[u8]) -> Option<Val> {
    jaq_json::read::parse_single(payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_run_on_json() {
        let jq = Jq::compile(".type == \"ack\"").unwrap();
        assert!(jq.holds(&parse(br#"{"type":"ack"}"#).unwrap()));
        assert!(!jq.holds(&parse(br#"{"type":"nack"}"#).unwrap()));
        let jq = Jq::compile(".[] | .id").unwrap();
        assert_eq!(
            jq.outputs(&parse(br#"[{"id":1},{"id":"a"}]"#).unwrap()),
            ["1", "\"a\""]
        );
        assert!(parse(b"not json").is_none());
    }

    #[test]
    fn bad_filters_name_the_position() {
        let e = Jq::compile(".a | ").unwrap_err();
        assert!(e.contains("column"), "{e}");
        let e = Jq::compile("nosuchfn(1)").unwrap_err();
        assert!(e.contains("column 1") && e.contains("nosuchfn"), "{e}");
    }
}

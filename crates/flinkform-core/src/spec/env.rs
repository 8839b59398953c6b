//! Environments: `[environments.<name>]` in flinkform.toml overlays the project (`[vvp]`,
//! `[state]`, `[defaults.*]`, …) and, under `[environments.<name>.pipelines.<pipeline>]`,
//! single pipelines, as dbt targets do: one project, not copies. The overlay is one more
//! layer on top of the walk's, so a key is read from the environment when it sets it,
//! and errors point at the line that set it.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::walk::{Ctx, kind};
use crate::diag::{Source, suggest};

/// The selected environment's overlays.
pub(super) struct Overlay<'a> {
    /// The environment's name.
    pub(super) name: String,
    /// Its project-level keys (`[environments.NAME]` without `pipelines`).
    pub(super) root: DeTable<'a>,
    /// Where `[environments.NAME]` is.
    pub(super) span: Range<usize>,
    /// Its pipeline overlays: pipeline name → table and span.
    pub(super) pipelines: BTreeMap<String, (&'a DeTable<'a>, Range<usize>)>,
}

impl Overlay<'_> {
    /// Whether the environment sets `[state] key` itself.
    pub(super) fn sets_state(&self, key: &str) -> bool {
        self.root.get("state").and_then(|s| s.get_ref().as_table()).is_some_and(|t| t.get(key).is_some())
    }
}

/// The names of the environments `config` defines.
pub fn names(config: &DeTable<'_>) -> Vec<String> {
    let envs = config.get("environments").and_then(|e| e.get_ref().as_table());
    envs.map(|t| t.iter().map(|(k, _)| k.get_ref().to_string()).collect()).unwrap_or_default()
}

/// The overlay of environment `env` (none selected: none). An environment that is not
/// defined is an error listing those that are.
pub(super) fn overlay<'a>(
    src: &'a Source,
    config: &'a DeTable<'a>,
    env: Option<&str>,
    ctx: &Ctx,
) -> Option<Overlay<'a>> {
    let name = env?;
    let report = |d| ctx.diags.borrow_mut().push(d);
    let table = config.get("environments").and_then(|e| e.get_ref().as_table()).and_then(|t| t.get(name));
    let Some(found) = table else {
        let known = names(config);
        let mut d = crate::diag::Diagnostic::error(format!("unknown environment `{name}`"));
        d = match (known.is_empty(), suggest(name, known.iter().map(String::as_str))) {
            (true, _) => d.with_help("flinkform.toml defines no [environments.NAME]: add one, or leave out --env"),
            (false, Some(near)) => d.with_help(format!("did you mean `{near}`? (defined: {})", known.join(", "))),
            (false, None) => d.with_help(format!("defined: {}", known.join(", "))),
        };
        report(d);
        return None;
    };
    let Some(t) = found.get_ref().as_table() else {
        report(src.error(found.span(), format!("[environments.{name}] must be a table")));
        return None;
    };
    let mut root = t.clone();
    root.remove("pipelines");
    let mut pipelines = BTreeMap::new();
    if let Some(p) = t.get("pipelines") {
        match p.get_ref().as_table() {
            Some(pt) => {
                for (k, v) in pt.iter() {
                    match v.get_ref().as_table() {
                        Some(vt) if vt.get("pipeline").is_some() => report(src.error(
                            v.span(),
                            format!("[environments.{name}.pipelines.{}] cannot change [pipeline]: a pipeline keeps its name and protection in every environment", k.get_ref()),
                        )),
                        Some(vt) => {
                            pipelines.insert(k.get_ref().to_string(), (vt, v.span()));
                        }
                        None => report(src.error(v.span(), kind_error(name, k.get_ref(), v.get_ref()))),
                    }
                }
            }
            None => report(
                src.error(p.span(), format!("`pipelines` in [environments.{name}] must be a table of pipelines")),
            ),
        }
    }
    Some(Overlay { name: name.to_string(), root, span: found.span(), pipelines })
}

fn kind_error(env: &str, pipeline: &str, v: &DeValue<'_>) -> String {
    format!("[environments.{env}.pipelines.{pipeline}] must be a table of the pipeline's sections, found {}", kind(v))
}

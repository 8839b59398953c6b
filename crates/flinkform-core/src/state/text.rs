//! The state file's text, made again cheaply: [`TextCache`] keeps each pipeline's text
//! from the last write and serializes only the pipelines that changed, so a journal write
//! of a large state costs what changed plus a copy, not the whole state's serialization.

use std::collections::HashMap;
use std::fmt::Write;

use super::{PipelineState, State};

/// Each pipeline's pretty JSON from the last [`TextCache::text`], with the record it
/// was made from.
#[derive(Default)]
pub struct TextCache {
    pipelines: HashMap<String, (PipelineState, String)>,
}

impl TextCache {
    /// `to_text(state)`, byte for byte.
    pub fn text(&mut self, state: &State) -> String {
        let json = |s: &str| serde_json::to_string(s).expect("a string serializes");
        let mut out = String::with_capacity(self.pipelines.values().map(|(_, t)| t.len() + 64).sum::<usize>() + 256);
        let _ = write!(
            out,
            "{{\n  \"format_version\": {},\n  \"lineage\": {},\n  \"serial\": {},\n  \"pipelines\": {{",
            state.format_version,
            json(&state.lineage),
            state.serial
        );
        if state.pipelines.is_empty() {
            out.push_str("}\n}\n");
            return out;
        }
        self.pipelines.retain(|name, _| state.pipelines.contains_key(name));
        for (i, (name, p)) in state.pipelines.iter().enumerate() {
            let fresh = !matches!(self.pipelines.get(name), Some((was, _)) if was == p);
            if fresh {
                self.pipelines.insert(name.clone(), (p.clone(), nested(p)));
            }
            let _ = write!(out, "{}\n    {}: ", if i == 0 { "" } else { "," }, json(name));
            out.push_str(&self.pipelines[name].1);
        }
        out.push_str("\n  }\n}\n");
        out
    }
}

/// A pipeline's pretty JSON as it stands inside `"pipelines"`: every line after the
/// first indented by two levels (JSON strings hold no raw newline).
fn nested(p: &PipelineState) -> String {
    let text = serde_json::to_string_pretty(p).expect("the state model serializes");
    text.replace('\n', "\n    ")
}

//! The saved plan file (`plan -out FILE`): the plan with the lineage and serial of the
//! state it was made against, so that applying it to a changed state is refused.

use serde::{Deserialize, Serialize};

use super::{FORMAT_VERSION, Plan};
use crate::state::State;

#[derive(Serialize, Deserialize)]
struct PlanFile {
    format_version: u32,
    kind: String,
    plan: Plan,
}

const KIND: &str = "flinkform-plan";

/// Why a saved plan cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanFileError {
    /// Not a plan file, or a version this build does not read.
    #[error("not a usable flinkform plan file: {0}")]
    Invalid(String),
    /// The state changed since the plan was made.
    #[error(
        "saved plan is stale: it was made against {planned}, but the state is now at {current}; run `flinkform plan` again"
    )]
    Stale {
        /// Lineage/serial the plan was made against.
        planned: String,
        /// Lineage/serial of the state now.
        current: String,
    },
}

/// Serializes a plan for `-out`.
pub fn to_text(plan: &Plan) -> String {
    let f = PlanFile { format_version: FORMAT_VERSION, kind: KIND.into(), plan: plan.clone() };
    serde_json::to_string_pretty(&f).expect("a plan always serializes") + "\n"
}

/// Reads a saved plan.
pub fn from_text(text: &str) -> Result<Plan, PlanFileError> {
    #[derive(Deserialize)]
    struct Header {
        format_version: Option<u64>,
        kind: Option<String>,
    }
    let h: Header = serde_json::from_str(text).map_err(|e| PlanFileError::Invalid(e.to_string()))?;
    if h.kind.as_deref() != Some(KIND) {
        return Err(PlanFileError::Invalid("no `kind: flinkform-plan`".into()));
    }
    if h.format_version != Some(u64::from(FORMAT_VERSION)) {
        return Err(PlanFileError::Invalid(format!(
            "format_version {:?} (this flinkform reads {FORMAT_VERSION})",
            h.format_version
        )));
    }
    // Parsed straight into the model (not through a JSON value) to keep column order.
    serde_json::from_str::<PlanFile>(text).map(|f| f.plan).map_err(|e| PlanFileError::Invalid(e.to_string()))
}

fn describe(lineage: Option<&str>, serial: Option<u64>) -> String {
    match (lineage, serial) {
        (Some(l), Some(s)) => format!("lineage {l} serial {s}"),
        _ => "no state".into(),
    }
}

/// Refuses a plan made against another state than `current`.
pub fn check_fresh(plan: &Plan, current: Option<&State>) -> Result<(), PlanFileError> {
    let now = (current.map(|s| s.lineage.as_str()), current.map(|s| s.serial));
    if (plan.lineage.as_deref(), plan.serial) == now {
        return Ok(());
    }
    Err(PlanFileError::Stale {
        planned: describe(plan.lineage.as_deref(), plan.serial),
        current: describe(now.0, now.1),
    })
}

//! `--normalize`: a VVP that stores values in its own spelling and answers with that, as
//! servers often do. Alibaba documents no such rewriting and none is ruled out, so this
//! is a variant to run clients against, not a claim: SQL loses its trailing whitespace,
//! memory is answered in the spelling of Alibaba's own API examples (`4Gi` as `4 GiB`,
//! the GetHotUpdateJobResult example's `"memory": "4 GiB"`), and Flink durations with a
//! unit are answered as milliseconds without one (Flink reads a bare number as
//! milliseconds).

use serde_json::Value;
use vvp_wire::wire::{Deployment, ResourceSpec};

/// The deployment as a normalizing VVP answers with it.
pub(crate) fn deployment(mut d: Deployment) -> Deployment {
    if let Some(sql) = d.artifact.as_mut().and_then(|a| a.sql_artifact.as_mut()) {
        sql.sql_script = sql.sql_script.trim_end().to_string();
    }
    if let Some(basic) = d.streaming_resource_setting.as_mut().and_then(|s| s.basic_resource_setting.as_mut()) {
        for spec in [&mut basic.jobmanager_resource_setting_spec, &mut basic.taskmanager_resource_setting_spec] {
            if let Some(ResourceSpec { memory: Some(m), .. }) = spec {
                *m = spelled(m).unwrap_or_else(|| m.clone());
            }
        }
    }
    for v in d.flink_conf.iter_mut().flat_map(|c| c.values_mut()) {
        if let Some(ms) = v.as_str().and_then(millis) {
            *v = Value::String(ms.to_string());
        }
    }
    d
}

/// `4Gi` → `4 GiB`, `512Mi` → `512 MiB`.
fn spelled(m: &str) -> Option<String> {
    let m = m.trim();
    let unit = ["Ki", "Mi", "Gi", "Ti"].into_iter().find(|u| m.ends_with(u))?;
    let n: u64 = m.strip_suffix(unit)?.trim().parse().ok()?;
    Some(format!("{n} {unit}B"))
}

/// `10s`, `10 s`, `2min`, `1h` → milliseconds; anything else stays as it is.
fn millis(v: &str) -> Option<u64> {
    let v = v.trim();
    let at = v.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = v[..at].parse().ok()?;
    let scale = match v[at..].trim() {
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    Some(n * scale)
}

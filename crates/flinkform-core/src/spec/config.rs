//! Reading flinkform.toml's own keys: the version, the project id, `[vvp]`, `[state]`
//! and `[[alert]]`.

use super::walk::Section;
use super::{CONFIG_VERSION, Config, StateConfig, VvpTarget, VvpTimeouts};
use std::time::Duration;

pub(super) fn read_config(root: &Section<'_, '_>) -> Option<Config> {
    let version = root.uint("version");
    match version {
        None if !root.has("version") => root.report(
            root.error_here("missing `version` in flinkform.toml")
                .with_help(format!("add `version = {CONFIG_VERSION}` at the top")),
        ),
        Some(v) if v != CONFIG_VERSION => root.report(root.get("version").unwrap().error(format!(
            "flinkform.toml version {v} is not supported by this flinkform (it reads version {CONFIG_VERSION})"
        ))),
        _ => {}
    }
    let project = root.string("project");
    if let Some(id) = &project
        && (id.is_empty()
            || id.len() > 63
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        && let Some(at) = root.get("project")
    {
        root.report(
            at.error(format!("project `{id}` is not a label value"))
                .with_help("1 to 63 letters, digits, `-`, `_` or `.`, e.g. \"shop-analytics\""),
        );
    }
    let vvp = root.section("vvp");
    check_target(&vvp);
    let target = VvpTarget {
        region: vvp.required_string("region").unwrap_or_default(),
        endpoint: vvp.string("endpoint"),
        protocol: vvp.choice("protocol", &["https", "http"]).map(str::to_string),
        workspace: vvp.required_string("workspace").unwrap_or_default(),
        namespace: vvp.required_string("namespace").unwrap_or_default(),
        timeouts: {
            let t = vvp.section("timeouts");
            let secs = |k: &'static str, d: u64| t.duration(k).unwrap_or(Duration::from_secs(d));
            let v = VvpTimeouts {
                validate: secs("validate", 60),
                deploy: secs("deploy", 300),
                start: secs("start", 300),
                stop: secs("stop", 300),
            };
            t.finish();
            v
        },
    };
    vvp.finish();
    let st = root.section("state");
    let state = match st.choice("backend", &["local", "postgres"]).unwrap_or("local") {
        "postgres" => {
            if st.has("path") {
                st.report(
                    st.get("path")?.error("`path` is for the local backend; the postgres backend takes `dsn_env`"),
                );
            }
            StateConfig::Postgres {
                dsn_env: st.string("dsn_env").unwrap_or_else(|| "FLINKFORM_STATE_DSN".into()),
                schema: st.string("schema").unwrap_or_else(|| "flinkform".into()),
                hologres: st.choice("flavor", &["postgres", "hologres"]) == Some("hologres"),
                lease_ttl: st.duration("lease_ttl").unwrap_or(Duration::from_secs(30)),
            }
        }
        _ => StateConfig::Local { path: st.string("path").unwrap_or_else(|| ".flinkform/state.json".into()) },
    };
    st.finish();
    Some(Config {
        version: version.unwrap_or(CONFIG_VERSION),
        project,
        vvp: target,
        state,
        env: None,
        environments: Vec::new(),
        alerts: super::alert::read_alerts(root),
    })
}

/// `region` is an Alibaba Cloud region id (`cn-hangzhou`, `ap-southeast-1`) unless an
/// `endpoint` says where VVP is; `workspace` and `namespace` are not empty.
fn check_target(vvp: &Section<'_, '_>) {
    if let (Some(region), Some(at)) = (vvp.string("region"), vvp.get("region")) {
        // `cn-hangzhou`, `ap-southeast-1`, `cn-shanghai-finance-1`.
        let parts: Vec<&str> = region.split('-').collect();
        let word = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let id = (2..=4).contains(&parts.len())
            && parts[0].len() == 2
            && parts[0].chars().all(|c| c.is_ascii_lowercase())
            && parts[1..].iter().all(|p| word(p));
        if !id && !vvp.has("endpoint") {
            vvp.report(
                at.error(format!("`region` `{region}` is not an Alibaba Cloud region id"))
                    .with_help("e.g. \"cn-hangzhou\" or \"ap-southeast-1\"; for another endpoint, set [vvp] endpoint"),
            );
        }
    }
    for key in ["workspace", "namespace"] {
        if let (Some(""), Some(at)) = (vvp.string(key).as_deref(), vvp.get(key)) {
            vvp.report(
                at.error(format!("`{key}` in [vvp] is empty")).with_help(format!("the VVP {key} deployments go to")),
            );
        }
    }
}

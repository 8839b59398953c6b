//! Reading the spec's sections into the typed model: each pipeline file's `[source]`,
//! `[schema]`, `[sink]` and `[deployment]` (flinkform.toml's own keys: `spec/config.rs`).

use super::model::Vvr;
use super::options::{self, Connector};
use super::walk::Section;
use super::{
    ColumnSpec, Conversion, Credential, DeploymentSpec, EventTime, OnFailure, Pipeline, Resources, SampleSpec,
    SaslMechanism, SchemaSpec, SecretRef, Security, SecurityProtocol, Settings, Sink, SourceFormat, SourceSpec,
    TEMPLATE_NAMES, TableConnector, Upgrade, settings, transform,
};
use crate::diag::{Diagnostic, Source};
use crate::infer::{InferConfig, TsStandard};
use crate::types::FlinkType;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

impl Section<'_, '_> {
    /// `[defaults]` holds the same sections as a pipeline (bar `[pipeline]`); its keys
    /// are checked by each pipeline's walk, so only its section names are checked here.
    pub(super) fn finish_defaults(&self) {
        for s in ["source", "schema", "transform", "sink", "deployment", "template"] {
            self.section(s);
        }
        self.finish();
    }

    /// A secret reference: `{ secret = "name", env = "VAR" }`. A plain string is an
    /// error that says how to reference the secret instead.
    pub(super) fn secret(&self, key: &'static str) -> Option<SecretRef> {
        let f = self.get(key)?;
        if f.value.get_ref().as_str().is_some() {
            self.report(
                f.secret_error(format!("`{key}` in {} is a literal secret; secrets must be references", self.path()))
                    .with_help(format!(
                        "write `{key} = {{ secret = \"NAME\" }}` and create the variable NAME in the VVP namespace \
                         (add `env = \"VAR\"` to read it from an environment variable locally)"
                    )),
            );
            return None;
        }
        self.secret_table(key)
    }

    fn secret_table(&self, key: &'static str) -> Option<SecretRef> {
        let t = self.section(key);
        let name = t.required_string("secret");
        let env = t.string("env");
        t.finish();
        let name = name?;
        if !SecretRef::valid_name(&name) {
            self.report(
                self.get(key)?.error(format!("secret name `{name}` may only hold letters, digits, `_` and `-`")),
            );
            return None;
        }
        Some(SecretRef { name, env })
    }

    /// A plain string or a secret reference.
    pub(super) fn credential(&self, key: &'static str) -> Option<Credential> {
        let f = self.get(key)?;
        match f.value.get_ref().as_str() {
            Some(s) => Some(Credential::Literal(s.to_string())),
            None => self.secret_table(key).map(Credential::Secret),
        }
    }
}

/// What a pipeline name must be, as errors say it.
pub const PIPELINE_NAME_RULE: &str = "must start with a letter and hold only letters, digits, `_` and `-` (at most 64)";

/// Whether `name` can name a pipeline (and so a deployment, a state key, a label value).
pub fn pipeline_name_valid(name: &str) -> bool {
    name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
}

pub(super) fn read_pipeline(top: &Section<'_, '_>, defaults: &Section<'_, '_>, src: &Source) -> Option<Pipeline> {
    top.ctx().take_locations();
    let settings = Settings::default();
    let layered = |name: &'static str| {
        let mine = top.section(name);
        let d = defaults.section(name);
        let mut layers = mine.into_layers();
        layers.extend(d.into_layers());
        Section::new(format!("[{name}]"), layers, top.ctx())
    };
    let p = top.section("pipeline");
    let name = p.required_string("name");
    let protect = p.bool("protect").unwrap_or(false);
    let tags = p.string_list("tags").unwrap_or_default();
    if let Some(bad) =
        tags.iter().find(|t| t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)))
        && let Some(at) = p.get("tags")
    {
        p.report(
            at.error(format!("tag `{bad}` must be letters, digits, `_`, `-` or `.` (it is selected as `tag:{bad}`)")),
        );
    }
    p.finish();
    if let Some(n) = name.as_deref().filter(|n| !pipeline_name_valid(n)) {
        top.report(top.section("pipeline").get("name")?.error(format!("pipeline name `{n}` {PIPELINE_NAME_RULE}")));
    }

    // The engine decides which connector options exist; `read_deployment` reports a bad one.
    let vvr = layered("deployment").get("engine_version").and_then(|f| f.value.get_ref().as_str().and_then(parse_vvr));
    let source = read_source(&layered("source"), name.as_deref().unwrap_or_default(), vvr, &settings);
    let schema = read_schema(&layered("schema"), &settings);
    let sinks = super::sink::read_sinks(top, defaults, vvr, &settings);
    let transform = transform::read_transform(&layered("transform"), &settings);
    // Lookups read their dimension tables through the first table sink's connector.
    let connector = sinks.iter().flatten().find_map(Sink::table).map_or(TableConnector::Hologres, |t| t.connector);
    let lookups = transform::read_lookups(top, connector, &settings);
    let deployment = read_deployment(&layered("deployment"), &settings);
    let tpl = layered("template");
    let mut templates = BTreeMap::new();
    for t in TEMPLATE_NAMES {
        if let Some(path) = tpl.string(t) {
            templates.insert(t.to_string(), path);
        }
    }
    tpl.finish();
    let locations = top.ctx().take_locations();
    for (k, v) in &templates {
        settings.set(format!("template.{}", settings::key(k)), v);
    }
    let settings = settings.into_map();
    Some(Pipeline {
        name: name?,
        file: src.name.to_string(),
        protect,
        tags,
        source: source?,
        schema: schema?,
        sinks: sinks?,
        transform,
        lookups,
        deployment: deployment?,
        templates,
        locations,
        settings,
    })
}

/// `format`, and Canal's table filter (`database`, `table`), checked against the format
/// and against `[source.options]` of other formats.
fn read_format(
    s: &Section<'_, '_>,
    options: &BTreeMap<String, Credential>,
) -> (SourceFormat, Option<String>, Option<String>) {
    let format = s.spelled("format", SourceFormat::ALL).unwrap_or_default();
    let database = s.string("database");
    let table = s.string("table");
    for (key, v) in [("database", &database), ("table", &table)] {
        let (Some(v), Some(f)) = (v, s.get(key)) else { continue };
        let why = if format != SourceFormat::Canal {
            format!(
                "`{key}` filters the events of a canal-json topic that carries several tables; format `{}` has no such filter",
                format.name()
            )
        } else if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            format!("`{key}` must be a MySQL name (letters, digits, `_`, `$`), matched exactly: {v:?}")
        } else {
            continue;
        };
        s.report(f.error(why));
    }
    for key in options.keys() {
        let other = SourceFormat::ALL.iter().find(|(n, f)| *f != format && key.starts_with(&format!("{n}.")));
        if let Some((n, _)) = other {
            s.report(s.error_here(format!(
                "[source.options] `{key}` is an option of format `{n}`, but the source's format is `{}`",
                format.name()
            )));
        }
    }
    (format, database, table)
}

fn read_source(s: &Section<'_, '_>, name: &str, vvr: Option<Vvr>, settings: &Settings) -> Option<SourceSpec> {
    let topic = s.required_string("topic");
    let bootstrap_servers = s.required_string("bootstrap_servers");
    let sample_bootstrap_servers = s.string("sample_bootstrap_servers");
    let group_id = s.string("group_id").unwrap_or_else(|| format!("flinkform_{name}"));
    let startup_mode = s
        .choice("startup_mode", &["group-offsets", "earliest-offset", "latest-offset", "timestamp", "specific-offsets"])
        .unwrap_or("group-offsets");
    let options = options::read(s, Connector::Kafka, vvr);
    options::check_startup(s, startup_mode, &options);
    let offset_reset = s.choice("offset_reset", &["earliest", "latest"]).unwrap_or("earliest");
    // PLAINTEXT is no security: no value.
    let protocols: Vec<(&str, Option<SecurityProtocol>)> =
        std::iter::once(("PLAINTEXT", None)).chain(SecurityProtocol::ALL.iter().map(|(n, p)| (*n, Some(*p)))).collect();
    let protocol = s.spelled("security_protocol", &protocols).flatten();
    let mechanism = s.spelled("sasl_mechanism", SaslMechanism::ALL);
    let username = s.credential("username");
    let password = s.secret("password");
    let security = protocol.map(|protocol| Security {
        protocol,
        mechanism: mechanism.or(protocol.sasl().then_some(SaslMechanism::Plain)),
        username: username.clone(),
        password: password.clone(),
    });
    if let Some(sec) = &security
        && sec.protocol.sasl()
        && (sec.username.is_none() || sec.password.is_none())
    {
        s.report(s.error_here(format!(
            "security_protocol {} needs `username` and `password` in [source]",
            sec.protocol.name()
        )));
    }
    let (format, database, table) = read_format(s, &options);
    let sm = s.section("sample");
    let sample = SampleSpec {
        file: sm.string("file"),
        messages: sm.uint("messages").unwrap_or(1000),
        max_bytes: sm.uint("max_bytes").unwrap_or(1 << 20),
        timeout: sm.duration("timeout").unwrap_or(Duration::from_secs(10)),
    };
    if sample.messages == 0 {
        sm.report(sm.get("messages")?.error("`messages` must be at least 1"));
    }
    sm.finish();
    s.finish();
    let spec = SourceSpec {
        topic: topic?,
        bootstrap_servers: bootstrap_servers?,
        sample_bootstrap_servers,
        group_id,
        startup_mode,
        offset_reset,
        security,
        format,
        database,
        table,
        sample,
        options,
    };
    settings.set("source.topic", &spec.topic);
    settings.set("source.bootstrap_servers", &spec.bootstrap_servers);
    settings.set("source.group_id", &spec.group_id);
    settings.set("source.startup_mode", spec.startup_mode);
    settings.set("source.offset_reset", spec.offset_reset);
    if let Some(sec) = &spec.security {
        settings.set("source.security.protocol", sec.protocol.name());
        settings.set("source.security.mechanism", sec.mechanism.map(SaslMechanism::name));
        settings.set("source.security.username", &sec.username);
        settings.set("source.security.password", &sec.password);
    }
    settings.set("source.format", spec.format.name());
    settings.set("source.database", &spec.database);
    settings.set("source.table", &spec.table);
    options::note(settings, "source", &spec.options);
    Some(spec)
}

fn read_schema(s: &Section<'_, '_>, settings: &Settings) -> Option<SchemaSpec> {
    let primary_key = s.string_list("primary_key").unwrap_or_default();
    let flatten = s.bool("flatten").unwrap_or(false);
    let d = InferConfig::default();
    let max_depth = s.uint("max_depth").map_or(d.max_depth, |v| v as usize);
    let map_max_keys = s.uint("map_max_keys").map_or(d.map_max_keys, |v| v as usize);
    let map_min_presence = s.number("map_min_presence").unwrap_or(d.map_min_presence);
    let timestamp_standard = s.choice("timestamp_standard", &["SQL", "ISO-8601"]).map(|v| match v {
        "SQL" => TsStandard::Sql,
        _ => TsStandard::Iso,
    });
    let mut columns = Vec::new();
    let mut ok = true;
    for (name, c) in s.entries("columns") {
        let ty = c.get("type").and_then(|f| match f.value.get_ref().as_str().map(FlinkType::parse) {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => {
                c.report(f.error(format!("invalid type for column `{name}`: {e}")));
                ok = false;
                None
            }
            None => {
                c.report(f.error(format!("`type` of column `{name}` must be a string such as \"BIGINT\"")));
                ok = false;
                None
            }
        });
        let from = match (c.choice("from", &["epoch_millis", "epoch_seconds"]), c.string("expr")) {
            (Some(_), Some(_)) => {
                c.report(c.error_here(format!("column `{name}`: give either `from` or `expr`, not both")));
                None
            }
            (Some("epoch_millis"), None) => Some(Conversion::EpochMillis),
            (Some(_), None) => Some(Conversion::EpochSeconds),
            (None, Some(e)) => Some(Conversion::Expr(e)),
            (None, None) => None,
        };
        if from.is_some() && ty.is_none() {
            c.report(
                c.error_here(format!("column `{name}`: a converted column needs `type` (e.g. \"TIMESTAMP_LTZ(3)\")")),
            );
        }
        let spec = ColumnSpec {
            name: name.clone(),
            ty,
            from,
            rename: c.string("rename"),
            exclude: c.bool("exclude").unwrap_or(false),
        };
        c.finish();
        let key = |k: &str| format!("schema.columns.{}.{k}", settings::key(&name));
        settings.set(key("type"), spec.ty.as_ref().map(ToString::to_string));
        match &spec.from {
            Some(Conversion::EpochMillis) => settings.set(key("from"), "epoch_millis"),
            Some(Conversion::EpochSeconds) => settings.set(key("from"), "epoch_seconds"),
            Some(Conversion::Expr(e)) => settings.set(key("expr"), e),
            None => {}
        }
        settings.set(key("rename"), &spec.rename);
        settings.set(key("exclude"), spec.exclude.then_some(true));
        columns.push(spec);
    }
    let et = s.section("event_time");
    let event_time = if s.has("event_time") {
        let column = et.required_string("column");
        let delay = et.duration("watermark_delay").unwrap_or(Duration::ZERO);
        if delay.subsec_nanos() != 0 {
            et.report(et.get("watermark_delay")?.error("`watermark_delay` must be whole seconds"));
        }
        column.map(|column| EventTime { column, delay_secs: delay.as_secs() })
    } else {
        None
    };
    et.finish();
    s.finish();
    let spec = SchemaSpec {
        primary_key,
        columns,
        event_time,
        flatten,
        infer: InferConfig { max_depth, map_max_keys, map_min_presence },
        timestamp_standard,
    };
    settings.set("schema.primary_key", &spec.primary_key);
    if let Some(et) = &spec.event_time {
        settings.set("schema.event_time.column", &et.column);
        settings.set("schema.event_time.watermark_delay", Duration::from_secs(et.delay_secs));
    }
    settings.set("schema.flatten", spec.flatten);
    settings.set("schema.max_depth", spec.infer.max_depth);
    settings.set("schema.map_max_keys", spec.infer.map_max_keys);
    settings.set("schema.map_min_presence", spec.infer.map_min_presence);
    settings.set("schema.timestamp_standard", spec.timestamp_standard);
    ok.then_some(spec)
}

fn read_deployment(s: &Section<'_, '_>, settings: &Settings) -> Option<DeploymentSpec> {
    let engine_version = s.required_string("engine_version");
    let parallelism = s.uint("parallelism").unwrap_or(1);
    if parallelism == 0 {
        s.report(s.get("parallelism")?.error("`parallelism` must be at least 1"));
    }
    let upgrade = match s.choice("upgrade", &["stateful", "stateless"]) {
        Some("stateless") => Upgrade::Stateless,
        _ => Upgrade::Stateful,
    };
    let resource_queue = s.string("resource_queue").unwrap_or_else(|| "default-queue".into());
    let jobmanager = read_resources(s, "jobmanager");
    let taskmanager = read_resources(s, "taskmanager");
    let flink_conf = read_flink_conf(s);
    let verify = s.duration("verify").filter(|d| !d.is_zero());
    let on_failure = match s.choice("on_failure", &["fail", "rollback"]) {
        Some("rollback") => OnFailure::Rollback,
        _ => OnFailure::Fail,
    };
    let vvr = engine_version.as_deref().and_then(|v| {
        let version = parse_vvr(v);
        let wrong = match version {
            None => Some(format!("engine_version `{v}` is not a VVR version")),
            Some((major, ..)) => engine_mismatch(v, major),
        };
        if let Some(why) = wrong {
            s.report(s.get("engine_version")?.error(why).with_help(
                "write it as VVP lists it, e.g. \"vvr-8.0.11-flink-1.17\" or \"vvr-11.1-jdk11-flink-1.20\"",
            ));
            return None;
        }
        version
    });
    s.finish();
    let spec = DeploymentSpec {
        engine_version: engine_version?,
        vvr: vvr?,
        parallelism,
        upgrade,
        resource_queue,
        jobmanager,
        taskmanager,
        flink_conf,
        verify,
        on_failure,
    };
    settings.set("deployment.engine_version", &spec.engine_version);
    settings.set("deployment.parallelism", spec.parallelism);
    settings.set("deployment.upgrade", spec.upgrade);
    settings.set("deployment.resource_queue", &spec.resource_queue);
    for (k, r) in [("jobmanager", &spec.jobmanager), ("taskmanager", &spec.taskmanager)] {
        if let Some(r) = r {
            settings.set(format!("deployment.{k}.cpu"), r.cpu);
            settings.set(format!("deployment.{k}.memory"), &r.memory);
        }
    }
    settings.set("deployment.verify", spec.verify);
    settings.set("deployment.on_failure", spec.on_failure);
    for (k, v) in &spec.flink_conf {
        settings.set(format!("deployment.flink_conf.{}", settings::key(k)), v);
    }
    Some(spec)
}

/// `[deployment.jobmanager]` or `[deployment.taskmanager]`: both `cpu` and `memory`.
fn read_resources(s: &Section<'_, '_>, key: &'static str) -> Option<Resources> {
    let r = s.section(key);
    let out = if s.has(key) {
        let cpu = r.number("cpu");
        let memory = r.string("memory");
        if cpu.is_none() || memory.is_none() {
            r.report(r.error_here(format!("`{key}` needs both `cpu` (cores) and `memory` (e.g. \"4Gi\")")));
        }
        cpu.zip(memory).map(|(cpu, memory)| Resources { cpu, memory })
    } else {
        None
    };
    r.finish();
    out
}

/// `[deployment] flink_conf`, refusing literal passwords and secrets.
fn read_flink_conf(s: &Section<'_, '_>) -> BTreeMap<String, String> {
    let flink_conf: BTreeMap<String, String> = s.string_map("flink_conf").unwrap_or_default().into_iter().collect();
    for (k, v) in &flink_conf {
        if crate::diag::looks_like_credential(k, v)
            && !v.contains("${secret_values.")
            && let Some(at) = s.get("flink_conf")
        {
            s.report(
                at.secret_error(format!("flink_conf `{k}` holds a literal secret"))
                    .with_help("use `${secret_values.NAME}` and create the variable NAME in the VVP namespace"),
            );
        }
    }
    flink_conf
}

/// The Apache Flink release each VVR major version runs (Realtime Compute's engine
/// version notes): what an `engine_version` names after `-flink-`.
const VVR_FLINK: &[(u32, &str)] = &[(4, "1.13"), (6, "1.15"), (8, "1.17"), (11, "1.20")];

/// Why `engine` (VVR `major`) names no engine VVP runs: an unknown VVR major, or a Flink
/// release that major does not run.
fn engine_mismatch(engine: &str, major: u32) -> Option<String> {
    let flink = engine.rsplit_once("-flink-").map(|(_, f)| f);
    match VVR_FLINK.iter().find(|(m, _)| *m == major) {
        None => Some(format!(
            "engine_version `{engine}`: VVR {major} is no engine flinkform knows ({})",
            VVR_FLINK.iter().map(|(m, f)| format!("VVR {m} runs Flink {f}")).collect::<Vec<_>>().join(", ")
        )),
        Some((_, f)) if flink != Some(*f) => Some(format!(
            "engine_version `{engine}` names Flink {}, but VVR {major} runs Flink {f}",
            flink.unwrap_or("(none)")
        )),
        Some(_) => None,
    }
}

/// `vvr-8.0.11-flink-1.17` → (8, 0, 11); `vvr-11.1-jdk11-flink-1.20` → (11, 1, 0).
pub fn parse_vvr(v: &str) -> Option<(u32, u32, u32)> {
    let nums = v.strip_prefix("vvr-")?.split('-').next()?;
    let mut it = nums.split('.').map(str::parse::<u32>);
    let major = it.next()?.ok()?;
    let minor = it.next().unwrap_or(Ok(0)).ok()?;
    let patch = it.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

pub(super) fn check_unique_names(pipelines: &[Pipeline], diags: &RefCell<Vec<Diagnostic>>) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for p in pipelines {
        if let Some(first) = seen.insert(&p.name, &p.file) {
            diags.borrow_mut().push(
                Diagnostic::error(format!("pipeline name `{}` is used by both {first} and {}", p.name, p.file))
                    .with_help("pipeline names are VVP deployment names and must be unique"),
            );
        }
    }
}

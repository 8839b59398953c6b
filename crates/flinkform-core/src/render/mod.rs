//! Rendering: a pipeline's spec and resolved schema become Flink SQL, Hologres DDL and
//! a deployment config through minijinja templates. Pure: the templates are passed in
//! as text (built-ins compiled into the binary, overrides read by the caller). Output
//! is byte-stable: options sorted, no timestamps, no ids.

use std::collections::BTreeMap;

use minijinja::value::{Serde, ValueKind, merge_maps};
use minijinja::{Environment, UndefinedBehavior, Value, context};
use serde_json::json;

use crate::schema::Schema;
use crate::spec::{Credential, DeploymentSpec, Pipeline, SaslMechanism, SecretRef};
use crate::state::DeployParams;
use crate::types::{quote_ident, quote_pg_ident};

/// Template kinds and the file name of each built-in.
pub const KINDS: &[(&str, &str)] = &[
    ("source", "source.sql.j2"),
    ("lookup", "lookup.sql.j2"),
    ("sink", "sink.sql.j2"),
    ("view", "view.sql.j2"),
    ("insert", "insert.sql.j2"),
    ("ddl", "ddl.sql.j2"),
    ("deployment", "deployment.yaml.j2"),
];

/// The built-in templates, compiled into the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    ("source.sql.j2", include_str!("../../templates/source.sql.j2")),
    ("lookup.sql.j2", include_str!("../../templates/lookup.sql.j2")),
    ("sink.sql.j2", include_str!("../../templates/sink.sql.j2")),
    ("view.sql.j2", include_str!("../../templates/view.sql.j2")),
    ("insert.sql.j2", include_str!("../../templates/insert.sql.j2")),
    ("ddl.sql.j2", include_str!("../../templates/ddl.sql.j2")),
    ("deployment.yaml.j2", include_str!("../../templates/deployment.yaml.j2")),
];

/// Whether a recorded template (`name@digest`, as [`Rendered::templates`] names it) is a
/// built-in one as this flinkform has it.
pub fn is_builtin(used: &str) -> bool {
    let Some((name, digest)) = used.rsplit_once('@') else { return false };
    BUILTIN.iter().any(|(n, text)| *n == name && crate::spec::digest(&[text.as_bytes()])[..12] == *digest)
}

/// What rendering a pipeline produces.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// The Flink SQL job: source table, dimension tables, sink tables, views, INSERTs.
    pub sql: String,
    /// Each sink's Hologres DDL, in spec order (empty for a Kafka topic).
    pub ddls: Vec<String>,
    /// The deployment configuration, as displayed: rendered from [`Rendered::deploy`].
    pub deployment: String,
    /// The deployment settings: the one value the plan displays, the drift check
    /// compares with VVP and apply sends.
    pub deploy: DeployParams,
    /// Template kind → `name@digest` of the template used.
    pub templates: BTreeMap<String, String>,
}

/// A set of compiled templates: built-ins, overridden by file name, plus any extra
/// named templates that pipelines select in `[template]`.
pub struct Renderer {
    env: Environment<'static>,
    digests: BTreeMap<String, String>,
}

impl Renderer {
    /// Compiles the built-ins with `overrides` (template name → text) on top.
    /// A template error names the template and line.
    pub fn new(overrides: impl IntoIterator<Item = (String, String)>) -> Result<Renderer, TemplateError> {
        let mut texts: BTreeMap<String, String> = BUILTIN.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        texts.extend(overrides);
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_filter("ident", |s: String| quote_ident(&s));
        env.add_filter("pgident", |s: String| quote_pg_ident(&s));
        env.add_filter("literal", literal_filter);
        env.add_filter("secret", |v: Value| secret_literal(&secret_name(&v).unwrap_or_default()));
        let mut digests = BTreeMap::new();
        for (name, text) in texts {
            digests.insert(name.clone(), crate::spec::digest(&[text.as_bytes()])[..12].to_string());
            env.add_template_owned(name.clone(), text).map_err(|e| template_error(&name, e))?;
        }
        Ok(Renderer { env, digests })
    }

    /// Renders one pipeline.
    pub fn render(&self, p: &Pipeline, schema: &Schema) -> Result<Rendered, TemplateError> {
        let deploy = deploy_params(&p.deployment);
        let r = relations(p, schema);
        let common = context(p, schema, &deploy, &r);
        // Converted to template values once; each sink's and each lookup's variables
        // are layered over them without copying.
        let lookups: Vec<Value> =
            common["lookups"].as_array().into_iter().flatten().map(|l| Value::from(Serde(l))).collect();
        let common = Value::from(Serde(&common));
        // Each sink's variables over the pipeline's (`sink`, `insert`, and `ddl` for a
        // Hologres table); the first sink's are the pipeline's own.
        let sinks: Vec<Value> = (0..schema.sinks.len())
            .map(|i| merge_maps([common.clone(), Value::from(Serde(sink_context(p, schema, i, &r)))]))
            .collect();
        let vars = sinks.first().cloned().unwrap_or(common);
        let mut out: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut used = BTreeMap::new();
        for (kind, builtin) in KINDS {
            let name = p.templates.get(*kind).map_or(*builtin, String::as_str);
            let tpl = self.env.get_template(name).map_err(|e| template_error(name, e))?;
            let each: Vec<Value> = match *kind {
                // `lookup` renders once per dimension table, with `lookup` set to it.
                "lookup" => lookups.iter().map(|l| merge_maps([vars.clone(), context! { lookup => l }])).collect(),
                "sink" | "insert" | "ddl" => sinks.clone(),
                _ => vec![vars.clone()],
            };
            let mut texts = Vec::new();
            for v in each {
                // A Kafka sink has no DDL: its `ddl` text is empty.
                if *kind == "ddl" && v.get_attr("ddl").map_or(true, |d| d.is_undefined()) {
                    texts.push(String::new());
                    continue;
                }
                let t = tpl.render(v).map_err(|e| template_error(name, e))?;
                let t = t.trim();
                texts.push(if t.is_empty() { String::new() } else { t.to_string() + "\n" });
            }
            out.insert(*kind, texts);
            used.insert(kind.to_string(), format!("{name}@{}", self.digests.get(name).map_or("", String::as_str)));
        }
        let joined = |k: &str| out[k].iter().filter(|t| !t.is_empty()).cloned().collect::<Vec<_>>().join("\n");
        // Several sinks are one job: their inserts run as one statement set (VVP's
        // `BEGIN STATEMENT SET; ... END;`), reading the source once.
        let inserts = match out["insert"].len() {
            1 => joined("insert"),
            _ => format!("BEGIN STATEMENT SET;\n\n{}\nEND;\n", joined("insert")),
        };
        let parts: Vec<String> = [joined("source"), joined("lookup"), joined("sink"), joined("view"), inserts]
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect();
        let deployment = out.get("deployment").and_then(|t| t.first().cloned()).unwrap_or_default();
        Ok(Rendered {
            sql: format!("-- flinkform pipeline {}: generated, do not edit by hand\n{}", p.name, parts.join("\n")),
            ddls: out.remove("ddl").unwrap_or_default(),
            deployment,
            deploy,
            templates: used,
        })
    }
}

/// A template that does not compile or render: its name, with minijinja's error (kind,
/// line and detail) as the source.
#[derive(Debug, thiserror::Error)]
#[error("template {name}{}: {}{}", .source.line().map(|l| format!(":{l}")).unwrap_or_default(), .source.kind(), .source.detail().map(|d| format!(": {d}")).unwrap_or_default())]
pub struct TemplateError {
    /// The template.
    pub name: String,
    /// What minijinja said.
    #[source]
    pub source: minijinja::Error,
}

fn template_error(name: &str, e: minijinja::Error) -> TemplateError {
    TemplateError { name: name.to_string(), source: e }
}

fn secret_name(v: &Value) -> Option<String> {
    match v.kind() {
        ValueKind::String => v.as_str().map(str::to_string),
        ValueKind::Map => v.get_attr("secret").ok().and_then(|s| s.as_str().map(str::to_string)),
        _ => None,
    }
}

fn secret_literal(name: &str) -> String {
    format!("'${{secret_values.{name}}}'")
}

/// A string as a SQL literal; a `{secret: NAME}` object as a secret reference literal.
fn literal_filter(v: Value) -> String {
    if v.kind() == ValueKind::Map
        && let Some(n) = secret_name(&v)
    {
        return secret_literal(&n);
    }
    let s = v.as_str().map_or_else(|| v.to_string(), str::to_string);
    format!("'{}'", s.replace('\'', "''"))
}

/// `${secret_values.NAME}` inside a larger string (e.g. a JAAS config).
fn secret_text(s: &SecretRef) -> String {
    format!("${{secret_values.{}}}", s.name)
}

fn option_value(c: &Credential) -> serde_json::Value {
    match c {
        Credential::Literal(s) => json!(s),
        Credential::Secret(s) => json!({ "secret": s.name }),
    }
}

fn credential_text(c: &Credential) -> String {
    match c {
        Credential::Literal(s) => s.clone(),
        Credential::Secret(s) => secret_text(s),
    }
}

fn options<K: AsRef<str>>(map: BTreeMap<K, serde_json::Value>) -> Vec<serde_json::Value> {
    map.into_iter().map(|(k, v)| json!({ "key": k.as_ref(), "value": v })).collect()
}

/// The template context: everything a template may use, in a documented shape.
/// The Kafka source table's connector options.
fn source_options(p: &Pipeline, s: &Schema) -> BTreeMap<String, serde_json::Value> {
    let src = &p.source;
    let mut so: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
    so.insert("connector", json!("kafka"));
    so.insert("topic", json!(src.topic));
    so.insert("properties.bootstrap.servers", json!(src.bootstrap_servers));
    so.insert("properties.group.id", json!(src.group_id));
    so.insert("scan.startup.mode", json!(src.startup_mode));
    if src.startup_mode == "group-offsets" {
        so.insert("properties.auto.offset.reset", json!(src.offset_reset));
    }
    let format = src.format.name();
    so.insert("format", json!(format));
    if src.format == crate::spec::SourceFormat::Json {
        so.insert("json.fail-on-missing-field", json!("false"));
    }
    // Options are named by the format (`canal-json.timestamp-format.standard`...).
    let of_format = |key: &str| format!("{format}.{key}");
    let mut own = BTreeMap::new();
    own.insert(of_format("ignore-parse-errors"), json!("false"));
    own.insert(of_format("timestamp-format.standard"), json!(s.standard.as_str()));
    if let Some(d) = &src.database {
        own.insert(of_format("database.include"), json!(d));
    }
    if let Some(t) = &src.table {
        own.insert(of_format("table.include"), json!(t));
    }
    if let Some(sec) = &src.security {
        so.insert("properties.security.protocol", json!(sec.protocol.name()));
        if let (Some(mech), Some(user), Some(pass)) = (sec.mechanism, &sec.username, &sec.password) {
            so.insert("properties.sasl.mechanism", json!(mech.name()));
            // VVR's Kafka connector relocates the Kafka client: its login modules live
            // under `org.apache.flink.kafka.shaded.` (the plain class names are not found).
            let module = if mech == SaslMechanism::Plain {
                "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.plain.PlainLoginModule"
            } else {
                "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule"
            };
            let jaas = format!(
                "{module} required username=\"{}\" password=\"{}\";",
                credential_text(user).replace('"', "\\\""),
                secret_text(pass)
            );
            so.insert("properties.sasl.jaas.config", json!(jaas));
        }
    }
    // The spec's own options (checked against VVR's list; they may override
    // `json.ignore-parse-errors` and `json.fail-on-missing-field`, never an owned one).
    let mut so: BTreeMap<String, serde_json::Value> = so.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    so.extend(own);
    so.extend(src.options.iter().map(|(k, v)| (k.clone(), option_value(v))));
    so
}

/// The relations between the source and the insert: the views and what the insert
/// reads, with the filter where it runs first.
struct Relations {
    view: serde_json::Value,
    from: String,
    insert_where: Option<String>,
}

fn relations(p: &Pipeline, s: &Schema) -> Relations {
    let st = &s.stages;
    let source = format!("{}_source", p.name);
    let joined = (!st.lookups.is_empty()).then(|| format!("{}_joined", p.name));
    let deduped = st.dedupe.as_ref().map(|_| format!("{}_deduped", p.name));
    // The filter runs before anything else: in the join's input, else in the
    // deduplication's, else in the insert.
    let f = st.filter.clone();
    let (join_where, dedupe_where, insert_where) = match (&joined, &deduped) {
        (Some(_), _) => (f, None, None),
        (None, Some(_)) => (None, f, None),
        (None, None) => (None, None, f),
    };
    let view = json!({
        "joined": joined.as_ref().map(|n| json!({ "name": n, "where": join_where, "proctime": st.proctime })),
        "deduped": st.dedupe.as_ref().map(|(key, order)| json!({
            "name": deduped,
            "from": joined.clone().unwrap_or_else(|| source.clone()),
            "key": key,
            "order_by": order,
            "where": dedupe_where,
        })),
    });
    let from = deduped.or(joined).unwrap_or(source);
    Relations { view, from, insert_where }
}

/// The dimension tables: their columns, the join and the connector options (the first
/// table sink's connector and connection, then the lookup's own options).
fn lookups(p: &Pipeline, s: &Schema) -> Vec<serde_json::Value> {
    // Resolution made sure there is one when there are lookups.
    let Some(sink) = p.table_sinks().next() else { return Vec::new() };
    s.stages
        .lookups
        .iter()
        .map(|l| {
            let mut o = sinks::connection(sink, &l.dimension);
            o.extend(l.options.iter().map(|(k, v)| (k.as_str(), json!(v))));
            json!({
                "table": l.table,
                "alias": l.alias,
                "dimension": l.dimension,
                "columns": l.columns.iter().map(|(n, t)| json!({ "name": n, "type": t.to_string() })).collect::<Vec<_>>(),
                "on": l.on.iter().map(|(left, c)| json!({ "left": left, "column": c })).collect::<Vec<_>>(),
                "select": l.select.iter().map(|(c, n)| json!({ "column": c, "name": n })).collect::<Vec<_>>(),
                "options": options(o),
            })
        })
        .collect()
}

/// The deployment settings a `[deployment]` table asks for.
pub fn deploy_params(d: &DeploymentSpec) -> DeployParams {
    DeployParams {
        engine_version: d.engine_version.clone(),
        parallelism: d.parallelism,
        resource_queue: d.resource_queue.clone(),
        upgrade: d.upgrade,
        jobmanager: d.jobmanager.as_ref().map(|r| (r.cpu, r.memory.clone())),
        taskmanager: d.taskmanager.as_ref().map(|r| (r.cpu, r.memory.clone())),
        flink_conf: d.flink_conf.clone(),
        verify_secs: d.verify.map(|d| d.as_secs().max(1)),
        on_failure: d.on_failure,
    }
}

mod sinks;

pub use sinks::{FIXED_PROPERTIES, table_properties};

/// The variables every template receives (docs/templates.md describes them): the
/// pipeline's, with its first sink's.
pub fn variables(p: &Pipeline, s: &Schema) -> serde_json::Value {
    let r = relations(p, s);
    let mut v = context(p, s, &deploy_params(&p.deployment), &r);
    if let (Some(obj), serde_json::Value::Object(own)) = (v.as_object_mut(), sink_context(p, s, 0, &r)) {
        obj.extend(own);
    }
    v
}

/// The pipeline's variables, without any sink's.
fn context(p: &Pipeline, s: &Schema, d: &DeployParams, r: &Relations) -> serde_json::Value {
    let so = source_options(p, s);
    let resources = |r: &Option<(f64, String)>| r.as_ref().map(|(cpu, memory)| json!({ "cpu": cpu, "memory": memory }));
    json!({
        "pipeline": { "name": p.name },
        "source": {
            "table": format!("{}_source", p.name),
            "columns": s.physical.iter().map(|c| json!({ "name": c.key, "type": c.ty.to_string() })).collect::<Vec<_>>(),
            "computed": s.computed.iter().map(|c| json!({ "name": c.name, "expr": c.expr })).collect::<Vec<_>>(),
            "watermark": s.watermark.as_ref().map(|(c, d)| json!({ "column": c, "delay_secs": d })),
            "primary_key": source_key(p, s),
            "options": options(so),
        },
        "lookups": lookups(p, s),
        "view": r.view.clone(),
        "deployment": {
            "engine_version": d.engine_version,
            "parallelism": d.parallelism,
            "upgrade": d.upgrade.name(),
            "resource_queue": d.resource_queue,
            "jobmanager": resources(&d.jobmanager),
            "taskmanager": resources(&d.taskmanager),
            "flink_conf": d.flink_conf.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect::<Vec<_>>(),
        },
    })
}

/// A change stream's key, declared on the source table: the primary key's physical
/// columns, or none when a key column is computed (Flink keys only physical columns).
/// Without it, Flink fills an update's old row from Canal's `old` array by column
/// name, which an event that changes several rows makes another row's; a
/// SinkMaterializer then re-emits the stale row at a later delete. With the key, the
/// upsert sink takes the new rows by key and drops the old ones (DropUpdateBefore).
fn source_key(p: &Pipeline, s: &Schema) -> Vec<String> {
    if !p.source.format.is_changelog() {
        return Vec::new();
    }
    let physical = |expr: &str| s.physical.iter().find(|c| quote_ident(&c.key) == expr).map(|c| c.key.clone());
    let key: Option<Vec<String>> = s
        .primary_key
        .iter()
        .map(|k| s.columns.iter().find(|c| &c.sink_name == k).and_then(|c| physical(&c.expr)))
        .collect();
    key.unwrap_or_default()
}

/// Sink `i`'s `sink`, `insert` and (for Hologres) `ddl`.
fn sink_context(p: &Pipeline, s: &Schema, i: usize, r: &Relations) -> serde_json::Value {
    sinks::context(p, i, &s.sinks[i], s.standard, &r.from, &r.insert_where)
}

//! The project on disk: reads `flinkform.toml`, the pipeline specs and template
//! overrides, samples every pipeline and runs the pure core (infer → resolve →
//! render) to get the desired pipelines. This is the IO edge of `plan`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flinkform_core::change;
use flinkform_core::diag::{Diagnostic, Source};
use flinkform_core::infer::{self, Shape};
use flinkform_core::plan::{Desired, SampleSummary};
use flinkform_core::render::Renderer;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sample::{FileSampler, KafkaSampler, Sample, Sampler};
use flinkform_core::schema::{self, Schema, SinkSchema};
use flinkform_core::spec::{self, Pipeline, Project, Sink, SourceSpec, StateConfig, Target, digest};
use flinkform_core::state::{ColumnRecord, KafkaRecord, PipelineState, SinkRecord, SinkState, State, StateStore};
use flinkform_core::types::Integers;
use flinkform_state::{Flavor, LocalStore, PgConfig, PgStore};

/// A loaded project.
pub struct Workspace {
    /// The project root.
    pub root: PathBuf,
    /// The specs.
    pub project: Project,
    /// Warnings from reading the specs.
    pub warnings: Vec<Diagnostic>,
    /// Digest of every spec file: name → digest.
    pub inputs: BTreeMap<String, String>,
    /// Whether a pipeline whose topic cannot be sampled is planned from its recorded
    /// schema (with a warning) instead of failing the plan (`plan --sample=recorded`).
    pub sample_fallback: bool,
}

/// Loading or planning failed with diagnostics (all of them, not just the first).
#[derive(Debug)]
pub struct Failed(pub Vec<Diagnostic>);

impl From<Diagnostic> for Failed {
    fn from(d: Diagnostic) -> Self {
        Failed(vec![d])
    }
}

fn read_source(root: &Path, rel: &str) -> Result<Source, Diagnostic> {
    let text =
        std::fs::read_to_string(root.join(rel)).map_err(|e| Diagnostic::error(format!("cannot read {rel}: {e}")))?;
    Ok(Source::new(rel, text))
}

/// A warning for each file in templates/ that replaces no built-in template and that no
/// pipeline picks in `[template]` (a typo in its name, most likely).
fn unused_templates(root: &Path, project: &Project) -> Vec<Diagnostic> {
    let Ok(entries) = std::fs::read_dir(root.join("templates")) else { return Vec::new() };
    let picked: std::collections::HashSet<&str> = project
        .pipelines
        .iter()
        .flat_map(|p| p.templates.values())
        .map(|v| v.strip_prefix("templates/").unwrap_or(v))
        .collect();
    let builtins: Vec<&str> = flinkform_core::render::BUILTIN.iter().map(|(b, _)| *b).collect();
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".j2"))
        .filter(|n| !builtins.contains(&n.as_str()) && !picked.contains(n.as_str()))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let d = Diagnostic::warning(format!(
                "templates/{n} replaces no built-in template and no pipeline picks it in [template]: it is not used"
            ));
            match flinkform_core::diag::suggest(&n, builtins.iter().copied()) {
                Some(near) => d.with_help(format!("did you mean `{near}`?")),
                None => d,
            }
        })
        .collect()
}

/// The pipeline specs under `root`: `pipelines/*.toml`, relative to `root`, sorted (none
/// when there is no `pipelines/`).
pub fn spec_files(root: &Path) -> Result<Vec<String>, Diagnostic> {
    let mut files = Vec::new();
    let dir = root.join("pipelines");
    if dir.is_dir() {
        let entries = std::fs::read_dir(&dir).map_err(|e| Diagnostic::error(format!("cannot list pipelines/: {e}")))?;
        for e in entries {
            let e = e.map_err(|e| Diagnostic::error(format!("cannot list pipelines/: {e}")))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".toml") {
                files.push(format!("pipelines/{name}"));
            }
        }
    }
    files.sort();
    Ok(files)
}

impl Workspace {
    /// Reads the project at `root`.
    pub fn load(root: &Path) -> Result<Workspace, Failed> {
        Workspace::load_env(root, None)
    }

    /// [`Workspace::load`] in environment `env` (`[environments.NAME]` overlaid).
    pub fn load_env(root: &Path, env: Option<&str>) -> Result<Workspace, Failed> {
        if !root.join("flinkform.toml").is_file() {
            let shown = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
            return Err(Diagnostic::error(format!("no flinkform.toml in {}", shown.display()))
                .with_help("run `flinkform init` to create a project, or point -C at one")
                .into());
        }
        let config = read_source(root, "flinkform.toml")?;
        let files = spec_files(root)?;
        let mut diags = Vec::new();
        let mut sources = Vec::new();
        for f in &files {
            match read_source(root, f) {
                Ok(s) => sources.push(s),
                Err(d) => diags.push(d),
            }
        }
        let (project, more) = spec::load(&config, &sources, env);
        diags.extend(more);
        let Some(project) = project.filter(|_| !diags.iter().any(Diagnostic::is_error)) else {
            return Err(Failed(diags));
        };
        let mut inputs = BTreeMap::new();
        for s in std::iter::once(&config).chain(&sources) {
            inputs.insert(s.name.to_string(), digest(&[s.text.as_bytes()]));
        }
        tracing::info!(pipelines = project.pipelines.len(), "project loaded");
        diags.extend(unused_templates(root, &project));
        Ok(Workspace { root: root.to_path_buf(), project, warnings: diags, inputs, sample_fallback: false })
    }

    /// The configured state store (the postgres backend connects and migrates).
    pub fn store(&self) -> Result<Box<dyn StateStore>, Failed> {
        self.open_store(&self.project.config.state)
    }

    /// The local or postgres store: as configured when that is the configured backend,
    /// with the defaults otherwise (for `state migrate`).
    pub fn store_of(&self, postgres: bool) -> Result<Box<dyn StateStore>, Failed> {
        let configured = &self.project.config.state;
        let cfg = match (postgres, configured) {
            (false, StateConfig::Local { .. }) | (true, StateConfig::Postgres { .. }) => configured.clone(),
            (false, _) => StateConfig::Local { path: ".flinkform/state.json".into() },
            (true, _) => StateConfig::Postgres {
                dsn_env: "FLINKFORM_STATE_DSN".into(),
                schema: "flinkform".into(),
                hologres: false,
                lease_ttl: std::time::Duration::from_secs(30),
            },
        };
        self.open_store(&cfg)
    }

    fn open_store(&self, cfg: &StateConfig) -> Result<Box<dyn StateStore>, Failed> {
        match cfg {
            StateConfig::Local { path } => Ok(Box::new(LocalStore::new(self.root.join(path), path.clone()))),
            StateConfig::Postgres { dsn_env, schema, hologres, lease_ttl } => {
                let dsn = std::env::var(dsn_env).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
                    Diagnostic::error(format!("the postgres state backend needs a connection string in {dsn_env}"))
                        .with_help("e.g. postgres://user@host:5432/db?sslmode=require (the password is never printed)")
                })?;
                let v = &self.project.config.vvp;
                let cfg = PgConfig {
                    dsn,
                    dsn_source: dsn_env.clone(),
                    schema: schema.clone(),
                    flavor: if *hologres { Flavor::Hologres } else { Flavor::Postgres },
                    state_key: format!("{}/{}", v.workspace, v.namespace),
                    lease_ttl: *lease_ttl,
                };
                Ok(Box::new(PgStore::open(cfg).map_err(|e| Diagnostic::error(flinkform_core::diag::chain(&e)))?))
            }
        }
    }

    /// The VVP endpoint, protocol, workspace and namespace: from flinkform.toml, with
    /// FLINKFORM_VVP_ENDPOINT and FLINKFORM_VVP_PROTOCOL overriding it.
    pub fn vvp_target(&self) -> Result<vvp_api::Target, Diagnostic> {
        let v = &self.project.config.vvp;
        let env = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        let endpoint = env("FLINKFORM_VVP_ENDPOINT")
            .or_else(|| v.endpoint.clone())
            .unwrap_or_else(|| format!("ververica.{}.aliyuncs.com", v.region));
        let protocol = env("FLINKFORM_VVP_PROTOCOL").or_else(|| v.protocol.clone()).unwrap_or_else(|| "https".into());
        if protocol != "https" && protocol != "http" {
            return Err(Diagnostic::error(format!("FLINKFORM_VVP_PROTOCOL is `{protocol}`; it must be https or http")));
        }
        Ok(vvp_api::Target {
            endpoint,
            protocol,
            workspace: v.workspace.clone(),
            namespace: v.namespace.clone(),
            project: self.project.config.project.clone(),
        })
    }

    /// The pipeline called `name`, or an error listing the closest one.
    pub fn pipeline(&self, name: &str) -> Result<&Pipeline, Failed> {
        self.project.pipelines.iter().find(|p| p.name == name).ok_or_else(|| {
            let mut d = Diagnostic::error(format!("no pipeline named `{name}`"));
            if let Some(near) =
                flinkform_core::diag::suggest(name, self.project.pipelines.iter().map(|p| p.name.as_str()))
            {
                d = d.with_help(format!("did you mean `{near}`?"));
            }
            Failed(vec![d])
        })
    }

    /// Compiles the templates: built-ins, the project's `templates/*.j2` by file name,
    /// and every file a pipeline names in `[template]`. Adds their digests to `inputs`.
    pub fn renderer(&self, inputs: &mut BTreeMap<String, String>) -> Result<Renderer, Failed> {
        let mut overrides = BTreeMap::new();
        let dir = self.root.join("templates");
        if dir.is_dir() {
            let entries =
                std::fs::read_dir(&dir).map_err(|e| Diagnostic::error(format!("cannot list templates/: {e}")))?;
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".j2") {
                    let s = read_source(&self.root, &format!("templates/{name}"))?;
                    overrides.insert(name, s.text.to_string());
                }
            }
        }
        for p in &self.project.pipelines {
            for path in p.templates.values() {
                if !overrides.contains_key(path) {
                    let s = read_source(&self.root, path)
                        .map_err(|d| d.with_help(format!("named in [template] of {}", p.file)))?;
                    overrides.insert(path.clone(), s.text.to_string());
                }
            }
        }
        for (name, text) in &overrides {
            inputs.insert(format!("templates/{name}"), digest(&[text.as_bytes()]));
        }
        Renderer::new(overrides).map_err(|e| Failed(vec![Diagnostic::error(e)]))
    }

    /// Samples a pipeline whose source is a sample file.
    pub fn sample_file(&self, p: &Pipeline) -> Result<Sample, Diagnostic> {
        let mut r = FileSampler { root: &self.root }.sample(&[&p.source]);
        r.pop().expect("one result per source").map_err(|e| sample_error(p, &e))
    }

    /// Samples the Kafka topics of `pipelines` in one batch (one connection per
    /// cluster); `progress(done, total)` is called while topics are read.
    pub fn sample_topics(&self, pipelines: &[&Pipeline], progress: Progress<'_>) -> Vec<Result<Sample, Diagnostic>> {
        if pipelines.is_empty() {
            return Vec::new();
        }
        let kafka = KafkaSampler::default();
        let sources: Vec<&SourceSpec> = pipelines.iter().map(|p| &p.source).collect();
        let finished = AtomicBool::new(false);
        let results = std::thread::scope(|s| {
            s.spawn(|| {
                while !finished.load(Ordering::Relaxed) {
                    progress(kafka.done.load(Ordering::Relaxed), sources.len());
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            });
            let r = kafka.sample(&sources);
            finished.store(true, Ordering::Relaxed);
            r
        });
        progress(sources.len(), sources.len());
        results.into_iter().zip(pipelines).map(|(r, p)| r.map_err(|e| sample_error(p, &e))).collect()
    }

    /// Samples and resolves one pipeline over its recorded state (`render`, `schema`,
    /// `sample --schema`, `import`).
    pub fn resolve_one(
        &self,
        p: &Pipeline,
        recorded: Option<&PipelineState>,
        progress: Progress<'_>,
    ) -> Result<Resolved, Failed> {
        let renderer = self.renderer(&mut BTreeMap::new())?;
        let sample = self.sample_one(p, progress)?;
        Ok(resolve(p, &sample, recorded, &renderer)?.0)
    }

    /// Samples one pipeline, from its file or its topic.
    pub fn sample_one(&self, p: &Pipeline, progress: Progress<'_>) -> Result<Sample, Diagnostic> {
        match p.source.sample.file {
            Some(_) => self.sample_file(p),
            None => self.sample_topics(&[p], progress).pop().expect("one result per pipeline"),
        }
    }
}

/// Why a pipeline's sample failed, with every cause.
fn sample_error(p: &Pipeline, e: &crate::sample::SampleError) -> Diagnostic {
    Diagnostic::error(format!("{}: {}", p.file, flinkform_core::diag::chain(e)))
}

/// A progress callback: `(done, total)` topics sampled.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// One pipeline, desired: what inference, resolution and rendering made of it.
pub struct Resolved {
    /// The resolved columns.
    pub schema: Schema,
    /// What plan compares and apply records.
    pub desired: Desired,
}

/// Runs the pure core for one pipeline over its sample and its recorded state.
pub fn resolve(
    p: &Pipeline,
    sample: &Sample,
    recorded: Option<&PipelineState>,
    renderer: &Renderer,
) -> Result<(Resolved, Vec<Diagnostic>), Failed> {
    let pinned = p.schema.columns.iter().any(|c| c.ty.is_some() && c.from.is_none() && !c.exclude);
    if sample.is_empty() && recorded.is_none() && !pinned {
        let skipped = match sample.skipped.total() {
            0 => "it holds no records".to_string(),
            _ => format!("all {} records were skipped ({})", sample.skipped.total(), sample.skipped.describe()),
        };
        return Err(Diagnostic::error(format!("{}: no usable JSON record in {}: {skipped}", p.file, sample.origin))
            .with_help("pin the schema in [schema] with `columns.NAME = { type = \"...\" }`, or give a sample file")
            .into());
    }
    let (today, changes) =
        infer_sample(p, sample).map_err(|e| Diagnostic::error(format!("{}: sample {}: {e}", p.file, sample.origin)))?;
    let mut merged = recorded.map_or_else(Shape::default, |r| r.shape.clone());
    merged.join(&today);
    // Below the root only: the root's keys are the table's columns.
    if let Some(o) = &mut merged.object {
        o.fields.values_mut().for_each(|f| f.cap_maps(&p.schema.infer));
    }
    let recorded_std =
        recorded.filter(|r| r.columns.iter().any(|c| c.ty.contains("TIMESTAMP"))).map(|r| r.timestamp_standard);
    let standard = p.schema.timestamp_standard.or(recorded_std).unwrap_or_else(|| merged.choose_standard());
    let integers = recorded.map_or(Integers::BigInt, |r| r.integers);
    let dims = dimensions(p)?;
    let (schema, diags) = schema::resolve(p, &merged, standard, integers, &dims);
    let Some(schema) = schema else {
        return Err(Failed(diags));
    };
    let rendered = renderer.render(p, &schema).map_err(|e| Diagnostic::error(format!("{}: {e}", p.file)))?;
    let settings_text: String = p.settings.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let mut sinks = p.sinks.iter().zip(&schema.sinks).zip(rendered.ddls).map(|((s, ss), ddl)| sink_state(s, ss, ddl));
    let first = sinks.next().expect("a pipeline has a sink");
    let record = PipelineState {
        file: p.file.clone(),
        spec_digest: digest(&[settings_text.as_bytes()]),
        settings: p.settings.clone(),
        topic: p.source.topic.clone(),
        sink_table: first.sink.label(),
        primary_key: first.primary_key,
        protect: p.protect,
        shape: merged.without_stats(),
        timestamp_standard: standard,
        integers,
        columns: first.columns,
        sql: rendered.sql,
        ddl: first.ddl,
        deployment: rendered.deployment,
        templates: rendered.templates,
        deploy: rendered.deploy,
        sink: first.sink,
        more_sinks: sinks.collect(),
        remote: Default::default(),
        status: flinkform_core::state::Status::Planned,
        pending: None,
        error: None,
        history: Vec::new(),
    };
    let warnings = diags.iter().filter(|d| !d.is_error()).map(|d| d.message.clone()).collect();
    let desired = Desired {
        name: p.name.clone(),
        record,
        sample: SampleSummary {
            origin: sample.origin.clone(),
            records: sample.len() as u64,
            skipped: sample.skipped.describe(),
            skipped_count: sample.skipped.total(),
            changes: changes.map(|c| {
                format!(
                    "{}; the sink upserts and deletes rows by the primary key ({})",
                    c.describe(p.source.format),
                    schema.primary_key.join(", ")
                )
            }),
        },
        warnings,
    };
    Ok((Resolved { schema, desired }, diags))
}

/// What the state records of a sink: its table (or topic), the columns it is written,
/// its key and its DDL.
fn sink_state(sink: &Sink, schema: &SinkSchema, ddl: String) -> SinkState {
    let record = match &sink.target {
        Target::Hologres(h) => SinkRecord {
            dialect: h.dialect,
            schema: h.schema.clone(),
            table: h.table.clone(),
            fixed: flinkform_core::render::table_properties(h, &schema.columns)
                .into_iter()
                .filter(|(k, _)| flinkform_core::render::FIXED_PROPERTIES.contains(k))
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            dsn_env: h.dsn_env.clone(),
            on_conflict: h.on_conflict,
            kafka: None,
        },
        Target::Kafka(k) => SinkRecord {
            dialect: flinkform_core::spec::Dialect::Hologres,
            schema: String::new(),
            table: k.topic.clone(),
            fixed: Default::default(),
            dsn_env: None,
            on_conflict: flinkform_core::spec::OnConflict::Update,
            kafka: Some(KafkaRecord { upsert: k.upsert }),
        },
    };
    SinkState {
        sink: record,
        columns: schema.columns.iter().map(column_record).collect(),
        primary_key: schema.primary_key.clone(),
        ddl,
    }
}

fn column_record(c: &flinkform_core::schema::Column) -> ColumnRecord {
    ColumnRecord {
        name: c.name.clone(),
        sink_name: c.sink_name.clone(),
        ty: c.ty.to_string(),
        hologres: c.holo.sql.clone(),
        nullable: c.nullable,
        evidence: (&c.evidence).into(),
    }
}

/// What the Kafka sinks' clusters say of their topics, for a pipeline sampled from
/// Kafka (a plan that reads files is offline): a missing topic is a warning, since the
/// job does not create it. The source's `sample_bootstrap_servers` stand for its own
/// cluster; a cluster that cannot be reached is not checked.
fn kafka_sink_topics(p: &Pipeline) -> Vec<String> {
    let src = &p.source;
    let mut out = Vec::new();
    for s in &p.sinks {
        let Target::Kafka(k) = &s.target else { continue };
        let servers = match &src.sample_bootstrap_servers {
            Some(here) if k.bootstrap_servers == src.bootstrap_servers => here.as_str(),
            _ => k.bootstrap_servers.as_str(),
        };
        match crate::sample::topic_partitions(servers, &k.topic, src.sample.timeout) {
            Ok(Some(n)) => tracing::debug!(topic = %k.topic, partitions = n, "sink topic exists"),
            Ok(None) => out.push(format!(
                "{}: the sink topic {} does not exist on {servers}: create it before the job starts (Flink's Kafka sink does not)",
                p.file, k.topic
            )),
            Err(e) => tracing::debug!(topic = %k.topic, error = %e, "sink topic not checked"),
        }
    }
    out
}

/// The dimension tables of a pipeline's lookups, read from the live database through
/// `[sink] dsn_env` where a column's type is not pinned and the variable is set.
fn dimensions(p: &Pipeline) -> Result<Vec<Option<schema::Dimension>>, Diagnostic> {
    let sink = p.hologres_sinks().next();
    let env = sink.and_then(|s| s.dsn_env.as_deref()).filter(|e| std::env::var(e).is_ok_and(|v| !v.is_empty()));
    p.lookups
        .iter()
        .map(|l| {
            let unpinned = l.on.iter().map(|(_, c)| c).chain(&l.columns).any(|c| !l.types.contains_key(c));
            let Some(env) = env.filter(|_| unpinned) else { return Ok(None) };
            match crate::sink::dimension(env, &l.schema, &l.table) {
                Ok(Some(d)) => Ok(Some(d)),
                Ok(None) => Err(Diagnostic::error(format!(
                    "{}: the dimension table {} of [[lookup]] does not exist in the database of {env}",
                    p.file,
                    l.qualified()
                ))),
                Err(e) => Err(Diagnostic::error(format!(
                    "{}: cannot read the dimension table {}: {}",
                    p.file,
                    l.qualified(),
                    flinkform_core::diag::chain(&e)
                ))),
            }
        })
        .collect()
}

/// The shape of a sample's rows: the records themselves, or a change stream's row
/// images with what its events declare (and what the events were).
fn infer_sample(p: &Pipeline, sample: &Sample) -> Result<(Shape, Option<change::Changes>), String> {
    let src = &p.source;
    if !src.format.is_changelog() {
        return Ok((infer::infer(sample.records(), &p.schema.infer)?, None));
    }
    let option_true = |key: String| matches!(src.options.get(&key), Some(flinkform_core::spec::Credential::Literal(v)) if v.eq_ignore_ascii_case("true"));
    let reading = change::Reading {
        format: src.format,
        database: src.database.as_deref(),
        table: src.table.as_deref(),
        ignore_errors: option_true(format!("{}.ignore-parse-errors", src.format.name())),
        schema_include: option_true("debezium-json.schema-include".into()),
    };
    let (shape, changes) = change::infer(reading, sample.records(), &p.schema.infer)?;
    Ok((shape, Some(changes)))
}

/// Samples and resolves every pipeline, collecting every diagnostic: Kafka topics
/// first (one batch), then files, inference and rendering in parallel.
/// Returns the desired pipelines and the digests of every input.
pub fn desired_all(
    ws: &Workspace,
    recorded: Option<&State>,
    progress: Progress<'_>,
) -> Result<(Vec<Desired>, BTreeMap<String, String>), Failed> {
    let mut inputs = ws.inputs.clone();
    let renderer = ws.renderer(&mut inputs)?;
    let pipelines = &ws.project.pipelines;
    let from_kafka: Vec<&Pipeline> = pipelines.iter().filter(|p| p.source.sample.file.is_none()).collect();
    let mut topic_samples = ws.sample_topics(&from_kafka, progress).into_iter();
    let mut work: Vec<(&Pipeline, Option<Result<Sample, Diagnostic>>)> = pipelines
        .iter()
        .map(|p| (p, if p.source.sample.file.is_none() { topic_samples.next() } else { None }))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(work.len().max(1));
    let chunk = work.len().div_ceil(threads).max(1);
    type One = Result<(Desired, String, String), Failed>;
    let results: Vec<One> = std::thread::scope(|s| {
        let handles: Vec<_> = work
            .chunks_mut(chunk)
            .map(|part| {
                let renderer = &renderer;
                s.spawn(move || {
                    part.iter_mut()
                        .map(|(p, pre)| {
                            let started = std::time::Instant::now();
                            let rec = recorded.and_then(|r| r.pipelines.get(&p.name));
                            let mut fell_back = None;
                            let sample = match pre.take() {
                                Some(Err(d)) if ws.sample_fallback && rec.is_some() => {
                                    fell_back = Some(d.message.clone());
                                    Sample::new("the recorded schema")
                                }
                                Some(r) => r?,
                                None => ws.sample_file(p)?,
                            };
                            tracing::debug!(
                                pipeline = %p.name,
                                records = sample.len(),
                                skipped = sample.skipped.total(),
                                elapsed = ?started.elapsed(),
                                "sampled"
                            );
                            let (mut r, _) = resolve(p, &sample, rec, renderer)?;
                            if p.source.sample.file.is_none() {
                                r.desired.warnings.extend(kafka_sink_topics(p));
                            }
                            if let Some(why) = fell_back {
                                r.desired.warnings.push(format!(
                                    "{why}: planned from the recorded schema instead (--sample=recorded); columns new in the topic are not seen"
                                ));
                            }
                            Ok((r.desired, sample.origin.clone(), sample.digest.clone()))
                        })
                        .collect::<Vec<One>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a planning thread panicked")).collect()
    });
    let mut desired = Vec::new();
    let mut diags = Vec::new();
    for r in results {
        match r {
            Ok((d, origin, dig)) => {
                inputs.insert(origin, dig);
                desired.push(d);
            }
            Err(Failed(ds)) => diags.extend(ds),
        }
    }
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Failed(diags));
    }
    Ok((desired, inputs))
}

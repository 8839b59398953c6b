//! The project on disk: reads `flinkform.toml`, the pipeline specs and template
//! overrides, samples every pipeline and runs the pure core (infer → resolve →
//! render) to get the desired pipelines. This is the IO edge of `plan`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flinkform_core::diag::{Diagnostic, Source};
use flinkform_core::plan::Desired;
use flinkform_core::render::Renderer;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;

use crate::sampler::{FileSampler, KafkaSampler, Sample, SampleCache, Sampler};
use flinkform_core::spec::{self, Pipeline, Project, SourceSpec, StateConfig, digest};
use flinkform_core::state::{PipelineState, State, StateStore};
use flinkform_state::{Flavor, LocalStore, PgConfig, PgStore};

mod resolve;

use resolve::kafka_sink_topics;
pub use resolve::{Resolved, resolve};

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
    /// Take samples of unchanged topics from `.flinkform/cache/samples/` (`--no-cache`: off).
    pub sample_cache: bool,
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
        match Workspace::read_env(root, env)? {
            (ws, errors) if errors.is_empty() => Ok(ws),
            (_, errors) => Err(Failed(errors)),
        }
    }

    /// The project as far as it reads in environment `env`, and the errors of its files
    /// (the warnings stay in the workspace). `Err` only when there is no project to read:
    /// no readable `flinkform.toml`.
    pub fn read_env(root: &Path, env: Option<&str>) -> Result<(Workspace, Vec<Diagnostic>), Failed> {
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
        let (project, more) = spec::read(&config, &sources, env);
        diags.extend(more);
        let Some(project) = project else { return Err(Failed(diags)) };
        let (errors, mut diags): (Vec<Diagnostic>, Vec<Diagnostic>) = diags.into_iter().partition(Diagnostic::is_error);
        let mut inputs = BTreeMap::new();
        for s in std::iter::once(&config).chain(&sources) {
            inputs.insert(s.name.to_string(), digest(&[s.text.as_bytes()]));
        }
        tracing::info!(pipelines = project.pipelines.len(), "project loaded");
        diags.extend(unused_templates(root, &project));
        let ws = Workspace {
            root: root.to_path_buf(),
            project,
            warnings: diags,
            inputs,
            sample_fallback: false,
            sample_cache: true,
        };
        Ok((ws, errors))
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
        Renderer::new(overrides).map_err(|e| Failed(vec![Diagnostic::error(e.to_string())]))
    }

    /// Samples a pipeline whose source is a sample file, on up to `threads` cores.
    pub fn sample_file(&self, p: &Pipeline, threads: usize) -> Result<Sample, Diagnostic> {
        let mut r = FileSampler { root: &self.root, threads }.sample(&[&p.source]);
        r.pop().expect("one result per source").map_err(|e| sample_error(p, &e))
    }

    /// Samples the Kafka topics of `pipelines` in one batch (one connection per
    /// cluster); `progress(done, total)` is called while topics are read.
    pub fn sample_topics(&self, pipelines: &[&Pipeline], progress: Progress<'_>) -> Vec<Result<Sample, Diagnostic>> {
        if pipelines.is_empty() {
            return Vec::new();
        }
        let cache = self.sample_cache.then(|| SampleCache::new(self.root.join(".flinkform/cache/samples")));
        let kafka = KafkaSampler { cache, ..KafkaSampler::default() };
        let sources: Vec<&SourceSpec> = pipelines.iter().map(|p| &p.source).collect();
        // The progress line is drawn every 100 ms until sampling ends, which ends the wait
        // at once (a sleep would hold every plan up to 100 ms longer).
        let (finished, ended) = std::sync::mpsc::channel::<()>();
        let (done, total) = (&kafka.done, sources.len());
        let results = std::thread::scope(|s| {
            s.spawn(move || {
                while ended.recv_timeout(std::time::Duration::from_millis(100)) == Err(RecvTimeoutError::Timeout) {
                    progress(done.load(Ordering::Relaxed), total);
                }
            });
            let r = kafka.sample(&sources);
            drop(finished);
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
            Some(_) => self.sample_file(p, cores()),
            None => self.sample_topics(&[p], progress).pop().expect("one result per pipeline"),
        }
    }
}

impl Workspace {
    /// Each pipeline's source, by name: what [`count_data`] reads, kept before
    /// [`desired_all`] lets the specs go.
    pub fn sources(&self) -> BTreeMap<String, SourceSpec> {
        self.project.pipelines.iter().map(|p| (p.name.clone(), p.source.clone())).collect()
    }
}

/// Counts what each restart in `plan` does to the messages, from the offsets of its
/// source topic and consumer group (read on several threads). The topic is read where
/// plan reaches it: a pipeline sampled from a file only with `sample_bootstrap_servers`.
pub fn count_data(sources: &BTreeMap<String, SourceSpec>, plan: &mut flinkform_core::plan::Plan) {
    let (mut read, mut offsets) = (Vec::new(), BTreeMap::new());
    for name in plan.restarted() {
        let Some(s) = sources.get(name) else { continue };
        match (&s.sample.file, &s.sample_bootstrap_servers) {
            (Some(_), None) => {
                let why = "the plan samples a file, and has no sample_bootstrap_servers to reach the topic";
                offsets.insert(name.to_string(), Err(why.to_string()));
            }
            _ => read.push((name.to_string(), s)),
        }
    }
    if !read.is_empty() {
        let specs: Vec<&SourceSpec> = read.iter().map(|(_, s)| *s).collect();
        offsets.extend(read.iter().map(|(n, _)| n.clone()).zip(crate::sampler::source_offsets(&specs)));
    }
    plan.count_data(&offsets);
}

/// Why a pipeline's sample failed, with every cause.
fn sample_error(p: &Pipeline, e: &crate::sampler::SampleError) -> Diagnostic {
    Diagnostic::error(format!("{}: {}", p.file, flinkform_core::diag::chain(e)))
}

/// A progress callback: `(done, total)` topics sampled.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// The cores this machine has.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One pipeline desired, with its sample's origin and digest.
type Desire = Result<(Desired, String, String), Failed>;

/// Samples (unless `pre` is its topic's sample) and resolves one pipeline, reading its
/// sample file on up to `threads` cores.
fn desire(
    ws: &Workspace,
    p: &Pipeline,
    pre: Option<&Result<Sample, Diagnostic>>,
    recorded: Option<&State>,
    renderer: &Renderer,
    threads: usize,
) -> Desire {
    let started = std::time::Instant::now();
    let rec = recorded.and_then(|r| r.pipelines.get(&p.name));
    let mut fell_back = None;
    let sample = match pre {
        Some(Err(d)) if ws.sample_fallback && rec.is_some() => {
            fell_back = Some(d.message.clone());
            Cow::Owned(Sample::new("the recorded schema"))
        }
        Some(Err(d)) => return Err(d.clone().into()),
        Some(Ok(s)) => Cow::Borrowed(s),
        None => Cow::Owned(ws.sample_file(p, threads)?),
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
    Ok((r.desired, sample.origin.clone(), sample.digest().to_string()))
}

/// Samples and resolves every pipeline, collecting every diagnostic: Kafka topics
/// first (one batch), then files, inference and rendering in parallel.
/// Returns the desired pipelines and the digests of every input. The specs are taken
/// from `ws` and each is let go once its pipeline is desired: what a plan needs of them
/// is in the desired pipelines then.
pub fn desired_all(
    ws: &mut Workspace,
    recorded: Option<&State>,
    progress: Progress<'_>,
) -> Result<(Vec<Desired>, BTreeMap<String, String>), Failed> {
    let mut inputs = ws.inputs.clone();
    let renderer = ws.renderer(&mut inputs)?;
    let pipelines = std::mem::take(&mut ws.project.pipelines);
    let ws = &*ws;
    let from_kafka: Vec<&Pipeline> = pipelines.iter().filter(|p| p.source.sample.file.is_none()).collect();
    let mut topic_samples = ws.sample_topics(&from_kafka, progress).into_iter();
    let work: Vec<(Pipeline, Option<Result<Sample, Diagnostic>>)> = pipelines
        .into_iter()
        .map(|p| {
            let pre = if p.source.sample.file.is_none() { topic_samples.next() } else { None };
            (p, pre)
        })
        .collect();
    // The cores left to each pipeline: all of them for one pipeline, one for many.
    let share = (cores() / work.len().max(1)).max(1);
    let results: Vec<Desire> = flinkform_core::par::map_owned(work, cores(), 1, |_, part| {
        part.into_iter().map(|(p, pre)| desire(ws, &p, pre.as_ref(), recorded, &renderer, share)).collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    let mut desired = Vec::with_capacity(results.len());
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

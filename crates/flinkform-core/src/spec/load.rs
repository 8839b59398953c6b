//! Loading a project: `flinkform.toml` and every pipeline file, in an environment, into
//! the model, with every diagnostic of every file in one pass.

use super::config::read_config;
use super::env;
use super::read::{check_unique_names, read_pipeline};
use super::walk::{self, Ctx, Layer, Section};
use super::{Config, Project, StateConfig};
use crate::diag::{Diagnostic, Source};

/// The diagnostics of `ctx`, the specs' syntax errors (`syntax`) after its first
/// `config_syntax` (the config's own syntax errors).
fn in_order(ctx: Ctx, config_syntax: usize, syntax: Ctx) -> Vec<Diagnostic> {
    let mut diags = ctx.diags.into_inner();
    diags.splice(config_syntax..config_syntax, syntax.diags.into_inner());
    diags
}

/// Reads the project from `flinkform.toml` and the pipeline files. Returns the project
/// when there is no error, and every diagnostic (errors and warnings) in any case.
pub fn load(config: &Source, pipelines: &[Source], env: Option<&str>) -> (Option<Project>, Vec<Diagnostic>) {
    let (project, diags) = read(config, pipelines, env);
    let ok = !diags.iter().any(Diagnostic::is_error);
    (if ok { project } else { None }, diags)
}

/// [`load`], returning the project as far as it could be read even where there are
/// errors: every pipeline that reads into a value, for the errors found later (a
/// schema's) to be found in the same run. `None` when `flinkform.toml` cannot be read.
pub fn read(config: &Source, pipelines: &[Source], env: Option<&str>) -> (Option<Project>, Vec<Diagnostic>) {
    let ctx = Ctx::default();
    let config_table = walk::parse(config, &ctx);
    let config_syntax = ctx.diags.borrow().len();
    // Each spec is parsed when it is read, and its tree let go after; its syntax errors
    // are listed after the config's, before any other, also when none is read.
    let syntax = Ctx::default();
    let syntax_only = || pipelines.iter().for_each(|p| drop(walk::parse(p, &syntax)));
    let mut project = None;
    if config_table.is_none() {
        syntax_only();
    }
    if let Some(ct) = &config_table {
        let overlay = env::overlay(config, ct.get_ref(), env, &ctx);
        if env.is_some() && overlay.is_none() {
            syntax_only();
            return (None, in_order(ctx, config_syntax, syntax));
        }
        let mut layers: Vec<Layer<'_>> = overlay.iter().map(|o| Layer::new(config, &o.root, o.span.clone())).collect();
        layers.push(Layer::new(config, ct.get_ref(), 0..0));
        let root = Section::new("flinkform.toml", layers, &ctx);
        // Every environment's tables are read when it is selected.
        root.section("environments");
        let cfg = read_config(&root).map(|c| in_environment(c, overlay.as_ref()));
        let cfg = cfg.map(|c| Config { environments: env::names(ct.get_ref()), ..c });
        let defaults = root.section("defaults");
        let mut out = Vec::new();
        let mut overlaid = std::collections::BTreeSet::new();
        for src in pipelines {
            let Some(t) = walk::parse(src, &syntax) else { continue };
            let name = t.get_ref().get("pipeline").and_then(|p| p.get_ref().as_table()).and_then(|p| p.get("name"));
            let name = name.and_then(|n| n.get_ref().as_str()).unwrap_or_default();
            let mut layers = Vec::new();
            if let Some((o, span)) = overlay.as_ref().and_then(|o| o.pipelines.get(name)) {
                layers.push(Layer::new(config, o, span.clone()));
                overlaid.insert(name.to_string());
            }
            layers.push(Layer::new(src, t.get_ref(), 0..0));
            let top = Section::new(src.name.to_string(), layers, &ctx);
            if let Some(p) = read_pipeline(&top, &defaults, src) {
                out.push(p);
            }
            top.finish();
        }
        // A project without specs (a state served alone by `serve`) has nothing to
        // overlay; `plan` refuses it for having no specs.
        if let Some(o) = overlay.as_ref().filter(|_| !pipelines.is_empty()) {
            for (name, (_, span)) in o.pipelines.iter().filter(|(n, _)| !overlaid.contains(*n)) {
                ctx.diags.borrow_mut().push(config.error(
                    span.clone(),
                    format!(
                        "[environments.{}.pipelines.{name}] overlays a pipeline that no spec in pipelines/ defines",
                        o.name
                    ),
                ));
            }
        }
        check_unique_names(&out, &ctx.diags);
        defaults.finish_defaults();
        root.finish();
        // Stable: two specs of one name (an error) keep their files' order.
        out.sort_by(|a, b| a.name.cmp(&b.name));
        project = cfg.map(|config| Project { config, pipelines: out });
    }
    let mut diags = in_order(ctx, config_syntax, syntax);
    // A bad key in [defaults] is found once per pipeline that reads it: report it once.
    let mut seen = std::collections::HashSet::new();
    diags.retain(|d| seen.insert(d.clone()));
    (project, diags)
}

/// The config as environment `overlay` has it: its name recorded, and its state kept
/// apart from every other environment's unless it says where its state is (the local
/// file under a directory of the environment's name, the postgres tables in a schema
/// suffixed with it).
fn in_environment(mut config: Config, overlay: Option<&env::Overlay<'_>>) -> Config {
    let Some(o) = overlay else { return config };
    config.env = Some(o.name.clone());
    match &mut config.state {
        StateConfig::Local { path } if !o.sets_state("path") => {
            let p = std::path::Path::new(path.as_str());
            let file = p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "state.json".into());
            let dir = p.parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
            *path = if dir.is_empty() { format!("{}/{file}", o.name) } else { format!("{dir}/{}/{file}", o.name) };
        }
        StateConfig::Postgres { schema, .. } if !o.sets_state("schema") => {
            *schema = format!("{schema}_{}", o.name.replace('-', "_"));
        }
        _ => {}
    }
    config
}

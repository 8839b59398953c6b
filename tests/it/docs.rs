//! The user documentation's examples are true: every TOML block in the README reads as
//! a valid project (its `flinkform.toml` block with each pipeline block), with no error
//! and no warning.

use flinkform_core::diag::Source;
use flinkform_core::spec;

/// The ```toml blocks of a Markdown text, in order.
fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(b), "```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_toml_block_in_the_readme_is_a_valid_spec() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks = toml_blocks(&readme);
    let (config, pipelines): (Vec<_>, Vec<_>) = blocks.iter().partition(|b| b.contains("version = 1"));
    assert_eq!((config.len(), pipelines.is_empty()), (1, false), "one flinkform.toml block and pipeline blocks");
    let config = Source::new("README.md (flinkform.toml)", config[0].as_str());
    let pipelines: Vec<Source> = pipelines
        .iter()
        .enumerate()
        .map(|(i, b)| Source::new(format!("README.md (pipeline block {})", i + 1), b.as_str()))
        .collect();
    let (project, diags) = spec::load(&config, &pipelines, None);
    let shown: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert!(diags.is_empty(), "{}", shown.join("\n"));
    let project = project.expect("a project");
    // The options the README shows reach the pipeline.
    assert!(project.pipelines.iter().any(|p| p.source.options.contains_key("properties.max.poll.records")));
}

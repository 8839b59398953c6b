//! The arguments several commands share: which pipelines (`--select`), and the output
//! format.

use flinkform_core::select::{Selection, SelectorError};
use flinkform_core::view::Format;

/// Parses `--format` with the names the view knows (listed in `--help`).
pub(super) fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    clap::builder::TypedValueParser::map(
        clap::builder::PossibleValuesParser::new(Format::ALL.map(|(name, _)| name)),
        |name| Format::named(&name).expect("a possible value is a format"),
    )
}

/// Which pipelines a command works on (all, unless some are selected).
#[derive(clap::Args, Debug, Default)]
pub(super) struct SelectArgs {
    /// Only these pipelines: names, globs (`orders_*`), `tag:NAME` (`[pipeline] tags`),
    /// `path:DIR` (repeatable, or comma-separated).
    #[arg(long, short = 's', value_name = "SELECTOR")]
    pub(super) select: Vec<String>,
    /// Terraform's spelling of --select (`-target=NAME`).
    #[arg(long, value_name = "SELECTOR")]
    pub(super) target: Vec<String>,
    /// Leave these pipelines out (same selectors).
    #[arg(long, value_name = "SELECTOR")]
    pub(super) exclude: Vec<String>,
}

impl SelectArgs {
    /// The selection the flags name.
    pub(super) fn selection(&self) -> Result<Selection, SelectorError> {
        let all: Vec<String> = self.select.iter().chain(&self.target).cloned().collect();
        Selection::parse(&all, &self.exclude)
    }
}

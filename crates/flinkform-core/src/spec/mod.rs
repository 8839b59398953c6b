//! Specs: `flinkform.toml` (target, state backend, defaults) and one
//! `pipelines/<name>.toml` per pipeline, read into typed values. Pure: takes file
//! names and texts, returns the model and every diagnostic. Knows nothing of
//! sampling, SQL or state.

mod alert;
mod config;
mod env;
pub mod fmt;
mod load;
mod model;
mod options;
mod read;
mod settings;
mod sink;
mod transform;
mod walk;

use sha2::{Digest, Sha256};

pub use alert::{AlertChannel, AlertOn, ChannelKind};
pub use env::names as environment_names;
pub use load::{load, read};
pub use model::{
    CONFIG_VERSION, ColumnSpec, Config, Conversion, Credential, DeploymentSpec, Dialect, EventTime, OnConflict,
    OnFailure, Pipeline, Project, Resources, SampleSpec, SaslMechanism, SchemaSpec, SecretRef, Security,
    SecurityProtocol, SinkSpec, SourceFormat, SourceSpec, StateConfig, TEMPLATE_NAMES, TableConnector, Upgrade,
    VvpTarget, VvpTimeouts,
};
pub use read::{PIPELINE_NAME_RULE, parse_vvr, pipeline_name_valid};
use settings::Settings;
pub use settings::{SETTINGS_FORM, key as toml_key, sink_prefix};
pub use sink::{KafkaSinkSpec, Sink, Target};
pub use transform::{Dedupe, LookupSpec, TransformSpec};

/// A stable hex digest of text (specs, samples, templates, SQL).
pub fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests;

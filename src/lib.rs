//! flinkform: pipelines-as-code for Kafka → Flink SQL → Hologres on Alibaba Cloud VVP.

pub mod apply;
pub mod cli;
pub mod diag;
pub mod infer;
pub mod pg;
pub mod plan;
pub mod project;
pub mod refresh;
pub mod render;
pub mod sample;
pub mod schema;
pub mod sink;
pub mod spec;
pub mod state;
pub mod types;
pub mod view;
pub mod vvp;

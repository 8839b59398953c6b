//! flinkform: pipelines-as-code for Kafka → Flink SQL → Hologres on Alibaba Cloud VVP.
//! The IO edges around the pure core (`flinkform-core`): planning inputs (`workspace`,
//! `sampler`), the sink database (`sink`), VVP observation (`refresh`), execution
//! (`apply`), the pull-request comment (`comment`), watching what was applied (`serve`,
//! `alert`) and the command line (`cli`).

pub mod alert;
pub mod apply;
pub mod cli;
pub mod comment;
pub mod interrupt;
pub mod poll;
pub mod refresh;
pub mod sampler;
pub mod serve;
pub mod sink;
pub mod workspace;

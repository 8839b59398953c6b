//! Fuzz targets, driven by proptest: the spec reader and the record scanner take any
//! input, mutated from valid ones or random, and answer with a value or diagnostics,
//! never a panic. CI runs 5,000 cases of each; by hand, more:
//! `PROPTEST_CASES=200000 cargo test -p flinkform-core --release --test fuzz`.

use flinkform_core::diag::Source;
use flinkform_core::infer::{InferConfig, infer};
use proptest::prelude::*;

const CONFIG: &str = "version = 1\n[vvp]\nregion = \"cn-hangzhou\"\nworkspace = \"w\"\nnamespace = \"n\"\n\
    [defaults.sink]\nendpoint = \"h:80\"\ndatabase = \"d\"\nusername = \"u\"\npassword = { secret = \"p\" }\n\
    [defaults.deployment]\nengine_version = \"vvr-8.0.11-flink-1.17\"\n\
    [environments.prod.vvp]\nnamespace = \"p\"\n[environments.prod.pipelines.orders.deployment]\nparallelism = 4\n";

const PIPELINE: &str = "[pipeline]\nname = \"orders\"\nprotect = false\n[source]\ntopic = \"orders\"\n\
    bootstrap_servers = \"k:9092\"\nsample = { file = \"s.jsonl\", messages = 10 }\n[schema]\n\
    primary_key = [\"id\"]\ncolumns.ts = { type = \"TIMESTAMP_LTZ(3)\", from = \"epoch_millis\", rename = \"t\" }\n\
    event_time = { column = \"ts\", watermark_delay = \"5s\" }\n[sink]\ntable = \"public.orders\"\n\
    on_conflict = \"update\"\n[deployment]\nparallelism = 2\nverify = \"60s\"\nflink_conf = { \"a.b\" = \"1\" }\n";

const RECORD: &str = r#"{"id": 1, "a": {"b": [1, 2.5, "x", null, {"c": true}]}, "t": "2024-01-01 10:00:00.123", "n": 123456789012345678901234567890, "e": 1e400, "s": "\u00e9\ud83d\ude00"}"#;

/// `base` with edits at random places: bytes deleted, inserted or replaced by the
/// characters that matter to its syntax.
fn mutated(base: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<prop::sample::Index>(), 0u8..3, prop::sample::select(b"{}[]\",:=.\\\n 0-eE\"'#".to_vec()));
    prop::collection::vec(edit, 1..8).prop_map(move |edits| {
        let mut b = base.as_bytes().to_vec();
        for (at, op, c) in edits {
            let i = at.index(b.len().max(1));
            match op {
                0 if !b.is_empty() => {
                    b.remove(i.min(b.len() - 1));
                }
                1 => b.insert(i.min(b.len()), c),
                _ if !b.is_empty() => {
                    let last = b.len() - 1;
                    b[i.min(last)] = c;
                }
                _ => {}
            }
        }
        b
    })
}

fn any_input(base: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![mutated(base), prop::collection::vec(any::<u8>(), 0..200)]
}

/// 5,000 cases a run in CI (a few seconds), `PROPTEST_CASES` by hand.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(5000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_spec_reader_never_panics(bytes in any_input(PIPELINE), config in any_input(CONFIG)) {
        let pipeline = String::from_utf8_lossy(&bytes).into_owned();
        let config = String::from_utf8_lossy(&config).into_owned();
        for env in [None, Some("prod")] {
            let _ = flinkform_core::spec::load(
                &Source::new("flinkform.toml", config.as_str()),
                &[Source::new("pipelines/orders.toml", pipeline.as_str())],
                env,
            );
        }
    }

    #[test]
    fn the_record_scanner_never_panics(records in prop::collection::vec(any_input(RECORD), 1..4)) {
        let _ = infer(records.iter().map(Vec::as_slice), &InferConfig::default());
    }
}

//! `cargo bench --bench infer`: throughput of sampling (the record filter, which observes
//! each record as it checks it) and of inference over records again (a change stream's
//! rows) on a generated, deterministic sample (no external data), in MB/s per phase; then
//! one record of 100,000 top-level keys through sampling, inference, schema and rendering
//! (every per-key step must stay linear: the time per phase is printed).

use std::time::{Duration, Instant};

use flinkform::sampler::Sample;
use flinkform_core::infer::{InferConfig, infer};

/// A deterministic mix of nested objects, arrays, numbers, strings and timestamps.
fn sample_lines(n: usize) -> Vec<String> {
    let mut x: u64 = 0x2545F4914F6CDD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            let r = next();
            format!(
                r#"{{"id":{i},"user":{{"id":{},"name":"user{i}","tags":["a","b"]}},"price":{}.{:02},"ts":"2024-05-01 10:{:02}:{:02}.{:03}","ok":{},"items":[{{"sku":"S{}","q":{}}}],"note":{},"big":{}}}"#,
                r % 1_000_000,
                r % 100,
                r % 100,
                i % 60,
                (i * 7) % 60,
                i % 1000,
                r % 2 == 0,
                r % 50,
                r % 5,
                if i % 5 == 0 { "\"some text here\"" } else { "null" },
                1_000_000_000_000u64 + r % 1000
            )
        })
        .collect()
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.expect("at least one run"))
}

fn main() {
    let lines = sample_lines(200_000);
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mb = bytes as f64 / 1e6;
    let (filter, sample) = best_of(5, || {
        let mut s = Sample::new("bench");
        for l in &lines {
            s.offer(Some(l.as_bytes()), 1 << 20);
        }
        s
    });
    let cfg = InferConfig::default();
    let (settle, shape) = best_of(5, || sample.infer(&cfg));
    let (scan, again) = best_of(5, || infer(sample.records(), &cfg).expect("valid records"));
    assert_eq!(format!("{shape:?}"), format!("{again:?}"), "the sample's shape is its records' shape");
    let cols = shape.object.as_ref().map_or(0, |o| o.fields.len());
    println!("records: {} ({mb:.1} MB), columns: {cols}", lines.len());
    println!("sampling (check and observe, one pass): {:>8.1} MB/s", mb / filter.as_secs_f64());
    println!("inference from the sample's shape:      {:>8.3} ms", settle.as_secs_f64() * 1e3);
    println!("inference over the records again:       {:>8.1} MB/s", mb / scan.as_secs_f64());
    wide(100_000);
}

/// One record of `n` top-level keys through every pure step of `plan`.
fn wide(n: usize) {
    use flinkform_core::diag::Source;
    let record = format!("{{{}}}", (0..n).map(|i| format!("\"key_{i}\": {i}")).collect::<Vec<_>>().join(", "));
    let config = "version = 1\n[vvp]\nregion = \"cn-hangzhou\"\nworkspace = \"w\"\nnamespace = \"n\"\n";
    let spec = "[pipeline]\nname = \"wide\"\n[source]\ntopic = \"t\"\nbootstrap_servers = \"k:1\"\n\
                [sink]\nendpoint = \"h:80\"\ndatabase = \"d\"\ntable = \"t\"\nusername = \"u\"\n\
                password = { secret = \"p\" }\n[deployment]\nengine_version = \"vvr-11.1-jdk11-flink-1.20\"\n";
    let (project, diags) =
        flinkform_core::spec::load(&Source::new("flinkform.toml", config), &[Source::new("wide.toml", spec)], None);
    assert!(diags.is_empty(), "{diags:?}");
    let p = &project.expect("the spec loads").pipelines[0];
    let (filter, sample) = best_of(3, || {
        let mut s = Sample::new("bench");
        s.offer(Some(record.as_bytes()), 64 << 20);
        s
    });
    let (scan, shape) = best_of(3, || sample.infer(&InferConfig::default()));
    let (resolve, schema) = best_of(3, || {
        let (s, d) = flinkform_core::schema::resolve(
            p,
            &shape,
            shape.choose_standard(),
            flinkform_core::types::Integers::BigInt,
            &[],
        );
        s.unwrap_or_else(|| panic!("{d:?}"))
    });
    let renderer = flinkform_core::render::Renderer::new([]).expect("the built-in templates");
    let (render, out) = best_of(3, || renderer.render(p, &schema).expect("it renders"));
    println!(
        "one record of {n} keys ({:.1} MB): sampling {:.0} ms, inference {:.0} ms, schema {:.0} ms, render {:.0} ms ({} columns, {} bytes of SQL)",
        record.len() as f64 / 1e6,
        filter.as_secs_f64() * 1e3,
        scan.as_secs_f64() * 1e3,
        resolve.as_secs_f64() * 1e3,
        render.as_secs_f64() * 1e3,
        schema.columns.len(),
        out.sql.len()
    );
}

//! `cargo bench -p flinkform-core --bench core`: criterion benches of the pure core's
//! hot paths (the record scanner, the shape join, rendering and the SQL diff), each at
//! two sizes, so that a regression, or growth worse than linear, shows in a PR.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use flinkform_core::diag::Source;
use flinkform_core::infer::{InferConfig, Shape, infer};
use flinkform_core::render::Renderer;
use flinkform_core::types::Integers;

const CONFIG: &str = "version = 1\n[vvp]\nregion = \"cn-hangzhou\"\nworkspace = \"w\"\nnamespace = \"n\"\n\
    [defaults.sink]\nendpoint = \"h:80\"\ndatabase = \"d\"\nusername = \"u\"\npassword = { secret = \"p\" }\n\
    [defaults.deployment]\nengine_version = \"vvr-8.0.11-flink-1.17\"\n";

const PIPELINE: &str = "[pipeline]\nname = \"orders\"\n[source]\ntopic = \"orders\"\nbootstrap_servers = \"k:9092\"\n\
    [schema]\nprimary_key = [\"c0\"]\n[sink]\ntable = \"public.orders\"\n";

/// `n` records of a clickstream-like mix: nested objects, arrays, numbers, timestamps.
fn records(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"event_id":"e-{i}","user":{{"id":{},"name":"user{i}","tags":["a","b"]}},"price":{}.{:02},"ts":"2024-05-01 10:{:02}:{:02}.{:03}","ok":{},"items":[{{"sku":"S{}","qty":{}}}],"note":{},"big":{}}}"#,
                i * 7919 % 1_000_000,
                i % 100,
                i % 97,
                i % 60,
                i * 7 % 60,
                i % 1000,
                i % 2 == 0,
                i % 50,
                i % 5,
                if i % 5 == 0 { "\"some text\"" } else { "null" },
                1_000_000_000_000u64 + i as u64
            )
        })
        .collect()
}

/// One record of `columns` keys, of alternating types.
fn wide(columns: usize) -> String {
    let fields: Vec<String> = (0..columns)
        .map(|i| match i % 3 {
            0 => format!("\"c{i}\":{i}"),
            1 => format!("\"c{i}\":\"v{i}\""),
            _ => format!("\"c{i}\":{i}.5"),
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn shape_of(texts: &[String]) -> Shape {
    infer(texts.iter().map(|t| t.as_bytes()), &InferConfig::default()).expect("valid records")
}

fn scanner(c: &mut Criterion) {
    let mut g = c.benchmark_group("scanner");
    for n in [1_000, 10_000] {
        let texts = records(n);
        g.throughput(Throughput::Bytes(texts.iter().map(|t| t.len() as u64).sum()));
        g.bench_with_input(BenchmarkId::from_parameter(n), &texts, |b, t| b.iter(|| shape_of(t)));
    }
    g.finish();
}

fn merge(c: &mut Criterion) {
    let mut g = c.benchmark_group("merge");
    for columns in [1_000, 2_000] {
        let (a, b) = (shape_of(&[wide(columns)]), shape_of(&[wide(columns).replace(":\"v", ":\"2024-01-0")]));
        g.throughput(Throughput::Elements(columns as u64));
        g.bench_with_input(BenchmarkId::from_parameter(columns), &(a, b), |bench, (a, b)| {
            bench.iter(|| {
                let mut joined = a.clone();
                joined.join(black_box(b));
                joined
            })
        });
    }
    g.finish();
}

fn render(c: &mut Criterion) {
    let renderer = Renderer::new([]).expect("the built-in templates compile");
    let mut g = c.benchmark_group("render");
    for columns in [1_000, 2_000] {
        let (project, diags) = flinkform_core::spec::load(
            &Source::new("flinkform.toml", CONFIG),
            &[Source::new("p.toml", PIPELINE)],
            None,
        );
        let project = project.unwrap_or_else(|| panic!("{diags:?}"));
        let p = &project.pipelines[0];
        let shape = shape_of(&[wide(columns)]);
        let (schema, diags) =
            flinkform_core::schema::resolve(p, &shape, shape.choose_standard(), Integers::BigInt, &[]);
        let schema = schema.unwrap_or_else(|| panic!("{diags:?}"));
        g.throughput(Throughput::Elements(columns as u64));
        g.bench_with_input(BenchmarkId::from_parameter(columns), &schema, |b, s| {
            b.iter(|| renderer.render(p, s).expect("renders"))
        });
    }
    g.finish();
}

fn diff(c: &mut Criterion) {
    let mut g = c.benchmark_group("diff");
    for lines in [5_000, 10_000] {
        let old: String = (0..lines).map(|i| format!("  `c{i}` BIGINT,\n")).collect();
        // Every tenth line changes type: hunks all along the text.
        let new: String =
            (0..lines).map(|i| format!("  `c{i}` {},\n", if i % 10 == 0 { "STRING" } else { "BIGINT" })).collect();
        g.throughput(Throughput::Elements(lines as u64));
        g.bench_with_input(BenchmarkId::from_parameter(lines), &(old, new), |b, (old, new)| {
            b.iter(|| flinkform_core::view::unified(old, new, "orders/job.sql"))
        });
    }
    g.finish();
}

criterion_group!(benches, scanner, merge, render, diff);
criterion_main!(benches);

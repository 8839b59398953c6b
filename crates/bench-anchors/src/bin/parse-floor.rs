//! `parse-floor FILE...`: the JSON parse floor that `benches/run` holds
//! flinkform's figures against. Reads every line of the files (JSON Lines) with
//! serde_json, into `IgnoredAny` (validation only: the least a reader of JSON must do)
//! and into a `Value` (a tree per record), on one core and on all cores; prints
//! `floor NAME MB/s` lines, best of three runs.
//!
//! `parse-floor --once THREADS FILE...`: reads the files and parses every line into `IgnoredAny`
//! on that many threads, once, and exits: the floor as a whole process, to time beside
//! flinkform's whole process at the same number of cores.

use std::time::{Duration, Instant};

use serde::de::IgnoredAny;

fn best(mut f: impl FnMut()) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("three runs")
}

/// Parses every line into `T`; panics on a line that is not JSON (the files are ours).
fn parse<T: serde::de::DeserializeOwned>(lines: &[&[u8]]) {
    for l in lines {
        std::hint::black_box(serde_json::from_slice::<T>(l).expect("a JSON line"));
    }
}

/// `parse` over `threads` contiguous chunks at once.
fn parse_on<T: serde::de::DeserializeOwned>(lines: &[&[u8]], threads: usize) {
    let chunk = lines.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for part in lines.chunks(chunk) {
            s.spawn(move || parse::<T>(part));
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let (once, files): (Option<usize>, &[String]) = match args.as_slice() {
        [flag, n, files @ ..] if flag == "--once" => (Some(n.parse().expect("--once THREADS")), files),
        files => (None, files),
    };
    assert!(!files.is_empty(), "usage: parse-floor [--once THREADS] FILE...");
    let texts: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{f}: {e}"))).collect();
    let lines: Vec<&[u8]> = texts.iter().flat_map(|t| t.split(|b| *b == b'\n')).filter(|l| !l.is_empty()).collect();
    if let Some(threads) = once {
        parse_on::<IgnoredAny>(&lines, threads);
        return;
    }
    let mb = texts.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rate = |d: Duration| mb / d.as_secs_f64();
    println!("floor ignored_any_1 {:.1}", rate(best(|| parse::<IgnoredAny>(&lines))));
    println!("floor value_1 {:.1}", rate(best(|| parse::<serde_json::Value>(&lines))));
    println!("floor ignored_any_all {:.1}", rate(best(|| parse_on::<IgnoredAny>(&lines, cores))));
    println!("floor cores {cores}");
    println!("floor mb {mb:.1}");
}

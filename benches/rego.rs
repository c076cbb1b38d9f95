//! Org policy benchmark: evaluates the example bundle (`examples/policies/`) on
//! the input of a generated configuration and prints load, input and evaluation
//! times.
//!
//! Target (docs/benchmark.md): the example bundle on 10,000 identities in under
//! 1 s (`Bundle::evaluate`, median).
//!
//! Usage: `cargo bench --bench rego -- [N ...] [--runs K] [--check]`
//!
//! - `N ...`: numbers of identities (default `10000`; `_` separators allowed).
//! - `--runs K`: timed evaluations per size after one warm-up (default 5).
//! - `--check`: exit 1 when the 10,000 row misses the target.
//!
//! Identities: 1 in 10 is a CI identity (named `ci-…`, half of them with a
//! key), 1 in 5 belongs to team `payments` with an `expires` day spread over
//! two years (some none), the rest another team; every identity has an owner,
//! two tags, 1 key in 2 and 2 bindings. The input's `plan` half is a stand-in:
//! the example bundle reads only `desired`.

// A measuring program: it prints, and converts times to floats.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss
)]

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use nhi::policy::rego::{Bundle, desired};

const NOW: &str = "2026-11-22T12:00:00Z";
const TARGET_N: usize = 10_000;
const TARGET_SECS: f64 = 1.0;

fn main() {
    let mut sizes = Vec::new();
    let mut runs = 5;
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|k| k.parse().ok())
                    .expect("--runs takes a number");
            }
            "--check" => check = true,
            // `cargo bench` passes `--bench` to every harness-less bench.
            "--bench" => {}
            n => sizes.push(n.replace('_', "").parse().expect("a size is a number")),
        }
    }
    if sizes.is_empty() {
        sizes.push(TARGET_N);
    }
    let now: jiff::Timestamp = NOW.parse().expect("invariant: NOW is a timestamp");
    let started = Instant::now();
    let bundle = Bundle::load(Path::new("examples"), &["policies".to_owned()])
        .expect("the example bundle loads");
    let load = started.elapsed();
    println!(
        "example bundle: {} files, loaded in {}",
        bundle.files().len(),
        ms(load)
    );
    let mut missed = false;
    for n in sizes {
        let started = Instant::now();
        let config = nhi::config::parse(Path::new("nhi.yaml"), &configuration(n))
            .expect("the generated configuration parses");
        let input = serde_json::json!({"plan": {}, "desired": desired(&config)});
        let built = started.elapsed();
        let mut times = Vec::new();
        let mut findings = 0;
        for run in 0..=runs {
            let started = Instant::now();
            let out = bundle
                .evaluate(&input, now)
                .expect("the example bundle evaluates");
            if run > 0 {
                times.push(started.elapsed());
            }
            findings = out.len();
        }
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "{n:>7} identities: evaluate median {} (min {}), {findings} findings; configuration + input {}",
            ms(median),
            ms(times[0]),
            ms(built)
        );
        if n == TARGET_N && median.as_secs_f64() >= TARGET_SECS {
            missed = true;
        }
    }
    if check && missed {
        eprintln!("the {TARGET_N} row misses the target of {TARGET_SECS} s");
        std::process::exit(1);
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A configuration of `n` identities on one local provider block.
fn configuration(n: usize) -> String {
    let mut out = String::from(
        "version: 1\nproviders:\n  - name: demo\n    type: local\n    settings:\n      state: estate.json\nidentities:\n",
    );
    for i in 0..n {
        let (name, team) = match i % 10 {
            0 => (format!("ci-runner-{i}"), "platform"),
            1 | 2 => (format!("svc-{i}"), "payments"),
            _ => (format!("svc-{i}"), "storage"),
        };
        let _ = write!(
            out,
            "  - name: {name}\n    provider: demo\n    owner: {team}@example.com\n    tags:\n      team: {team}\n      env: prod\n"
        );
        if team == "payments" && i % 7 != 0 {
            // Spread over two years from the benchmark's clock.
            let day = jiff::civil::date(2026, 11, 22)
                + jiff::Span::new().days(i64::try_from(i % 730).expect("small"));
            let _ = writeln!(out, "    expires: {day}");
        }
        if i % 2 == 0 {
            let _ = write!(
                out,
                "    keys:\n      - name: primary\n        rotate_after: 90d\n        sink:\n          file: secrets/{name}.key\n"
            );
        }
        let _ = write!(
            out,
            "    bindings:\n      - role: deployer\n        resource: project/web\n      - role: viewer\n"
        );
    }
    out
}

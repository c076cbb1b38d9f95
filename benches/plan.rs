//! Planning benchmark: generates a local-provider estate and its configuration, runs
//! the release `nhi plan` on it several times, and prints wall time and peak memory.
//!
//! Target (docs/benchmark.md, DESIGN.md): 100,000 identities, each with 1 key and 2
//! bindings, planned in under 1 s and under 256 MiB peak RSS.
//!
//! Usage: `cargo bench --bench plan -- [N ...] [--runs K] [--terraform N] [--no-terraform] [--no-change] [--check]`
//!
//! - `N ...`: estate sizes (default `10000 100000`; `_` separators allowed).
//! - `--runs K`: timed runs per size after one warm-up (default 5).
//! - `--terraform N`: also time a no-change `terraform plan` over N `terraform_data`
//!   resources, beside a no-change `nhi plan` over N identities. Repeatable; default
//!   1000 when `terraform` is on PATH. 10000 is opt-in: its one-off `terraform apply`
//!   alone takes a long time (about 45 s at 1000, growing faster than linearly).
//! - `--no-terraform`: skip the Terraform reference.
//! - `--no-change`: also time each size on an estate that matches the configuration.
//! - `--check`: exit 1 when the 100,000 row misses the target.
//!
//! Estates are generated under `target/bench-estates/` and reused while the
//! generator version matches. Peak RSS comes from GNU `/usr/bin/time` (`%M`).

// A measuring program: it prints, and converts byte counts and times to floats.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nhi_provider_sdk::{ObservedIdentity, ObservedState};

/// Bump when the generated files change, so that cached estates are regenerated.
const GENERATOR: &str = "nhi-bench-plan v3";
/// The clock every plan runs at, so that key ages (and so the plan) never change.
const NOW: &str = "2026-11-22T12:00:00Z";
const TARGET_N: usize = 100_000;
const TARGET_SECS: f64 = 1.0;
const TARGET_MIB: f64 = 256.0;
const GNU_TIME: &str = "/usr/bin/time";

struct Args {
    sizes: Vec<usize>,
    runs: usize,
    terraform: Vec<usize>,
    no_terraform: bool,
    no_change: bool,
    check: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        sizes: Vec::new(),
        runs: 5,
        terraform: Vec::new(),
        no_terraform: false,
        no_change: false,
        check: false,
    };
    let number = |s: Option<String>, what: &str| -> Result<usize, String> {
        let s = s.ok_or_else(|| format!("{what} needs a number"))?;
        s.replace('_', "")
            .parse()
            .map_err(|_| format!("{what}: `{s}` is not a number"))
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            // Cargo passes `--bench` to every bench target.
            "--bench" => {}
            "--runs" => args.runs = number(it.next(), "--runs")?.max(1),
            "--terraform" => args.terraform.push(number(it.next(), "--terraform")?),
            "--no-terraform" => args.no_terraform = true,
            "--no-change" => args.no_change = true,
            "--check" => args.check = true,
            "-h" | "--help" => {
                println!(
                    "usage: cargo bench --bench plan -- [N ...] [--runs K] [--terraform N] [--no-terraform] [--no-change] [--check]"
                );
                std::process::exit(0);
            }
            other if other.starts_with('-') => return Err(format!("unknown option `{other}`")),
            other => args.sizes.push(number(Some(other.to_owned()), "size")?),
        }
    }
    if args.sizes.is_empty() {
        args.sizes = vec![10_000, TARGET_N];
    }
    if args.terraform.is_empty() {
        args.terraform = vec![1000];
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let nhi = PathBuf::from(env!("CARGO_BIN_EXE_nhi"));
    // `<target>/release/nhi`
    let target = nhi
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf);
    let root = target.join("bench-estates");
    let gnu_time = Path::new(GNU_TIME).exists();
    if !gnu_time {
        eprintln!(
            "note: {GNU_TIME} (GNU time) not found, so peak memory cannot be measured; \
             install it with `sudo apt-get install time`"
        );
    }
    println!("nhi: {}", nhi.display());
    println!("estates: {}", root.display());
    println!(
        "cores: {}; load average before: {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        loadavg()
    );
    println!(
        "clock: NHI_NOW={NOW}; {} timed run(s) after 1 warm-up per size",
        args.runs
    );
    println!();

    let mut rows = Vec::new();
    let variants: &[Variant] = if args.no_change {
        &[Variant::Drift, Variant::NoChange]
    } else {
        &[Variant::Drift]
    };
    for &n in &args.sizes {
        for &variant in variants {
            let dir = root.join(format!("{}-{n}", variant.dir()));
            let t = Instant::now();
            let spec = prepare(&dir, n, variant);
            eprintln!(
                "[{n} {}] estate ready in {:.1} s ({})",
                variant.label(),
                t.elapsed().as_secs_f64(),
                dir.display()
            );
            let m = measure(&nhi, &dir, args.runs, gnu_time);
            eprintln!(
                "[{n} {}] median {:.3} s, min {:.3} s, peak {}",
                variant.label(),
                m.median,
                m.min,
                mib(m.peak_kib)
            );
            rows.push((n, variant, spec, m));
        }
    }

    println!("### nhi plan, local provider (drift: 1% drifted, 1% missing, 0.5% unmanaged)\n");
    println!(
        "| N | estate | identities / keys / bindings | plan changes | unmanaged | config | estate | plan file | median wall | min wall | median CPU | peak RSS | target (<{TARGET_SECS} s, <{TARGET_MIB} MiB at {TARGET_N}) |"
    );
    println!("|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut failed = false;
    for (n, variant, spec, m) in &rows {
        let verdict = if *n == TARGET_N {
            let time_ok = m.median < TARGET_SECS;
            let mem_ok = m.peak_kib.is_some_and(|k| (k as f64) / 1024.0 < TARGET_MIB);
            failed |= !(time_ok && mem_ok);
            format!(
                "{} (time {}, memory {})",
                if time_ok && mem_ok { "PASS" } else { "FAIL" },
                if time_ok { "ok" } else { "over" },
                match m.peak_kib {
                    None => "unmeasured",
                    Some(_) if mem_ok => "ok",
                    Some(_) => "over",
                }
            )
        } else {
            "n/a".to_owned()
        };
        println!(
            "| {n} | {} | {} / {} / {} | {} | {} | {} | {} | {} | {:.3} s | {:.3} s | {} | {} | {verdict} |",
            variant.label(),
            spec.identities,
            spec.keys,
            spec.bindings,
            m.changes,
            m.unmanaged,
            bytes(spec.config_bytes),
            bytes(spec.estate_bytes),
            bytes(m.plan_bytes),
            m.median,
            m.min,
            m.cpu
                .map_or_else(|| "n/a".to_owned(), |c| format!("{c:.2} s")),
            mib(m.peak_kib),
        );
    }
    println!("load average after: {}", loadavg());
    println!();

    if args.no_terraform {
        println!("Terraform reference skipped (--no-terraform).");
    } else if !on_path("terraform") {
        println!("Terraform reference skipped: `terraform` is not on PATH.");
    } else {
        terraform_reference(&nhi, &root, &args.terraform, args.runs, gnu_time);
    }

    if args.check && failed {
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------
// Generation

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// ~1% drifted, ~1% missing, ~0.5% unmanaged.
    Drift,
    /// Live state matches the configuration exactly.
    NoChange,
}

impl Variant {
    fn dir(self) -> &'static str {
        match self {
            Variant::Drift => "drift",
            Variant::NoChange => "nochange",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Drift => "drift",
            Variant::NoChange => "no change",
        }
    }
}

/// What the configuration declares, and the sizes of the generated files.
struct Spec {
    identities: usize,
    keys: usize,
    bindings: usize,
    config_bytes: u64,
    estate_bytes: u64,
}

/// What happens to identity `i` in the live estate.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Same,
    Missing,
    OwnerChanged,
    ExtraBinding,
    OldKey,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Evenly spread and exact: 1 in 100 missing, 1 in 100 drifted (owner, extra
/// binding and old key in turn).
fn fate(i: usize, variant: Variant) -> Fate {
    if variant == Variant::NoChange {
        return Fate::Same;
    }
    match (i % 100, (i / 100) % 3) {
        (71, _) => Fate::Missing,
        (37, 0) => Fate::OwnerChanged,
        (37, 1) => Fate::ExtraBinding,
        (37, _) => Fate::OldKey,
        _ => Fate::Same,
    }
}

fn name(i: usize) -> String {
    format!("svc-{i:07}")
}

fn team(i: usize) -> String {
    format!("team-{:02}", i % 40)
}

fn owner(i: usize) -> String {
    format!("{}@example.com", team(i))
}

fn key_id(i: usize, generation: u64) -> String {
    const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut x = splitmix((i as u64) << 8 | generation);
    let mut id = String::from("LK");
    for _ in 0..18 {
        id.push(B32[(x & 31) as usize] as char);
        x = (x >> 5) | (splitmix(x) << 59);
    }
    id
}

fn policy(i: usize) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": format!("arn:aws:sqs:::jobs-{:03}", i % 500),
        }],
    })
}

fn bindings(i: usize) -> Vec<serde_json::Value> {
    vec![
        serde_json::json!({"role": "reader", "resource": format!("bucket/data-{:04}", i % 5000)}),
        serde_json::json!({"role": "publisher", "resource": format!("queue/jobs-{:03}", i % 500), "policy": policy(i)}),
    ]
}

fn write_config(path: &Path, n: usize) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    writeln!(
        out,
        "# Generated by benches/plan.rs ({GENERATOR}); do not edit."
    )?;
    writeln!(
        out,
        "version: 1\n\nproviders:\n  - name: bench\n    type: local\n    prune: false\n    settings:\n      state: estate.json\n\nidentities:"
    )?;
    for i in 0..n {
        let name = name(i);
        write!(
            out,
            "  - name: {name}
    provider: bench
    owner: {owner}
    description: Benchmark identity {i}
    tags:
      team: {team}
    keys:
      - name: primary
        rotate_after: 90d
        sink:
          file: secrets/{name}.key
    bindings:
      - role: reader
        resource: bucket/data-{bucket:04}
      - role: publisher
        resource: queue/jobs-{queue:03}
        policy:
          Version: \"2012-10-17\"
          Statement:
            - Effect: Allow
              Action: [\"sqs:SendMessage\"]
              Resource: \"arn:aws:sqs:::jobs-{queue:03}\"
",
            owner = owner(i),
            team = team(i),
            bucket = i % 5000,
            queue = i % 500,
        )?;
    }
    out.flush()
}

/// Built through serde, so that fields the SDK adds with defaults need no change here.
fn observed(value: serde_json::Value) -> ObservedIdentity {
    serde_json::from_value(value).expect("a valid ObservedIdentity")
}

fn estate(n: usize, variant: Variant) -> ObservedState {
    let fresh = "2026-10-01T09:00:00Z";
    let old = "2026-03-01T09:00:00Z";
    let used = "2026-11-21T18:00:00Z";
    let mut identities = Vec::with_capacity(n + n / 200 + 1);
    for i in 0..n {
        let fate = fate(i, variant);
        if fate == Fate::Missing {
            continue;
        }
        let mut bindings = bindings(i);
        if fate == Fate::ExtraBinding {
            bindings.push(serde_json::json!({"role": "admin", "resource": "*"}));
        }
        identities.push(observed(serde_json::json!({
            "name": name(i),
            "kind": "service_account",
            "owner": if fate == Fate::OwnerChanged { "someone-else@example.com".to_owned() } else { owner(i) },
            "description": format!("Benchmark identity {i}"),
            "tags": {"team": team(i)},
            "keys": [{
                "id": key_id(i, 0),
                "name": "primary",
                "created": if fate == Fate::OldKey { old } else { fresh },
                "status": "active",
                "last_used": used,
            }],
            "bindings": bindings,
        })));
    }
    if variant == Variant::Drift {
        // Created by hand: reported as unmanaged (the block does not prune).
        for j in 0..n / 200 {
            identities.push(observed(serde_json::json!({
                "name": format!("manual-{j:06}"),
                "kind": "service_account",
                "owner": "unknown",
                "description": "Created by hand",
                "keys": [{"id": key_id(j, 1), "name": null, "created": old, "status": "active"}],
                "bindings": [{"role": "editor", "resource": "*"}],
            })));
        }
    }
    ObservedState { identities }
}

/// Generates `nhi.yaml` and `estate.json` in `dir`, unless a complete set from
/// this generator is there already.
fn prepare(dir: &Path, n: usize, variant: Variant) -> Spec {
    let config = dir.join("nhi.yaml");
    let state = dir.join("estate.json");
    let stamp = dir.join("GENERATOR");
    let wanted = format!("{GENERATOR} n={n}\n");
    let fresh =
        fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) && config.exists() && state.exists();
    if !fresh {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).expect("create estate directory");
        write_config(&config, n).expect("write nhi.yaml");
        nhi_provider_local::write_estate(&state, &estate(n, variant)).expect("write estate.json");
        fs::write(&stamp, wanted).expect("write generator stamp");
    }
    Spec {
        identities: n,
        keys: n,
        bindings: 2 * n,
        config_bytes: size(&config),
        estate_bytes: size(&state),
    }
}

fn size(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

// ---------------------------------------------------------------------------------
// Measurement

struct Measured {
    median: f64,
    min: f64,
    /// Median user + system CPU seconds.
    cpu: Option<f64>,
    peak_kib: Option<u64>,
    changes: String,
    unmanaged: String,
    plan_bytes: u64,
}

struct Run {
    wall: Duration,
    max_rss_kib: Option<u64>,
    /// User + system CPU seconds, from GNU time.
    cpu: Option<f64>,
    stdout: String,
    stderr: String,
    success: bool,
}

/// Runs `program args` in `dir` under GNU time (when present); the wall time is
/// measured here, the peak RSS by `time`.
fn timed(program: &Path, args: &[&str], dir: &Path, envs: &[(&str, &str)], gnu_time: bool) -> Run {
    let time_out = dir.join(".bench-time");
    let _ = fs::remove_file(&time_out);
    let mut cmd = if gnu_time {
        let mut c = Command::new(GNU_TIME);
        c.arg("-f")
            .arg("%e %M %U %S")
            .arg("-o")
            .arg(&time_out)
            .arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let wall = started.elapsed();
    // `%e %M %U %S` on the last line (earlier ones may report a signal or exit status).
    let fields: Vec<f64> = fs::read_to_string(&time_out)
        .ok()
        .and_then(|s| s.lines().last().map(str::to_owned))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let max_rss_kib = fields.get(1).map(|&k| k as u64);
    let cpu = (fields.len() == 4).then(|| fields[2] + fields[3]);
    Run {
        wall,
        max_rss_kib,
        cpu,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        success: out.status.success(),
    }
}

fn nhi_plan(nhi: &Path, dir: &Path, gnu_time: bool) -> Run {
    let run = timed(
        nhi,
        &["--no-color", "plan", "-o", "out.plan"],
        dir,
        &[("NHI_NOW", NOW), ("NHI_AUTHOR", "bench")],
        gnu_time,
    );
    if !run.success {
        eprintln!("`nhi plan` failed in {}:\n{}", dir.display(), run.stderr);
        std::process::exit(1);
    }
    run
}

fn measure(nhi: &Path, dir: &Path, runs: usize, gnu_time: bool) -> Measured {
    let warm = nhi_plan(nhi, dir, gnu_time);
    let mut walls = Vec::with_capacity(runs);
    let mut cpus = Vec::with_capacity(runs);
    let mut peak = warm.max_rss_kib;
    for _ in 0..runs {
        let run = nhi_plan(nhi, dir, gnu_time);
        walls.push(run.wall.as_secs_f64());
        cpus.extend(run.cpu);
        peak = match (peak, run.max_rss_kib) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    walls.sort_by(f64::total_cmp);
    cpus.sort_by(f64::total_cmp);
    let (changes, unmanaged) = summary(nhi, dir);
    Measured {
        median: median(&walls),
        min: walls[0],
        cpu: (!cpus.is_empty()).then(|| median(&cpus)),
        peak_kib: peak,
        changes,
        unmanaged,
        plan_bytes: size(&dir.join("out.plan")),
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        f64::midpoint(sorted[n / 2 - 1], sorted[n / 2])
    }
}

/// The change counts and unmanaged identities, from `nhi show --format json`.
fn summary(nhi: &Path, dir: &Path) -> (String, String) {
    let out = Command::new(nhi)
        .args(["show", "--format", "json", "out.plan"])
        .current_dir(dir)
        .output()
        .expect("run nhi show");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let s = &json["summary"];
    let count = |k: &str| s[k].as_u64().unwrap_or(0);
    let parts = ["create", "update", "replace", "rotate", "delete"];
    let total: u64 = parts.iter().map(|k| count(k)).sum();
    let mut text = total.to_string();
    let detail: Vec<String> = parts
        .iter()
        .filter(|k| count(k) > 0)
        .map(|k| format!("{} {k}", count(k)))
        .collect();
    if !detail.is_empty() {
        let _ = write!(text, " ({})", detail.join(", "));
    }
    if s.is_null() {
        "?".clone_into(&mut text);
    }
    (text, count("unmanaged").to_string())
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

fn bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / f64::from(1 << 20))
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

/// The 1, 5 and 15 minute load averages: timings mean little on a busy machine.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
}

// ---------------------------------------------------------------------------------
// Terraform reference

fn terraform_reference(nhi: &Path, root: &Path, sizes: &[usize], runs: usize, gnu_time: bool) {
    let version = Command::new("terraform")
        .arg("version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    for &n in sizes {
        let dir = root.join(format!("nochange-{n}"));
        prepare(&dir, n, Variant::NoChange);
        let m = measure(nhi, &dir, runs, gnu_time);
        if m.changes != "0" {
            eprintln!(
                "warning: the no-change estate of {n} planned changes: {}",
                m.changes
            );
        }
        eprintln!("[terraform {n}] preparing (init + apply; slow the first time)");
        let Some(tf) = terraform(root, n, gnu_time) else {
            continue;
        };
        rows.push((n, m, tf));
    }
    if rows.is_empty() {
        return;
    }
    println!("### No-change plan: nhi (local provider) vs {version} (`terraform_data`)\n");
    println!(
        "| N | nhi wall (median) | nhi CPU | nhi peak RSS | terraform plan wall (1 run) | terraform CPU | terraform peak RSS | wall ratio |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let secs = |c: Option<f64>| c.map_or_else(|| "n/a".to_owned(), |c| format!("{c:.2} s"));
    for (n, m, tf) in rows {
        println!(
            "| {n} | {:.3} s | {} | {} | {:.2} s | {} | {} | {:.0}x |",
            m.median,
            secs(m.cpu),
            mib(m.peak_kib),
            tf.wall.as_secs_f64(),
            secs(tf.cpu),
            mib(tf.max_rss_kib),
            tf.wall.as_secs_f64() / m.median
        );
    }
    println!();
}

/// Sets up (once) a Terraform root module with `n` `terraform_data` resources and
/// applied state, then times one no-change `terraform plan -refresh=true`.
fn terraform(root: &Path, n: usize, gnu_time: bool) -> Option<Run> {
    let dir = root.join(format!("terraform-{n}"));
    let stamp = dir.join("GENERATOR");
    let wanted = format!("{GENERATOR} terraform n={n}\n");
    let cli_config = dir.join("terraformrc");
    let cli_config_str = cli_config.to_string_lossy().into_owned();
    let envs = [
        ("TF_IN_AUTOMATION", "1"),
        ("TF_CLI_CONFIG_FILE", cli_config_str.as_str()),
        ("CHECKPOINT_DISABLE", "1"),
    ];
    let ready = fs::read_to_string(&stamp).is_ok_and(|s| s == wanted)
        && dir.join("terraform.tfstate").exists();
    if !ready {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create terraform directory");
        fs::write(&cli_config, "").expect("write terraformrc");
        let mut tf = String::with_capacity(n * 200);
        for i in 0..n {
            let _ = write!(
                tf,
                "resource \"terraform_data\" \"{}\" {{\n  input = {{\n    owner = \"{}\"\n    role  = \"reader\"\n    resource = \"bucket/data-{:04}\"\n  }}\n}}\n\n",
                name(i).replace('-', "_"),
                owner(i),
                i % 5000
            );
        }
        fs::write(dir.join("main.tf"), tf).expect("write main.tf");
        for args in [
            &["init", "-input=false", "-no-color"][..],
            &[
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                "-lock=false",
            ][..],
        ] {
            let t = Instant::now();
            let run = timed(Path::new("terraform"), args, &dir, &envs, false);
            eprintln!(
                "[terraform {n}] terraform {} took {:.1} s",
                args[0],
                t.elapsed().as_secs_f64()
            );
            if !run.success {
                eprintln!(
                    "terraform {} failed; skipping the reference for {n}:\n{}{}",
                    args[0], run.stdout, run.stderr
                );
                return None;
            }
        }
        fs::write(&stamp, wanted).expect("write generator stamp");
    }
    let run = timed(
        &which("terraform"),
        &[
            "plan",
            "-refresh=true",
            "-lock=false",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
        ],
        &dir,
        &envs,
        gnu_time,
    );
    if !run.success {
        eprintln!(
            "terraform plan did not report \"no changes\" for {n}:\n{}{}",
            run.stdout, run.stderr
        );
        return None;
    }
    eprintln!(
        "[terraform {n}] no-change plan {:.2} s, peak {}",
        run.wall.as_secs_f64(),
        mib(run.max_rss_kib)
    );
    Some(run)
}

fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(program))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(program))
}

//! The plain YAML reader against serde-saphyr, the full parser: on every input it
//! accepts, both must build the same model; inputs outside the subset must be
//! declined.

use crate::registry::Registry;
use std::fmt::Write as _;

use proptest::prelude::*;

use super::super::error::Source;
use super::super::{validate, yaml};
use super::{parse, read};

/// What the full parser makes of `text`: the validated model, or `None` on any error.
fn full(text: &str) -> Option<validate::Valid> {
    let source = Source::new("nhi.yaml", text);
    let mut raw = yaml::parse(&source, text).ok()?;
    validate::validate(&source, Registry::builtin(), &mut raw).ok()
}

/// What this reader makes of `text`, read whole and read in parts.
fn plain(text: &str) -> Option<validate::Valid> {
    let accepted = parse(
        &Source::new("nhi.yaml", text),
        Registry::builtin(),
        text,
        &mut |_| {},
    );
    // Read in parts on every size, the result must be the same.
    let parts = read(
        &Source::new("nhi.yaml", text),
        Registry::builtin(),
        text,
        0,
        &mut |_| {},
    )
    .ok();
    assert_eq!(
        accepted.as_ref().map(|v| (&v.providers, &v.identities)),
        parts.as_ref().map(|v| (&v.providers, &v.identities)),
        "{text}"
    );
    accepted
}

/// This reader may decline anything, but what it accepts must be exactly what
/// the full parser builds. Returns whether it accepted.
fn agree(text: &str) -> bool {
    let Some(plain) = plain(text) else {
        return false;
    };
    let full = full(text).unwrap_or_else(|| {
        panic!("the plain reader accepted what the full parser refuses:\n{text}")
    });
    assert_eq!(plain.providers, full.providers, "{text}");
    assert_eq!(plain.identities, full.identities, "{text}");
    true
}

const BASE: &str = "version: 1
providers:
  - name: demo
    type: local
    settings:
      state: estate.json
identities:
  - name: ci
    provider: demo
    owner: me
";

#[test]
fn the_examples_and_the_benchmark_shape_are_in_the_subset_and_read_alike() {
    for path in ["examples/quickstart/nhi.yaml", "examples/aws/nhi.yaml"] {
        let text = std::fs::read_to_string(path).unwrap();
        agree(&text);
    }
    let bench = "# Generated\nversion: 1\n\nproviders:\n  - name: bench\n    type: local\n    prune: false\n    settings:\n      state: estate.json\n\nidentities:\n  - name: svc-0000000\n    provider: bench\n    owner: team-00@example.com\n    description: Benchmark identity 0\n    tags:\n      team: team-00\n    keys:\n      - name: primary\n        rotate_after: 90d\n        sink:\n          file: secrets/svc-0000000.key\n    bindings:\n      - role: reader\n        resource: bucket/data-0000\n      - role: publisher\n        resource: queue/jobs-000\n        policy:\n          Version: \"2012-10-17\"\n          Statement:\n            - Effect: Allow\n              Action: [\"sqs:SendMessage\"]\n              Resource: \"arn:aws:sqs:::jobs-000\"\n";
    assert!(agree(bench), "the benchmark's shape must be in the subset");
    assert!(agree(BASE));
}

#[test]
fn identities_read_in_parts_are_the_identities_read_whole() {
    let mut text = BASE.replace(
        "identities:\n  - name: ci\n    provider: demo\n    owner: me\n",
        "identities:\n",
    );
    for i in 0..200 {
        writeln!(text, "  - name: svc-{i}\n    provider: demo\n    owner: o{i}\n    bindings:\n      - role: r\n        policy: {{a: b{i}}}").unwrap();
    }
    let whole = full(&text).unwrap();
    for parts in [0, 1, 100, 1_000, usize::MAX] {
        let read = read(
            &Source::new("nhi.yaml", &text),
            Registry::builtin(),
            &text,
            parts,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(read.identities, whole.identities, "{parts}");
    }
    // The same identity at both ends is found across parts.
    writeln!(
        text,
        "  - name: svc-0\n    provider: demo\n    owner: again"
    )
    .unwrap();
    assert!(
        read(
            &Source::new("nhi.yaml", &text),
            Registry::builtin(),
            &text,
            0,
            &mut |_| {}
        )
        .is_err()
    );
    assert!(full(&text).is_none());
}

#[test]
fn yaml_outside_the_subset_is_declined() {
    let cases = [
        // Anchors, aliases, tags, merge keys.
        "    description: &d text\n",
        "    description: *d\n",
        "    description: !!str text\n",
        "    tags: {<<: {a: b}}\n",
        // Block and multi-line scalars, trailing comments.
        "    description: |\n      text\n",
        "    description: >\n      text\n",
        "    description: two\n      lines\n",
        "    description: \"two\n      lines\"\n",
        "    description: text # comment\n",
        "    description: \"a\\tb\"\n",
        "    description: 'it''s'\n",
        // Nulls and non-strings where JSON values are read.
        "    description:\n",
        "    owner: ~\n",
        "    attributes: {a: 1}\n",
        "    attributes: {a: true}\n",
        "    attributes: {a: null}\n",
        "    keys:\n      - name: k\n        sink: {file: 012}\n",
        // Flow collections across lines or nested.
        "    tags: {a: b,\n      c: d}\n",
        "    attributes: {a: {b: c}}\n",
        "    attributes: {a: [b, ]}\n",
        // Quoted and odd keys, duplicates.
        "    \"tags\": {}\n",
        "    tags: {a: b, a: c}\n",
        "    owner: you\n",
        "    ? description\n    : text\n",
        "    unknown: x\n",
    ];
    for case in cases {
        let text = format!("{BASE}{case}");
        assert!(plain(&text).is_none(), "accepted:\n{text}");
    }
    for text in [
        format!("\u{feff}{BASE}"),
        BASE.replace('\n', "\r\n"),
        BASE.replace("    owner", "\towner"),
        format!("---\n{BASE}"),
        format!("{BASE}...\n"),
        format!("%YAML 1.2\n---\n{BASE}"),
        BASE.replace("version: 1", "version: 2"),
        BASE.replace("version: 1", "version: 01"),
        BASE.replace("version: 1", "version: \"1\""),
        BASE.replace("name: ci", "name: CI"),
        BASE.replace("owner: me", "owner: ''"),
        String::new(),
        "# nothing\n".into(),
    ] {
        assert!(plain(&text).is_none(), "accepted:\n{text}");
    }
}

/// Scalars as written in YAML: plain, quoted, and the spellings that trip readers.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9-]{0,8}",
        1 => "[a-zA-Z0-9 ._/@:#,'-]{0,12}",
        1 => "'[a-zA-Z0-9 ._/@:#,\"-]{0,8}'",
        1 => "\"[a-zA-Z0-9 ._/@:#,'-]{0,8}\"",
        1 => prop::sample::select(vec![
            "null", "Null", "~", "true", "True", "FALSE", "yes", "no", "on", "off", "y", "n",
            "123", "0x1F", "1e3", "007", "-1", "+1", ".5", ".nan", ".inf", "nan", "inf",
            "2027-01-31", "90d", "0d", "stdout", "*", "'*'", "\"*\"", "&a x", "*a", "!x y",
            "a: b", "a #b", "a#b", "a:b", "[]", "{}", "[a]", "{a: b}", "[a, b]", "|", ">",
            "''", "\"\"", "'it''s'", "\"a\\\"b\"", "é", "a, b", "a [b]", "-", "- a", "?",
            "%x", "@x", "`x`", "x:", "a  b",
        ])
        .prop_map(str::to_owned),
    ]
}

/// A small JSON-ish value written as YAML at `indent` (block or flow).
fn value_yaml() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[A-Za-z][A-Za-z0-9_]{0,6}|true|null|n", scalar()), 0..4)
}

#[derive(Debug, Clone)]
struct Style {
    step: usize,
    indent_items: bool,
    flow: bool,
    comments: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (
        prop::sample::select(vec![1usize, 2, 3, 4]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(step, indent_items, flow, comments)| Style {
            step,
            indent_items,
            flow,
            comments,
        })
}

/// One field of an identity, key or binding: `(key, value)` as written.
fn fields(names: &'static [&'static str]) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop::sample::select(names.to_vec()).prop_map(str::to_owned),
            scalar(),
        ),
        0..5,
    )
}

type Fields = Vec<(String, String)>;

/// A name, an owner, more fields, tags, keys, and bindings with their policies.
type GenIdentity = (
    String,
    String,
    Fields,
    Fields,
    Vec<Fields>,
    Vec<(Fields, Fields)>,
);

#[derive(Debug, Clone)]
struct Gen {
    style: Style,
    version: Option<String>,
    prune: Option<String>,
    state: String,
    identities: Vec<GenIdentity>,
}

fn config() -> impl Strategy<Value = Gen> {
    let identity = (
        prop_oneof![3 => "[a-z][a-z0-9-]{0,6}", 1 => scalar()],
        prop_oneof![3 => Just("me@example.com".to_owned()), 1 => scalar()],
        fields(&["description", "kind", "expires", "owner"]),
        value_yaml(),
        prop::collection::vec(
            fields(&["name", "adopt", "rotate_after", "expires", "sink"]),
            0..3,
        ),
        prop::collection::vec((fields(&["role", "resource"]), value_yaml()), 0..3),
    );
    (
        style(),
        prop::option::of(prop_oneof![Just("1".to_owned()), scalar()]),
        prop::option::of(prop_oneof![
            Just("true".to_owned()),
            Just("false".to_owned()),
            scalar()
        ]),
        prop_oneof![3 => Just("estate.json".to_owned()), 1 => scalar()],
        prop::collection::vec(identity, 0..4),
    )
        .prop_map(|(style, version, prune, state, identities)| Gen {
            style,
            version,
            prune,
            state,
            identities,
        })
}

/// Writes `entries` as a mapping under a key line at `indent`, in block or flow style.
fn mapping(
    out: &mut String,
    indent: usize,
    style: &Style,
    key: &str,
    entries: &[(String, String)],
) {
    let pad = " ".repeat(indent);
    if style.flow || entries.is_empty() {
        let body: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        writeln!(out, "{pad}{key}: {{{}}}", body.join(", ")).unwrap();
    } else {
        writeln!(out, "{pad}{key}:").unwrap();
        let inner = " ".repeat(indent + style.step);
        for (k, v) in entries {
            writeln!(out, "{inner}{k}: {v}").unwrap();
        }
    }
}

/// Writes a list of mappings under `key`, each item's first entry on the dash line
/// and, when not empty, a `policy` mapping after it.
fn items(out: &mut String, indent: usize, style: &Style, key: &str, list: &[(Fields, Fields)]) {
    let pad = " ".repeat(indent);
    if list.is_empty() {
        writeln!(out, "{pad}{key}: []").unwrap();
        return;
    }
    writeln!(out, "{pad}{key}:").unwrap();
    let dash = if style.indent_items {
        indent + style.step
    } else {
        indent
    };
    for (entries, policy) in list {
        let body = dash + 2;
        if entries.is_empty() {
            writeln!(out, "{}- {{}}", " ".repeat(dash)).unwrap();
            continue;
        }
        for (i, (k, v)) in entries.iter().enumerate() {
            if i == 0 {
                writeln!(out, "{}- {k}: {v}", " ".repeat(dash)).unwrap();
                if style.comments {
                    writeln!(out, "{}# a comment", " ".repeat(body)).unwrap();
                }
            } else {
                writeln!(out, "{}{k}: {v}", " ".repeat(body)).unwrap();
            }
        }
        if !policy.is_empty() {
            mapping(out, body, style, "policy", policy);
        }
    }
}

fn render(g: &Gen) -> String {
    let s = &g.style;
    let mut out = String::new();
    if s.comments {
        out.push_str("# yaml-language-server: $schema=x\n\n");
    }
    if let Some(v) = &g.version {
        writeln!(out, "version: {v}").unwrap();
    }
    let step = " ".repeat(s.step);
    let dash = if s.indent_items {
        step.clone()
    } else {
        String::new()
    };
    writeln!(out, "providers:\n{dash}- name: demo\n{dash}  type: local").unwrap();
    if let Some(p) = &g.prune {
        writeln!(out, "{dash}  prune: {p}").unwrap();
    }
    mapping(
        &mut out,
        dash.len() + 2,
        s,
        "settings",
        &[("state".into(), g.state.clone())],
    );
    if g.identities.is_empty() {
        out.push_str("identities: []\n");
        return out;
    }
    out.push_str("identities:\n");
    for (name, owner, extra, tags, keys, bindings) in &g.identities {
        writeln!(
            out,
            "{dash}- name: {name}\n{dash}  provider: demo\n{dash}  owner: {owner}"
        )
        .unwrap();
        for (k, v) in extra {
            writeln!(out, "{dash}  {k}: {v}").unwrap();
        }
        if s.comments {
            out.push_str("\n   # between fields\n");
        }
        mapping(&mut out, dash.len() + 2, s, "tags", tags);
        let keys: Vec<(Fields, Fields)> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        items(&mut out, dash.len() + 2, s, "keys", &keys);
        items(&mut out, dash.len() + 2, s, "bindings", bindings);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn the_plain_reader_builds_what_the_full_parser_builds(g in config()) {
        agree(&render(&g));
    }

    #[test]
    fn arbitrary_edits_never_make_the_readers_disagree(
        cut in 0usize..400,
        insert in prop::sample::select(vec![" ", "\n", "#", ":", "- ", "'", "\"", "  ", "*", "&", "!", "[", "{", ",", "~", "\t"]),
    ) {
        let text = std::fs::read_to_string("examples/quickstart/nhi.yaml").unwrap();
        let at = text.char_indices().map(|(i, _)| i).nth(cut % text.chars().count()).unwrap_or(0);
        let mut edited = text.clone();
        edited.insert_str(at, insert);
        agree(&edited);
    }
}

#[test]
fn early_provider_blocks_are_the_blocks_of_the_result() {
    let mut calls = Vec::new();
    let valid = read(
        &Source::new("nhi.yaml", BASE),
        Registry::builtin(),
        BASE,
        0,
        &mut |blocks| {
            calls.push(blocks.to_vec());
        },
    )
    .unwrap();
    assert_eq!(calls, [valid.providers]);
    // Below the size for parallel reading, nothing is started early.
    let mut called = false;
    read(
        &Source::new("nhi.yaml", BASE),
        Registry::builtin(),
        BASE,
        usize::MAX,
        &mut |_| called = true,
    )
    .unwrap();
    assert!(!called);
    // A file this reader declines after the blocks still loads the same blocks.
    let text = format!("{BASE}    attributes: {{a: 1}}\n");
    let mut early = Vec::new();
    assert!(
        read(
            &Source::new("nhi.yaml", &text),
            Registry::builtin(),
            &text,
            0,
            &mut |b| early.push(b.to_vec())
        )
        .is_err()
    );
    let config = super::super::parse(std::path::Path::new("nhi.yaml"), &text);
    if let Ok(config) = config {
        assert_eq!(early, [config.providers]);
    }
}

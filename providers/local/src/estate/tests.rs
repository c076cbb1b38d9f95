//! Tests of the estate encoding: exact bytes, strict decoding, hostile input.

use std::collections::BTreeMap;
use std::fs;

use nhi_provider_sdk::{Binding, Identity, KeyStatus, ObservedKey, Policy};

use super::codec::parse_whole;
use super::lines::{OpenFile, PARALLEL_BYTES, parse_lines_at};
use super::*;

fn identity(name: &str) -> ObservedIdentity {
    ObservedIdentity {
        identity: Identity {
            name: name.to_owned(),
            kind: "service_account".to_owned(),
            owner: "team-a".to_owned(),
            description: "does things".to_owned(),
            tags: nhi_provider_sdk::Tags::from([("env".to_owned(), "prod".to_owned())]),
            attributes: BTreeMap::new(),
        },
        keys: vec![ObservedKey {
            id: format!("LK{name}"),
            name: Some("primary".to_owned()),
            created: "2025-01-02T03:04:05Z".parse().unwrap(),
            status: KeyStatus::Active,
            last_used: None,
            expires: None,
            leaked: None,
        }],
        bindings: vec![Binding {
            role: "viewer".to_owned(),
            resource: "*".to_owned(),
            policy: Some(serde_json::json!({"Statement": []}).into()),
        }],
    }
}

fn encoded(identities: &[ObservedIdentity]) -> String {
    let mut out = Vec::new();
    encode(&mut out, identities).unwrap();
    String::from_utf8(out).unwrap()
}

fn corrupt(bytes: &[u8]) -> String {
    match parse(bytes, Path::new("/e/estate.json")) {
        Err(ProviderError::Corrupt(message)) => message,
        other => panic!("not corrupt: {other:?}"),
    }
}

#[test]
fn encoding_is_exact_and_identities_encode_as_the_sdk_does() {
    assert_eq!(encoded(&[]), "{\"nhi_local_estate\":1,\"identities\":[]}\n");
    let identities = [identity("a"), identity("b")];
    let text = encoded(&identities);
    let sdk = |i: &ObservedIdentity| serde_json::to_string(i).unwrap();
    assert_eq!(
        text,
        format!(
            "{{\"nhi_local_estate\":1,\"identities\":[\n{},\n{}\n]}}\n",
            sdk(&identities[0]),
            sdk(&identities[1])
        )
    );
    assert!(text.contains(
        r#"{"name":"a","kind":"service_account","owner":"team-a","description":"does things","tags":{"env":"prod"},"keys":[{"id":"LKa","name":"primary","created":"2025-01-02T03:04:05Z","status":"active"}],"bindings":[{"role":"viewer","resource":"*","policy":{"Statement":[]}}]}"#
    ));
    assert_eq!(parse(text.as_bytes(), Path::new("e")).unwrap(), identities);
}

#[test]
fn decoding_accepts_what_the_sdk_accepts() {
    let cases: &[(&str, &[&str])] = &[
        (r#"{"nhi_local_estate":1}"#, &[]),
        (r#"{"identities":[],"nhi_local_estate":1}"#, &[]),
        (r#" { "nhi_local_estate" : 1 , "identities" : [ ] } "#, &[]),
        (
            r#"{"nhi_local_estate":1,"identities":[{"name":"c","kind":"user","owner":"o"},{"name":"a","kind":"user","owner":"o"},{"name":"b","kind":"user","owner":"o"}]}"#,
            &["a", "b", "c"],
        ),
    ];
    for (text, names) in cases {
        let got = parse(text.as_bytes(), Path::new("e")).unwrap();
        let got: Vec<&str> = got.iter().map(|i| i.identity.name.as_str()).collect();
        assert_eq!(&got, names, "{text}");
    }
}

#[test]
fn hostile_input_is_corrupt_with_path_and_position() {
    let nested = |prefix: &str| {
        let mut text = prefix.as_bytes().to_vec();
        text.resize(prefix.len() + 2 * 1024 * 1024, b'[');
        text
    };
    let id = |name: &str| format!(r#"{{"name":"{name}","kind":"user","owner":"o"}}"#);
    let estate = |body: String| {
        format!("{{\"nhi_local_estate\":1,\"identities\":[\n{body}\n]}}").into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "EOF while parsing a value at line 1 column 0"),
        ("garbage", b"\x00\xffnot json".to_vec(), "expected value at line 1 column 1"),
        ("array", b"[]".to_vec(), "invalid type: sequence, expected a local estate"),
        ("deep", nested(""), "invalid type: sequence"),
        ("deep identities", nested(r#"{"nhi_local_estate":1,"identities":["#), "invalid type: sequence"),
        ("deep ignored", nested(r#"{"nhi_local_estate":2,"identities":"#), "EOF while parsing a list"),
        ("deep policy", estate(format!(
            r#"{{"name":"a","kind":"user","owner":"o","bindings":[{{"role":"r","resource":"*","policy":{}}}]}}"#,
            "[".repeat(100_000)
        )), "expected value at line 2 column 100087"),
        ("deep closed policy", estate(format!(
            r#"{{"name":"a","kind":"user","owner":"o","bindings":[{{"role":"r","resource":"*","policy":{}{}}}]}}"#,
            "[".repeat(100_000), "]".repeat(100_000)
        )), "recursion limit exceeded"),
        ("truncated", br#"{"nhi_local_estate":1,"identities":[{"name":"a""#.to_vec(), "EOF while parsing"),
        ("no version", br#"{"identities":[]}"#.to_vec(), "missing field `nhi_local_estate`"),
        ("text version", br#"{"nhi_local_estate":"1"}"#.to_vec(), "invalid type: string \"1\", expected u64"),
        ("negative version", br#"{"nhi_local_estate":-1}"#.to_vec(), "invalid value: integer `-1`"),
        ("two versions", br#"{"nhi_local_estate":1,"nhi_local_estate":1}"#.to_vec(), "duplicate field `nhi_local_estate`"),
        ("unknown field", br#"{"nhi_local_estate":1,"extra":0}"#.to_vec(), "unknown field `extra`"),
        ("unknown identity field", estate(r#"{"name":"a","kind":"user","owner":"o","secret":"x"}"#.to_owned()), "unknown field `secret`"),
        ("missing owner", estate(r#"{"name":"a","kind":"user"}"#.to_owned()), "missing field `owner`"),
        ("duplicate name", estate(format!("{},\n{}", id("a"), id("a"))), "identity `a` appears more than once at line 3 column"),
        ("duplicate unsorted", estate(format!("{},\n{},\n{},\n{}", id("b"), id("c"), id("a"), id("c"))), "identity `c` appears more than once at line 5"),
        ("duplicate key", estate(r#"{"name":"a","kind":"user","owner":"o","keys":[
            {"id":"K1","created":"2025-01-01T00:00:00Z","status":"active"},
            {"id":"K1","created":"2025-01-01T00:00:00Z","status":"inactive"}]}"#.to_owned()), "identity `a` has key `K1` more than once at line 4"),
        ("duplicate binding", estate(r#"{"name":"a","kind":"user","owner":"o","bindings":[{"role":"r","resource":"*"},{"role":"r","resource":"*","policy":{}}]}"#.to_owned()), "identity `a` has binding `r` on `*` more than once at line 2"),
        ("bad time", estate(r#"{"name":"a","kind":"user","owner":"o","keys":[{"id":"K","created":"yesterday","status":"active"}]}"#.to_owned()), "line 2"),
        ("trailing", br#"{"nhi_local_estate":1}{}"#.to_vec(), "trailing characters at line 1 column 23"),
    ];
    for (what, bytes, want) in cases {
        let message = corrupt(&bytes);
        assert!(
            message.starts_with("estate file `/e/estate.json`: "),
            "{what}: {message}"
        );
        assert!(message.contains(want), "{what}: {message}");
    }
}

#[test]
fn many_duplicate_keys_are_found_too() {
    let mut observed = identity("a");
    observed.keys = (0..40)
        .map(|i| ObservedKey {
            id: format!("K{}", i % 39),
            ..observed.keys[0].clone()
        })
        .collect();
    assert_eq!(
        check_members(&observed).unwrap_err(),
        "identity `a` has key `K0` more than once"
    );
    observed.keys.pop();
    assert_eq!(check_members(&observed), Ok(()));
}

#[test]
fn other_versions_are_refused_by_number() {
    let want = "estate file `/e/estate.json` has format version `2`, but this nhi reads only version `1`; \
                use the nhi release that wrote it";
    for text in [
        r#"{"nhi_local_estate":2}"#,
        r#"{"nhi_local_estate":2,"identities":{"shape":"new"},"more":[1]}"#,
        r#"{"identities":[],"nhi_local_estate":2}"#,
    ] {
        assert_eq!(corrupt(text.as_bytes()), want, "{text}");
    }
}

#[test]
fn missing_file_is_an_empty_estate_and_stores_leave_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("estate.json");
    assert_eq!(read_estate(&path).unwrap(), ObservedState::default());
    assert_eq!(current_stamp(&path).unwrap(), None);

    let state = ObservedState {
        identities: vec![identity("b"), identity("a")],
    };
    write_estate(&path, &state).unwrap();
    let stamp = current_stamp(&path).unwrap();
    assert!(stamp.is_some());
    let read = read_estate(&path).unwrap();
    assert_eq!(read.identities, vec![identity("a"), identity("b")]);
    write_estate(&path, &ObservedState::default()).unwrap();
    assert_ne!(current_stamp(&path).unwrap(), stamp);

    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["estate.json"]);

    let twice = ObservedState {
        identities: vec![identity("a"), identity("a")],
    };
    let err = write_estate(&path, &twice).unwrap_err();
    assert_eq!(err.to_string(), "identity `a` appears more than once");
}

#[test]
fn failed_store_names_the_file_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The estate path is a directory, so the rename fails after the temp file is written.
    let path = dir.path().join("estate.json");
    fs::create_dir(&path).unwrap();
    fs::write(path.join("inside"), "x").unwrap();
    let err = write_estate(&path, &ObservedState::default()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot write estate file `{}`", path.display())),
        "{err}"
    );
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["estate.json"]);

    let err = read_estate(&path).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read estate file `{}`", path.display())),
        "{err}"
    );
}

/// The line-by-line reader must decode exactly what the whole-file reader does,
/// in any number of parts, and leave every file it does not fully accept to it.
#[test]
fn policies_decode_as_the_sdk_decodes_them_however_they_are_spelled() {
    for policy in [
        r#"{"Statement":[{"Action":["s3:GetObject"],"Effect":"Allow"}],"Version":"2012-10-17"}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"]}]}"#,
        r#"{ "b" : [ 1 , 2 ] , "a" : null }"#,
        r#"{"a":1,"a":2}"#,
        r#"{"n":1.50,"m":-0,"e":1e2,"big":123456789012345678901}"#,
        r#"{"s":"line\nbreak \u0041 \/ caf\u00e9"}"#,
        r#""just a string""#,
        "[]",
    ] {
        let line = format!(
            r#"{{"name":"a","kind":"user","owner":"o","bindings":[{{"role":"r","resource":"*","policy":{policy}}}]}}"#
        );
        let text = format!("{{\"nhi_local_estate\":1,\"identities\":[\n{line}\n]}}\n");
        let sdk: Binding = serde_json::from_str(&format!(
            r#"{{"role":"r","resource":"*","policy":{policy}}}"#
        ))
        .unwrap();
        let want = Policy::new(&serde_json::from_str(policy).unwrap());
        assert_eq!(sdk.policy.as_ref(), Some(&want), "{policy}");
        let whole = parse_whole(text.as_bytes(), Path::new("e")).unwrap();
        assert_eq!(whole[0].bindings, std::slice::from_ref(&sdk), "{policy}");
        let lines = parse_lines_at(text.as_bytes(), 0).unwrap();
        assert_eq!(lines[0].bindings, [sdk], "{policy}");
    }
}

#[test]
fn line_by_line_decoding_agrees_with_whole_file_decoding() {
    let mut identities: Vec<ObservedIdentity> =
        (0..300).map(|i| identity(&format!("svc-{i:04}"))).collect();
    identities[7].keys.clear();
    identities[8].bindings.clear();
    identities[9].identity.tags.clear();
    identities[10].identity.description = "quote \" and newline \n and , \\n".into();
    identities[11]
        .identity
        .attributes
        .insert("trust".into(), serde_json::json!({"a": [1, "x"]}));
    let text = encoded(&identities);
    let whole = parse_whole(text.as_bytes(), Path::new("e")).unwrap();
    assert_eq!(whole, identities);
    for parallel_bytes in [0, 100, 10_000, usize::MAX] {
        assert_eq!(
            parse_lines_at(text.as_bytes(), parallel_bytes).as_ref(),
            Some(&identities),
            "{parallel_bytes}"
        );
    }
    // Every one-byte edit: the fast path either declines or agrees with the slow one.
    let small = encoded(&identities[..14]);
    let bytes = small.as_bytes();
    for at in (0..bytes.len()).step_by(5) {
        for insert in [b"\n".as_slice(), b" ", b",", b"}", b"x", b"\"", b"\\"] {
            let mut edited = bytes.to_vec();
            edited.splice(at..at, insert.iter().copied());
            if let Some(fast) = parse_lines_at(&edited[..], 0) {
                let slow = parse_whole(&edited, Path::new("e"))
                    .unwrap_or_else(|e| panic!("fast path accepted a corrupt file: {e:?}"));
                assert_eq!(fast, slow);
            }
        }
    }
    // An identity written as an array: serde reads structs from arrays, the
    // whole-file decoder does not, so neither does the fast path.
    let array = "{\"nhi_local_estate\":1,\"identities\":[\n[\"a\",\"user\",\"o\"]\n]}\n";
    assert!(parse_lines_at(array.as_bytes(), 0).is_none());
    assert!(parse_whole(array.as_bytes(), Path::new("e")).is_err());
    // Out of order, duplicated, or with a duplicate key: left to the whole-file reader.
    let mut swapped = identities.clone();
    swapped.swap(3, 200);
    let mut out = Vec::new();
    encode(&mut out, &swapped).unwrap();
    assert!(parse_lines_at(&out[..], 0).is_none());
    assert_eq!(parse(&out, Path::new("e")).unwrap(), identities);
    let mut twice = identities.clone();
    twice[5] = twice[4].clone();
    let mut out = Vec::new();
    encode(&mut out, &twice).unwrap();
    assert!(parse_lines_at(&out[..], 0).is_none());
    assert!(corrupt(&out).contains("appears more than once"));
    let mut dup_key = identities;
    let key = dup_key[1].keys[0].clone();
    dup_key[1].keys.push(key);
    let mut out = Vec::new();
    encode(&mut out, &dup_key).unwrap();
    assert!(parse_lines_at(&out[..], 0).is_none());
    assert!(corrupt(&out).contains("more than once"));
}

#[test]
fn a_large_file_is_decoded_in_parts_as_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("estate.json");
    let identities: Vec<ObservedIdentity> = (0..8_000)
        .map(|i| identity(&format!("svc-{i:05}")))
        .collect();
    let text = encoded(&identities);
    assert!(text.len() > 2 * PARALLEL_BYTES, "{}", text.len());
    fs::write(&path, &text).unwrap();
    let file = File::open(&path).unwrap();
    let size = file.metadata().unwrap().len();
    assert_eq!(
        parse_lines_at(&OpenFile(&file, size), PARALLEL_BYTES).as_ref(),
        Some(&identities)
    );
    assert_eq!(read_estate(&path).unwrap().identities, identities);
    // A file cut short is left to the whole-file decoder, which says where.
    fs::write(&path, &text.as_bytes()[..text.len() - 3]).unwrap();
    let err = read_estate(&path).unwrap_err().to_string();
    assert!(err.contains("EOF while parsing"), "{err}");
}

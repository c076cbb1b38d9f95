use super::*;
use crate::diff::Risk;

fn rules(text: &str) -> Result<Vec<Condition>, String> {
    let text = format!("allowed_signers: allowed_signers\nrules:\n{text}");
    TrustPolicy::parse(Path::new("trust.yaml"), &text)
        .map(|p| p.rules.into_iter().map(|r| r.when).collect())
        // Debug: the message and its help, whichever holds the spellings.
        .map_err(|e| format!("{e:?}"))
}

#[test]
fn rules_accept_the_printed_and_the_json_spelling_of_a_risk() {
    let cases: &[(&str, Condition)] = &[
        ("privilege-increasing", Risk::PrivilegeIncreasing.into()),
        ("privilege_increasing", Risk::PrivilegeIncreasing.into()),
        ("destructive", Risk::Destructive.into()),
        ("credential", Risk::Credential.into()),
        ("low", Risk::Low.into()),
        ("privilege-reducing", Risk::PrivilegeReducing.into()),
        ("privilege_reducing", Risk::PrivilegeReducing.into()),
        ("soft", Condition::Soft),
        ("exception", Condition::Exception),
        ("partial", Condition::Partial),
        ("replace requested", Condition::ReplaceRequested),
        ("replace_requested", Condition::ReplaceRequested),
        ("replace-requested", Condition::ReplaceRequested),
        (
            "finding:admin-privilege",
            Condition::Finding("admin-privilege".into()),
        ),
        (
            "finding:rego:ci-no-keys",
            Condition::Finding("rego:ci-no-keys".into()),
        ),
    ];
    for (spelling, want) in cases {
        let got = rules(&format!("  - when: {spelling}\n    required: 2\n"));
        assert_eq!(got, Ok(vec![want.clone()]), "{spelling}");
    }
    let err = rules("  - when: finding:admin-privilige\n").unwrap_err();
    assert!(
        err.contains("unknown rule `admin-privilige`") && err.contains("admin-privilege"),
        "an unknown rule lists the built-in ones: {err}"
    );
    let err = rules("  - when: privilege increasing\n").unwrap_err();
    assert!(
        err.contains("privilege-increasing") && err.contains("privilege-reducing"),
        "an unknown risk lists the printed spellings: {err}"
    );
}

/// Message, label and help of a refused policy, as the user reads them.
pub(in crate::trust) fn refused(text: &str) -> (String, Vec<String>, String) {
    let err = TrustPolicy::parse(Path::new("ops/trust.yaml"), text).unwrap_err();
    let labels = miette::Diagnostic::labels(&err)
        .map(|l| {
            l.map(|l| format!("{}: {}", l.offset(), l.label().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    let help = miette::Diagnostic::help(&err)
        .map(|h| h.to_string())
        .unwrap_or_default();
    (err.to_string(), labels, help)
}

#[test]
fn policy_errors_name_the_file_and_point_at_the_text() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "allowed_signers: a\naprovals:\n  required: 2\n",
            "cannot use trust policy `ops/trust.yaml`: unknown field `aprovals`",
            "19: not a field here",
            "did you mean `approvals`?",
        ),
        (
            "allowed_signers: a\napprovals: {required: 0}\n",
            "cannot use trust policy `ops/trust.yaml`: `approvals.required` is 0",
            "41: no approval would be needed",
            "set it to 1 or more (`approvals.author_counts: true` lets the author's own approval count); a policy that needs no signatures at all also sets `require_author_signature: false`",
        ),
        (
            "allowed_signers: a\nrules:\n  - when: destructive\n    required: 0\n",
            "cannot use trust policy `ops/trust.yaml`: a rule's `required` is 0",
            "62: a rule can only raise the bar",
            "set it to 1 or more, or remove it to keep `approvals.required`",
        ),
    ];
    for (text, message, label, help) in cases {
        let (got, labels, got_help) = refused(text);
        assert_eq!(got, *message, "{text}");
        assert_eq!(labels, vec![(*label).to_owned()], "{text}");
        assert_eq!(got_help, *help, "{text}");
    }
}

#[test]
fn an_s3_backend_keeps_the_log_in_its_bucket_and_prefix() {
    let text = "allowed_signers: a\nbackend:\n  s3: {bucket: nhi-state, prefix: /teams/a/, endpoint_url: 'http://127.0.0.1:9'}\n";
    let policy = TrustPolicy::parse(Path::new("trust.yaml"), text).unwrap();
    assert_eq!(
        policy.receipt_log,
        Some(crate::backend::LogLocation::S3(
            crate::backend::S3Settings {
                bucket: "nhi-state".into(),
                prefix: "teams/a".into(),
                region: None,
                endpoint_url: Some("http://127.0.0.1:9".into()),
                lease: crate::backend::DEFAULT_LEASE,
            }
        ))
    );
    let text = "allowed_signers: a\nbackend: {s3: {bucket: nhi-state, lease: 5m}}\n";
    let policy = TrustPolicy::parse(Path::new("trust.yaml"), text).unwrap();
    let s3 = policy.receipt_log.as_ref().and_then(|l| l.s3()).unwrap();
    assert_eq!(s3.lease, std::time::Duration::from_mins(5));
    assert_eq!(s3.url(), "s3://nhi-state");
}

#[test]
fn a_backend_beside_a_receipt_log_or_with_bad_settings_is_refused_at_its_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "allowed_signers: a\nreceipt_log: log\nbackend:\n  s3: {bucket: nhi-state}\n",
            "cannot use trust policy `ops/trust.yaml`: `receipt_log` and `backend` are both given",
            "the log would be kept here too",
        ),
        (
            "allowed_signers: a\nbackend: {s3: {bucket: Nhi_State}}\n",
            "cannot use trust policy `ops/trust.yaml`: `backend.s3.bucket` is not a bucket name",
            "`Nhi_State` is not an S3 bucket name (3 to 63 lowercase letters, digits, `.` and `-`)",
        ),
        (
            "allowed_signers: a\nbackend: {s3: {bucket: nhi-state, prefix: a/../b}}\n",
            "cannot use trust policy `ops/trust.yaml`: `backend.s3.prefix` is not a key prefix",
            "`a/../b` is not a key prefix nhi uses (letters, digits, `-`, `_`, `.` and `/` between segments)",
        ),
        (
            "allowed_signers: a\nbackend: {s3: {bucket: nhi-state, lease: 2h}}\n",
            "cannot use trust policy `ops/trust.yaml`: `backend.s3.lease` is not a lease length",
            "shorter than 1s or longer than 1h",
        ),
    ];
    for (text, message, label) in cases {
        let (got, labels, _) = refused(text);
        assert_eq!(got, *message, "{text}");
        assert_eq!(labels.len(), 1, "{text}");
        assert!(
            labels[0].ends_with(&format!(": {label}")),
            "{text}: {labels:?}"
        );
    }
}

#[test]
fn an_open_policy_needs_no_approvals() {
    let text = "allowed_signers: a\nrequire_author_signature: false\napprovals: {required: 0}\n";
    let policy = TrustPolicy::parse(Path::new("trust.yaml"), text).unwrap();
    assert_eq!(policy.required, 0);
}

#[cfg(unix)]
#[test]
fn a_linked_policy_finds_its_allowed_signers_beside_the_real_file() {
    let home = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("trust.yaml"),
        "allowed_signers: allowed_signers\n",
    )
    .unwrap();
    let link = repo.path().join("trust.yaml");
    std::os::unix::fs::symlink(home.path().join("trust.yaml"), &link).unwrap();
    let policy = TrustPolicy::load(&link).unwrap();
    assert_eq!(
        policy.allowed_signers,
        std::fs::canonicalize(home.path())
            .unwrap()
            .join("allowed_signers")
    );
    assert_eq!(policy.path, link, "errors still name the file as given");
}

#[test]
fn a_missing_policy_file_says_so() {
    let err = TrustPolicy::load(Path::new("no/such/trust.yaml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot use trust policy `no/such/trust.yaml`: no such file or directory (os error 2)"
    );
}

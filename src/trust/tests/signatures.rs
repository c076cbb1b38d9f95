//! Signatures that do not verify, and the allowed signers options (namespaces,
//! validity windows, certificate authorities) that decide whether a key is listed.

use nhi_provider_sdk::Digest;

use super::{
    ALICE, BOB, CAROL, Refusal, Sig, Team, approval, author, body, created, digest, judge, mins,
    now, policy,
};
use crate::diff::Risk;
use crate::plan::SignatureRecord;
use crate::trust::{PLAN_NAMESPACE, RECEIPT_NAMESPACE, Role, TrustError, Verdict, judge_plan};

#[test]
fn signatures_that_do_not_verify_refuse_the_plan_and_hide_nothing_else() {
    let team = Team::new();
    let signers = team.everyone();
    let other = Digest::of(b"another plan body");
    let bad = |index: usize, detail: &str| {
        (
            "nhi::trust::bad_signature".to_owned(),
            format!("signature {index} is invalid: {detail}"),
        )
    };
    let unknown = |role: &str, principal: &str, key: &str| {
        (
            "nhi::trust::unknown_signer".to_owned(),
            format!(
                "the {role} signature claims principal `{principal}`, but allowed signers do not list its key `{}` for `{principal}`",
                team.fingerprint(key)
            ),
        )
    };
    let signed_at = |m: i64| created() + mins(m);
    let alice = team.record(&author("alice", ALICE), PLAN_NAMESPACE, digest());
    let bob = approval("bob", BOB, 1);
    let at = |minutes: i64| Sig { minutes, ..bob };
    let tampered = {
        let mut record = team.record(
            &Sig {
                comment: Some("looks right"),
                ..bob
            },
            PLAN_NAMESPACE,
            digest(),
        );
        record.statement = record.statement.replace("looks right", "looks wrong");
        record
    };
    let cases: Vec<(&str, SignatureRecord, Refusal)> = vec![
        (
            "a good approval",
            team.record(&bob, PLAN_NAMESPACE, digest()),
            None,
        ),
        (
            "made for another plan",
            team.record(&bob, PLAN_NAMESPACE, other),
            Some((
                "nhi::trust::wrong_plan".into(),
                format!(
                    "the approver signature of `bob@example.com` was made for another plan (`{other}`), not this one (`{}`)",
                    digest()
                ),
            )),
        ),
        (
            "made in another namespace",
            team.record(&bob, RECEIPT_NAMESPACE, digest()),
            Some(bad(2, "namespace `nhi-receipt` is not `nhi-plan`")),
        ),
        (
            "a statement changed after signing",
            tampered,
            Some(bad(
                2,
                "the approver signature of `bob@example.com` does not verify",
            )),
        ),
        (
            "not a signature at all",
            SignatureRecord {
                signature: "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"
                    .into(),
                ..team.record(&bob, PLAN_NAMESPACE, digest())
            },
            Some((
                "nhi::trust::bad_signature".into(),
                String::new(), // checked by prefix below
            )),
        ),
        (
            "an applier signature",
            team.record(
                &Sig {
                    role: Role::Applier,
                    ..bob
                },
                PLAN_NAMESPACE,
                digest(),
            ),
            Some(bad(2, "an applier signature has no place on a plan")),
        ),
        (
            "a key no allowed signer has",
            team.record(
                &approval("mallory", "mallory@example.com", 1),
                PLAN_NAMESPACE,
                digest(),
            ),
            Some(unknown("approver", "mallory@example.com", "mallory")),
        ),
        (
            "an unknown key claiming a known principal",
            team.record(&approval("mallory", BOB, 1), PLAN_NAMESPACE, digest()),
            Some(unknown("approver", BOB, "mallory")),
        ),
        (
            "a known key claiming another principal",
            team.record(&approval("bob", CAROL, 1), PLAN_NAMESPACE, digest()),
            Some(unknown("approver", CAROL, "bob")),
        ),
        (
            "claiming a time within the skew before the plan",
            team.record(&at(-4), PLAN_NAMESPACE, digest()),
            None,
        ),
        (
            "claiming a time before the plan",
            team.record(&at(-6), PLAN_NAMESPACE, digest()),
            Some(bad(
                2,
                &format!(
                    "it claims to be signed at {}, before the plan was made",
                    signed_at(-6)
                ),
            )),
        ),
        (
            "claiming a time within the skew after now",
            team.record(&at(64), PLAN_NAMESPACE, digest()),
            None,
        ),
        (
            "claiming a time in the future",
            team.record(&at(66), PLAN_NAMESPACE, digest()),
            Some(bad(
                2,
                &format!("it claims to be signed at {}, in the future", signed_at(66)),
            )),
        ),
    ];
    for (name, record, want) in cases {
        let records = [alice.clone(), record];
        let got = judge(&body(&[Risk::Low]), &records, &policy(), &signers);
        if want.is_some() {
            // The failing signature counts for nothing; the author still shows.
            assert_eq!(got.author.as_deref(), Some(ALICE), "{name}");
            assert!(got.counted.is_empty() && got.ignored.is_empty(), "{name}");
        }
        match want {
            Some((code, message)) if message.is_empty() => {
                let (got_code, got_message) = got.failure.expect(name);
                assert_eq!(got_code, code, "{name}");
                assert!(
                    got_message.starts_with("signature 2 is invalid: not an SSH signature: "),
                    "{name}: {got_message}"
                );
            }
            want => assert_eq!(got.failure, want, "{name}"),
        }
    }
    // The unknown signer's help names what the key is listed as.
    let records = [
        alice,
        team.record(&approval("bob", CAROL, 1), PLAN_NAMESPACE, digest()),
    ];
    let (_, failure) = judge_plan(
        &body(&[Risk::Low]),
        &digest(),
        &records,
        &policy(),
        &signers,
        now(),
    );
    let Some(TrustError::UnknownSigner { listed, .. }) = failure else {
        panic!("{failure:?}");
    };
    assert_eq!(listed, BOB);
}

#[test]
fn allowed_signers_bind_keys_to_namespaces_and_times() {
    let team = Team::new();
    // Allowed signers times: `YYYYMMDDHHMMSSZ`, minutes from the plan's creation.
    let at = |m: i64| (created() + mins(m)).strftime("%Y%m%d%H%M%SZ").to_string();
    let unknown = (
        "nhi::trust::unknown_signer".to_owned(),
        format!(
            "the approver signature claims principal `bob@example.com`, but allowed signers do not list its key `{}` for `bob@example.com`",
            team.fingerprint("bob")
        ),
    );
    // Bob approves ten minutes after planning; now is sixty minutes after.
    let cases: Vec<(&str, String, Refusal)> = vec![
        ("no options", String::new(), None),
        (
            "valid from before the signature",
            format!("valid-after={}", at(5)),
            None,
        ),
        (
            "valid from after the signature",
            format!("valid-after={}", at(20)),
            Some(unknown.clone()),
        ),
        (
            "valid from after now",
            format!("valid-after={}", at(90)),
            Some(unknown.clone()),
        ),
        (
            "valid until after now",
            format!("valid-before={}", at(90)),
            None,
        ),
        (
            "retired between the signature and now",
            format!("valid-before={}", at(30)),
            Some(unknown.clone()),
        ),
        (
            "retired before the signature",
            format!("valid-before={}", at(5)),
            Some(unknown.clone()),
        ),
        (
            "a window around both",
            format!("valid-after={},valid-before={}", at(5), at(90)),
            None,
        ),
        (
            "listed for this namespace",
            "namespaces=\"git,nhi-plan\"".into(),
            None,
        ),
        (
            "listed for another namespace",
            "namespaces=\"git\"".into(),
            Some(unknown.clone()),
        ),
        (
            "a certificate authority",
            "cert-authority".into(),
            Some(unknown),
        ),
    ];
    for (name, options, want) in cases {
        let signers = team.signers(&[
            ("alice@example.com", "", "alice"),
            ("bob@example.com", options.as_str(), "bob"),
        ]);
        let sigs = [author("alice", ALICE), approval("bob", BOB, 10)];
        let got = judge(
            &body(&[Risk::Low]),
            &team.records(&sigs),
            &policy(),
            &signers,
        );
        assert_eq!(got.failure, want, "{name}");
    }
}

#[test]
fn one_junk_signature_does_not_blind_the_judgement() {
    let team = Team::new();
    let signers = team.everyone();
    let mut records = team.records(&[author("alice", ALICE), approval("bob", BOB, 1)]);
    // Appended by anyone: an approval by an unlisted key, and plain junk.
    records.push(team.record(
        &approval("mallory", "mallory@example.com", 2),
        PLAN_NAMESPACE,
        digest(),
    ));
    records.push(SignatureRecord {
        statement: "junk".into(),
        signature: "junk".into(),
    });
    let (standing, failure) = judge_plan(
        &body(&[Risk::Low]),
        &digest(),
        &records,
        &policy(),
        &signers,
        now(),
    );
    assert_eq!(
        standing.author.map(|a| a.statement.principal).as_deref(),
        Some(ALICE)
    );
    let counted: Vec<_> = standing
        .counted
        .iter()
        .map(|s| s.statement.principal.as_str())
        .collect();
    assert_eq!(counted, [BOB]);
    assert_eq!(standing.required, 1);
    assert!(standing.missing.is_empty(), "{:?}", standing.missing);
    let verdicts: Vec<String> = standing
        .signatures
        .iter()
        .map(|v| {
            let who = v
                .statement
                .as_ref()
                .map_or("?".to_owned(), |s| format!("{} {}", s.role, s.principal));
            let verdict = match &v.verdict {
                Verdict::Author => "author".to_owned(),
                Verdict::Counted => "counted".to_owned(),
                Verdict::Ignored(why) => format!("ignored: {why}"),
                Verdict::Invalid { code, .. } => format!("invalid: {code}"),
            };
            format!("{}. {who}: {verdict}", v.index)
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            "1. author alice@example.com: author",
            "2. approver bob@example.com: counted",
            "3. approver mallory@example.com: invalid: nhi::trust::unknown_signer",
            "4. ?: invalid: nhi::trust::bad_signature",
        ]
    );
    // Still refused, with the first signature that does not verify, and the way out.
    let failure = failure.expect("a plan carrying a bad signature is refused");
    assert_eq!(
        miette::Diagnostic::help(&failure).unwrap().to_string(),
        format!(
            "only keys in the trust policy's allowed_signers count; listed principals of this key: none (`nhi unsign PLAN 3` drops this signature)"
        )
    );
}

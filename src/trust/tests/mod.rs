//! The trust rules as pure functions: [`judge_plan`] and [`check_time`] with
//! ed25519 keys made in memory, so every rule is tested without `ssh-keygen` or
//! the binary. Each case asserts what a user sees: the counted and ignored
//! approvals `nhi verify` lists, and the exact code and message of the refusal.

use std::fmt::Write as _;

use miette::Diagnostic as _;
use nhi_provider_sdk::{Address, Binding, Digest, Identity, Operation, Sink, Tags};
use ssh_key::{Algorithm, PrivateKey};

use super::{
    AllowedSigners, PLAN_NAMESPACE, RECEIPT_NAMESPACE, Role, Rule, Signer, TrustError, TrustPolicy,
    check_time, judge_plan, sign,
};
use crate::diff::{Action, Change, Reason, Risk};
use crate::plan::{BODY_FORMAT_VERSION, ConfigRecord, PlanBody, SignatureRecord, Summary};

/// The applier's clock.
fn now() -> jiff::Timestamp {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

fn mins(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_mins(n)
}

/// The plan was made an hour ago.
fn created() -> jiff::Timestamp {
    now() - mins(60)
}

/// The digest every signature is meant for.
fn digest() -> Digest {
    Digest::of(b"the plan body")
}

/// The keys of the team; `bob2` is bob's second key, `mallory` is in no
/// allowed signers file.
struct Team {
    alice: Signer,
    bob: Signer,
    bob2: Signer,
    carol: Signer,
    security: Signer,
    mallory: Signer,
}

fn generate() -> Signer {
    let key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519).unwrap();
    Signer::File(Box::new(key))
}

impl Team {
    fn new() -> Self {
        Self {
            alice: generate(),
            bob: generate(),
            bob2: generate(),
            carol: generate(),
            security: generate(),
            mallory: generate(),
        }
    }

    fn key(&self, who: &str) -> &Signer {
        match who {
            "alice" => &self.alice,
            "bob" => &self.bob,
            "bob2" => &self.bob2,
            "carol" => &self.carol,
            "security" => &self.security,
            "mallory" => &self.mallory,
            other => panic!("no key `{other}`"),
        }
    }

    /// `SHA256:…` of a key, as messages show it.
    fn fingerprint(&self, who: &str) -> String {
        self.key(who)
            .public_key()
            .fingerprint(ssh_key::HashAlg::Sha256)
            .to_string()
    }

    /// An allowed signers file with one line per `(principals, options, key)`.
    fn signers(&self, lines: &[(&str, &str, &str)]) -> AllowedSigners {
        let mut text = String::new();
        for (principals, options, who) in lines {
            let key = self.key(who).public_key().to_openssh().unwrap();
            writeln!(text, "{principals} {options} {key}").unwrap();
        }
        AllowedSigners::parse(&text).unwrap()
    }

    /// Everyone but mallory, under their own principal; bob with both his keys.
    fn everyone(&self) -> AllowedSigners {
        self.signers(&[
            ("alice@example.com", "", "alice"),
            ("bob@example.com", "", "bob"),
            ("bob@example.com", "", "bob2"),
            ("carol@example.com", "", "carol"),
            ("security@example.com", "", "security"),
        ])
    }

    /// What `sig` describes, signed for `digest` in `namespace`.
    fn record(&self, sig: &Sig, namespace: &str, digest: Digest) -> SignatureRecord {
        sign(
            self.key(sig.key),
            namespace,
            sig.role,
            sig.principal,
            digest,
            created() + mins(sig.minutes),
            sig.comment,
        )
        .unwrap()
    }

    fn records(&self, sigs: &[Sig]) -> Vec<SignatureRecord> {
        sigs.iter()
            .map(|s| self.record(s, PLAN_NAMESPACE, digest()))
            .collect()
    }
}

/// One signature: whose key, in which role, claiming which principal, made how
/// many minutes after the plan.
#[derive(Clone, Copy)]
struct Sig {
    key: &'static str,
    role: Role,
    principal: &'static str,
    minutes: i64,
    comment: Option<&'static str>,
}

fn author(key: &'static str, principal: &'static str) -> Sig {
    Sig {
        key,
        role: Role::Author,
        principal,
        minutes: 0,
        comment: None,
    }
}

fn approval(key: &'static str, principal: &'static str, minutes: i64) -> Sig {
    Sig {
        key,
        role: Role::Approver,
        principal,
        minutes,
        comment: None,
    }
}

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";
const SECURITY: &str = "security@example.com";

/// One change of each given risk class.
fn body(risks: &[Risk]) -> PlanBody {
    let identity = Identity {
        name: "ci".into(),
        kind: "service_account".into(),
        owner: "team@example.com".into(),
        description: String::new(),
        tags: Tags::new(),
        attributes: std::collections::BTreeMap::new(),
    };
    let address = Address::provider("local", "demo").identity("ci");
    let changes: Vec<Change> = risks
        .iter()
        .map(|risk| {
            let (operation, sink) = match risk {
                Risk::Low => (
                    Operation::CreateIdentity {
                        identity: identity.clone(),
                    },
                    None,
                ),
                Risk::Credential => (
                    Operation::CreateKey {
                        identity: "ci".into(),
                        key: "primary".into(),
                    },
                    Some(Sink::Stdout),
                ),
                Risk::PrivilegeIncreasing => (
                    Operation::CreateBinding {
                        identity: "ci".into(),
                        binding: Binding {
                            role: "viewer".into(),
                            resource: "*".into(),
                            policy: None,
                        },
                    },
                    None,
                ),
                Risk::Destructive => (
                    Operation::DeleteIdentity {
                        identity: identity.clone(),
                    },
                    None,
                ),
            };
            assert_eq!(Risk::of(&operation), *risk);
            Change {
                address: address.clone(),
                action: Action::of(&operation),
                reason: Reason::New,
                risk: *risk,
                detail: None,
                operation,
                sink,
            }
        })
        .collect();
    PlanBody {
        format_version: BODY_FORMAT_VERSION,
        tool_version: "0.0.0".into(),
        created_at: created(),
        expires_at: created() + mins(24 * 60),
        author: ALICE.into(),
        config: ConfigRecord {
            path: "nhi.yaml".into(),
            digest: Digest::of(b"version: 1\n"),
        },
        scopes: Vec::new(),
        summary: Summary::of(&changes, 0),
        changes,
        touched: Vec::new(),
        unmanaged: Vec::new(),
    }
}

/// The policy of most cases: an author signature and one approval.
fn policy() -> TrustPolicy {
    TrustPolicy {
        path: "trust.yaml".into(),
        allowed_signers: "allowed_signers".into(),
        require_author_signature: true,
        authors: Vec::new(),
        required: 1,
        author_counts: false,
        max_plan_age: None,
        rules: Vec::new(),
    }
}

/// `nhi::…` code and message of a refusal, as the user reads them.
fn shown(err: &TrustError) -> (String, String) {
    let code = err.code().map(|c| c.to_string()).unwrap_or_default();
    (code, err.to_string())
}

/// A refusal's code and message as the user reads them; `None`: the plan passes.
type Refusal = Option<(String, String)>;

/// What `nhi verify` reports of a judged plan.
#[derive(Debug, PartialEq)]
struct Judged {
    author: Option<String>,
    counted: Vec<String>,
    ignored: Vec<(String, String)>,
    required: usize,
    failure: Refusal,
}

fn judge(
    body: &PlanBody,
    records: &[SignatureRecord],
    policy: &TrustPolicy,
    signers: &AllowedSigners,
) -> Judged {
    let (standing, failure) = judge_plan(body, &digest(), records, policy, signers, now());
    Judged {
        author: standing.author.map(|a| a.statement.principal),
        counted: standing
            .counted
            .into_iter()
            .map(|s| s.statement.principal)
            .collect(),
        ignored: standing
            .ignored
            .into_iter()
            .map(|(s, why)| (s.statement.principal, why))
            .collect(),
        required: standing.required,
        failure: failure.as_ref().map(shown),
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn insufficient(have: usize, need: usize, detail: &str) -> (String, String) {
    (
        "nhi::trust::insufficient_approvals".into(),
        format!(
            "the plan's approvals do not meet the trust policy ({have} counted, {need} required): {detail}"
        ),
    )
}

#[test]
fn the_author_signature_is_required_unless_the_policy_waives_it() {
    /// (case, policy edit, signatures, the author `nhi verify` names, refusal)
    type Case = (
        &'static str,
        fn(&mut TrustPolicy),
        Vec<Sig>,
        Option<&'static str>,
        Refusal,
    );
    fn open(p: &mut TrustPolicy) {
        p.required = 0;
    }
    let team = Team::new();
    let signers = team.everyone();
    let cases: Vec<Case> = vec![
        (
            "unsigned, the default",
            open,
            vec![],
            None,
            Some((
                "nhi::trust::unsigned".into(),
                "the plan has no author signature".into(),
            )),
        ),
        (
            "unsigned, waived",
            |p| {
                p.required = 0;
                p.require_author_signature = false;
            },
            vec![],
            None,
            None,
        ),
        (
            "only approvals",
            |_| {},
            vec![approval("bob", BOB, 1)],
            None,
            Some((
                "nhi::trust::unsigned".into(),
                "the plan has no author signature".into(),
            )),
        ),
        (
            "signed",
            open,
            vec![author("alice", ALICE)],
            Some(ALICE),
            None,
        ),
        (
            "two authors",
            open,
            vec![author("alice", ALICE), author("carol", CAROL)],
            None,
            Some((
                "nhi::trust::multiple_authors".into(),
                "the plan has 2 author signatures".into(),
            )),
        ),
        (
            "an author the policy does not name",
            |p| {
                p.required = 0;
                p.authors = vec![CAROL.into()];
            },
            vec![author("alice", ALICE)],
            Some(ALICE),
            Some((
                "nhi::trust::author_not_allowed".into(),
                "author `alice@example.com` may not author plans under this trust policy".into(),
            )),
        ),
        (
            "an author the policy names",
            |p| {
                p.required = 0;
                p.authors = vec![CAROL.into(), ALICE.into()];
            },
            vec![author("alice", ALICE)],
            Some(ALICE),
            None,
        ),
    ];
    for (name, edit, sigs, want_author, want) in cases {
        let mut policy = policy();
        edit(&mut policy);
        let got = judge(&body(&[Risk::Low]), &team.records(&sigs), &policy, &signers);
        assert_eq!(got.author.as_deref(), want_author, "{name}");
        assert_eq!(got.failure, want, "{name}");
    }
}

#[test]
fn approvals_count_once_per_distinct_principal_and_key() {
    /// (case, required, `author_counts`, signers, approvals, counted, ignored, refusal)
    type Case<'a> = (
        &'a str,
        usize,
        bool,
        &'a AllowedSigners,
        Vec<Sig>,
        Vec<&'a str>,
        Vec<(&'a str, &'a str)>,
        Refusal,
    );
    let team = Team::new();
    let everyone = team.everyone();
    // Bob's key listed under a second principal; alice's under a bot principal.
    let aliases = team.signers(&[
        ("alice@example.com", "", "alice"),
        ("alice-bot@example.com", "", "alice"),
        ("bob@example.com,robert@example.com", "", "bob"),
        ("carol@example.com", "", "carol"),
    ]);
    let ignored_own = "the author cannot approve their own plan";
    let ignored_again = "this principal already approved";
    let ignored_key = "this key already approved under another principal";
    let cases: Vec<Case<'_>> = vec![
        (
            "two reviewers",
            2,
            false,
            &everyone,
            vec![approval("bob", BOB, 1), approval("carol", CAROL, 2)],
            vec![BOB, CAROL],
            vec![],
            None,
        ),
        (
            "the author approving",
            1,
            false,
            &everyone,
            vec![approval("alice", ALICE, 1)],
            vec![],
            vec![(ALICE, ignored_own)],
            Some(insufficient(
                0,
                1,
                "the policy requires 1 distinct approver",
            )),
        ),
        (
            "the author approving, and the policy lets the author count",
            1,
            true,
            &everyone,
            vec![approval("alice", ALICE, 1)],
            vec![ALICE],
            vec![],
            None,
        ),
        (
            "the author's key under another principal",
            1,
            false,
            &aliases,
            vec![approval("alice", "alice-bot@example.com", 1)],
            vec![],
            vec![("alice-bot@example.com", ignored_own)],
            Some(insufficient(
                0,
                1,
                "the policy requires 1 distinct approver",
            )),
        ),
        (
            "the same reviewer twice with one key",
            2,
            false,
            &everyone,
            vec![approval("bob", BOB, 1), approval("bob", BOB, 2)],
            vec![BOB],
            vec![(BOB, ignored_again)],
            Some(insufficient(
                1,
                2,
                "the policy requires 2 distinct approvers",
            )),
        ),
        (
            "a second key of the same principal",
            2,
            false,
            &everyone,
            vec![approval("bob", BOB, 1), approval("bob2", BOB, 2)],
            vec![BOB],
            vec![(BOB, ignored_again)],
            Some(insufficient(
                1,
                2,
                "the policy requires 2 distinct approvers",
            )),
        ),
        (
            "one key under two principals",
            2,
            false,
            &aliases,
            vec![
                approval("bob", BOB, 1),
                approval("bob", "robert@example.com", 2),
            ],
            vec![BOB],
            vec![("robert@example.com", ignored_key)],
            Some(insufficient(
                1,
                2,
                "the policy requires 2 distinct approvers",
            )),
        ),
        (
            "the earliest approval counts, whatever the order in the file",
            2,
            false,
            &aliases,
            vec![
                approval("bob", "robert@example.com", 3),
                approval("carol", CAROL, 2),
                approval("bob", BOB, 1),
            ],
            vec![BOB, CAROL],
            vec![("robert@example.com", ignored_key)],
            None,
        ),
        (
            "no approvals needed",
            0,
            false,
            &everyone,
            vec![],
            vec![],
            vec![],
            None,
        ),
    ];
    for (name, required, author_counts, signers, approvals, counted, ignored, failure) in cases {
        let policy = TrustPolicy {
            required,
            author_counts,
            ..policy()
        };
        let mut sigs = vec![author("alice", ALICE)];
        sigs.extend(approvals);
        let got = judge(&body(&[Risk::Low]), &team.records(&sigs), &policy, signers);
        let want = Judged {
            author: Some(ALICE.into()),
            counted: strings(&counted),
            ignored: ignored
                .iter()
                .map(|(p, why)| ((*p).to_owned(), (*why).to_owned()))
                .collect(),
            required,
            failure,
        };
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn rules_raise_the_bar_for_the_risk_classes_a_plan_holds() {
    /// (case, policy's required, rules, risks, approvals, required, refusal)
    type Case = (
        &'static str,
        usize,
        Vec<Rule>,
        Vec<Risk>,
        Vec<Sig>,
        usize,
        Refusal,
    );
    let team = Team::new();
    let signers = team.everyone();
    let destructive_two = Rule {
        when: Risk::Destructive,
        required: Some(2),
        require_one_of: vec![],
    };
    let grants_need_security = Rule {
        when: Risk::PrivilegeIncreasing,
        required: None,
        require_one_of: vec![SECURITY.into()],
    };
    let bob = approval("bob", BOB, 1);
    let carol = approval("carol", CAROL, 2);
    let security = approval("security", SECURITY, 3);
    let cases: Vec<Case> = vec![
        (
            "a rule for a class the plan does not hold",
            1,
            vec![destructive_two.clone()],
            vec![Risk::Low, Risk::Credential],
            vec![bob],
            1,
            None,
        ),
        (
            "a rule for a class the plan holds",
            1,
            vec![destructive_two.clone()],
            vec![Risk::Low, Risk::Destructive],
            vec![bob],
            2,
            Some(insufficient(
                1,
                2,
                "destructive changes require 2 distinct approvers",
            )),
        ),
        (
            "a rule met",
            1,
            vec![destructive_two.clone()],
            vec![Risk::Destructive],
            vec![bob, carol],
            2,
            None,
        ),
        (
            "a rule never lowers the policy's bar",
            2,
            vec![Rule {
                when: Risk::Destructive,
                required: Some(1),
                require_one_of: vec![],
            }],
            vec![Risk::Destructive],
            vec![bob],
            2,
            Some(insufficient(
                1,
                2,
                "the policy requires 2 distinct approvers",
            )),
        ),
        (
            "the highest rule binds",
            1,
            vec![
                destructive_two.clone(),
                Rule {
                    when: Risk::Credential,
                    required: Some(3),
                    require_one_of: vec![],
                },
            ],
            vec![Risk::Credential, Risk::Destructive],
            vec![bob, carol],
            3,
            Some(insufficient(
                2,
                3,
                "credential changes require 3 distinct approvers",
            )),
        ),
        (
            "a named approver missing",
            1,
            vec![grants_need_security.clone()],
            vec![Risk::PrivilegeIncreasing],
            vec![bob, carol],
            1,
            Some(insufficient(
                2,
                1,
                "privilege-increasing changes need an approval from one of security@example.com",
            )),
        ),
        (
            "a named approver present",
            1,
            vec![grants_need_security.clone()],
            vec![Risk::PrivilegeIncreasing],
            vec![security],
            1,
            None,
        ),
        (
            "the count and a named approver both missing",
            1,
            vec![destructive_two.clone(), grants_need_security.clone()],
            vec![Risk::PrivilegeIncreasing, Risk::Destructive],
            vec![bob],
            2,
            Some(insufficient(
                1,
                2,
                "destructive changes require 2 distinct approvers; privilege-increasing changes need an approval from one of security@example.com",
            )),
        ),
        (
            "a named approver whose approval does not count",
            1,
            vec![Rule {
                when: Risk::Low,
                required: None,
                require_one_of: vec![ALICE.into()],
            }],
            vec![Risk::Low],
            vec![approval("alice", ALICE, 1), bob],
            1,
            Some(insufficient(
                1,
                1,
                "low changes need an approval from one of alice@example.com",
            )),
        ),
    ];
    for (name, base, rules, risks, approvals, required, failure) in cases {
        let policy = TrustPolicy {
            required: base,
            rules,
            ..policy()
        };
        let mut sigs = vec![author("alice", ALICE)];
        sigs.extend(approvals);
        let got = judge(&body(&risks), &team.records(&sigs), &policy, &signers);
        assert_eq!((got.required, got.failure), (required, failure), "{name}");
    }
}

#[test]
fn signatures_that_do_not_verify_stop_judging_at_the_first() {
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
            // Judging ends at a failing signature: `nhi verify` lists nothing.
            assert!(
                got.author.is_none() && got.counted.is_empty() && got.ignored.is_empty(),
                "{name}"
            );
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
fn plans_expire_by_their_own_time_and_the_policys_max_age() {
    let expired = |expires_at: jiff::Timestamp| {
        Some((
            "nhi::plan::expired".to_owned(),
            format!("the plan expired at {expires_at} (now {})", now()),
        ))
    };
    // (case, created, valid for (minutes), max_plan_age, failure)
    let cases: Vec<(&str, jiff::Timestamp, i64, Option<&str>, Refusal)> = vec![
        ("fresh", created(), 24 * 60, None, None),
        (
            "past its expiry",
            now() - mins(24 * 60),
            24 * 60,
            None,
            expired(now()),
        ),
        (
            "long past its expiry",
            now() - mins(25 * 60),
            24 * 60,
            None,
            expired(now() - mins(60)),
        ),
        (
            "younger than the policy's max age",
            created(),
            30 * 24 * 60,
            Some("12h"),
            None,
        ),
        (
            "older than the policy's max age, though valid for longer",
            now() - mins(13 * 60),
            30 * 24 * 60,
            Some("12h"),
            expired(now() - mins(60)),
        ),
        (
            "a max age longer than the plan's own validity",
            now() - mins(25 * 60),
            24 * 60,
            Some("30d"),
            expired(now() - mins(60)),
        ),
        (
            "created within the skew ahead of now",
            now() + mins(4),
            60,
            None,
            None,
        ),
        (
            "created in the future",
            now() + mins(6),
            60,
            None,
            Some((
                "nhi::plan::expired".into(),
                format!(
                    "the plan was created at {}, in the future (now {})",
                    now() + mins(6),
                    now()
                ),
            )),
        ),
    ];
    for (name, created_at, valid, max_age, want) in cases {
        let body = PlanBody {
            created_at,
            expires_at: created_at + mins(valid),
            ..body(&[Risk::Low])
        };
        let policy = TrustPolicy {
            max_plan_age: max_age.map(|a| a.parse().unwrap()),
            ..policy()
        };
        let got = check_time(&body, &policy, now()).err();
        assert_eq!(got.as_ref().map(shown), want, "{name}");
    }
}

#[test]
fn expiry_is_judged_after_signatures_and_approvals() {
    let team = Team::new();
    let signers = team.everyone();
    let old = PlanBody {
        created_at: now() - mins(25 * 60),
        expires_at: now() - mins(60),
        ..body(&[Risk::Low])
    };
    let offset = |m: i64| -24 * 60 + m;
    let author = Sig {
        minutes: offset(0),
        ..author("alice", ALICE)
    };
    let bob = approval("bob", BOB, offset(1));
    let judged = |sigs: &[Sig]| {
        judge_plan(
            &old,
            &digest(),
            &team.records(sigs),
            &policy(),
            &signers,
            now(),
        )
        .1
        .as_ref()
        .map(shown)
    };
    assert_eq!(
        judged(&[author]),
        Some(insufficient(
            0,
            1,
            "the policy requires 1 distinct approver"
        ))
    );
    assert_eq!(
        judged(&[author, bob]),
        Some((
            "nhi::plan::expired".into(),
            format!("the plan expired at {} (now {})", now() - mins(60), now()),
        ))
    );
}

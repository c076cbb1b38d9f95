//! Rules by risk class: a plan holding a class needs that rule's count and named
//! approvers on top of the policy's bar.

use super::{
    ALICE, BOB, CAROL, Refusal, SECURITY, Sig, Team, approval, author, body, insufficient, judge,
    policy,
};
use crate::diff::Risk;
use crate::trust::{Rule, TrustPolicy};

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
        when: Risk::Destructive.into(),
        required: Some(2),
        require_one_of: vec![],
    };
    let grants_need_security = Rule {
        when: Risk::PrivilegeIncreasing.into(),
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
                when: Risk::Destructive.into(),
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
                    when: Risk::Credential.into(),
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
                when: Risk::Low.into(),
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

/// A plan holding findings of the governance gate, each `(rule, enforcement,
/// excused)`.
fn body_with_findings(
    findings: &[(&str, crate::policy::Enforcement, bool)],
) -> crate::plan::PlanBody {
    let mut body = body(&[Risk::Low]);
    body.findings = findings
        .iter()
        .enumerate()
        .map(|(i, (rule, enforcement, excused))| crate::policy::Finding {
            address: nhi_provider_sdk::Address::raw(&format!("local.demo/identity/x{i}")),
            rule: (*rule).to_owned(),
            severity: crate::policy::Severity::High,
            enforcement: *enforcement,
            subject: crate::policy::Subject::State,
            message: "m".into(),
            exception: excused.then(|| crate::policy::ExceptionUse {
                justification: "accepted".into(),
                expires: jiff::civil::date(2027, 1, 1),
            }),
        })
        .collect();
    body
}

#[test]
fn rules_raise_the_bar_for_the_findings_a_plan_holds() {
    type Case = (
        &'static str,
        Rule,
        Vec<(&'static str, crate::policy::Enforcement, bool)>,
        usize,
        Option<(String, String)>,
    );
    use crate::policy::Enforcement::{Advisory, Soft};
    use crate::trust::Condition;
    let team = Team::new();
    let signers = team.everyone();
    let rule = |when: Condition| Rule {
        when,
        required: Some(2),
        require_one_of: vec![],
    };
    let admin = || rule(Condition::Finding("admin-privilege".into()));
    let cases: Vec<Case> = vec![
        (
            "a finding rule the plan meets, whatever the finding's enforcement",
            admin(),
            vec![("admin-privilege", Advisory, false)],
            2,
            Some(insufficient(
                1,
                2,
                "`admin-privilege` findings require 2 distinct approvers",
            )),
        ),
        (
            "an excused finding costs nothing",
            admin(),
            vec![("admin-privilege", Advisory, true)],
            1,
            None,
        ),
        (
            "a finding of another rule",
            admin(),
            vec![("key-max-age", Soft, false)],
            1,
            None,
        ),
        (
            "soft findings",
            rule(Condition::Soft),
            vec![("key-max-age", Soft, false)],
            2,
            Some(insufficient(
                1,
                2,
                "soft findings require 2 distinct approvers",
            )),
        ),
        (
            "an advisory finding is not soft",
            rule(Condition::Soft),
            vec![("key-max-age", Advisory, false)],
            1,
            None,
        ),
        (
            "a plan that uses an exception",
            rule(Condition::Exception),
            vec![("admin-privilege", Advisory, true)],
            2,
            Some(insufficient(
                1,
                2,
                "exceptions require 2 distinct approvers",
            )),
        ),
    ];
    for (name, rule, findings, required, failure) in cases {
        let policy = TrustPolicy {
            rules: vec![rule],
            ..policy()
        };
        let sigs = vec![author("alice", ALICE), approval("bob", BOB, 1)];
        let got = judge(
            &body_with_findings(&findings),
            &team.records(&sigs),
            &policy,
            &signers,
        );
        assert_eq!((got.required, got.failure), (required, failure), "{name}");
    }
}

#[test]
fn a_trust_policy_that_pins_a_rego_bundle_refuses_plans_judged_without_it() {
    let team = Team::new();
    let signers = team.everyone();
    let pinned = nhi_provider_sdk::Digest::of(b"bundle");
    let policy = TrustPolicy {
        policy_bundle: Some(pinned),
        ..policy()
    };
    let sigs = vec![author("alice", ALICE), approval("bob", BOB, 1)];
    let mut body = body(&[Risk::Low]);
    let got = judge(&body, &team.records(&sigs), &policy, &signers);
    assert_eq!(
        got.failure,
        Some((
            "nhi::trust::policy_bundle".into(),
            format!(
                "the trust policy requires plans judged with the Rego bundle `{pinned}`; this plan was judged with no Rego bundle"
            )
        ))
    );
    body.policy.rego = Some(crate::policy::RegoRecord {
        paths: vec!["policies".into()],
        digest: pinned,
    });
    let got = judge(&body, &team.records(&sigs), &policy, &signers);
    assert_eq!(got.failure, None);
}

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

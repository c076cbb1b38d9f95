package nhi.ci_test

import data.nhi.ci

identity(name, tags, keys) := {
	"address": sprintf("local.demo/identity/%s", [name]),
	"name": name,
	"tags": tags,
	"keys": keys,
}

with_identities(identities) := {"desired": {"identities": identities}}

test_a_key_of_an_identity_tagged_ci_is_denied if {
	findings := ci.deny with input as with_identities([identity("deployer", {"team": "ci"}, [{"name": "primary"}])])
	findings == {{
		"msg": "CI identity `deployer` declares key `primary`; CI authenticates through workload identity, not keys",
		"address": "local.demo/identity/deployer",
	}}
}

test_a_key_of_an_identity_named_ci_is_denied if {
	count(ci.deny) == 2 with input as with_identities([identity("ci-runner", {}, [{"name": "a"}, {"name": "b"}])])
}

test_a_ci_identity_without_keys_passes if {
	count(ci.deny) == 0 with input as with_identities([identity("ci-runner", {"team": "ci"}, [])])
}

test_other_identities_may_hold_keys if {
	count(ci.deny) == 0 with input as with_identities([identity("backup", {"team": "storage"}, [{"name": "primary"}])])
}

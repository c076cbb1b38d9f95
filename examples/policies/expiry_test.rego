package nhi.expiry_test

import data.nhi.expiry

# 2026-01-01T00:00:00Z: tests pin the clock, as plans do.
now := 1767225600000000000

payments(name, expires) := {
	"address": sprintf("local.demo/identity/%s", [name]),
	"name": name,
	"tags": {"team": "payments"},
	"expires": expires,
}

with_identities(identities) := {"desired": {"identities": identities}}

test_an_identity_without_expiry_is_denied if {
	count(expiry.deny) == 1 with input as with_identities([payments("ledger", null)])
		with time.now_ns as now
}

test_an_identity_expiring_after_a_year_is_denied if {
	count(expiry.deny) == 1 with input as with_identities([payments("ledger", "2027-01-02")])
		with time.now_ns as now
}

test_an_identity_expiring_within_a_year_passes if {
	count(expiry.deny) == 0 with input as with_identities([payments("ledger", "2026-12-31")])
		with time.now_ns as now
	count(expiry.warn) == 0 with input as with_identities([payments("ledger", "2026-12-31")])
		with time.now_ns as now
}

test_an_identity_expiring_within_30_days_is_a_warning if {
	count(expiry.warn) == 1 with input as with_identities([payments("ledger", "2026-01-20")])
		with time.now_ns as now
}

test_other_teams_are_not_judged if {
	other := object.union(payments("backup", null), {"tags": {"team": "storage"}})
	count(expiry.deny) == 0 with input as with_identities([other])
		with time.now_ns as now
}

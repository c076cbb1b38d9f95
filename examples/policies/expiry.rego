# Every identity of team `payments` expires within a year: its `expires` day is
# set, and no more than a year after the plan's clock. One expiring within 30
# days is a warning, so the owner renews it in time.
package nhi.expiry

team := "payments"

day_ns := (24 * 60) * 60e9

expires_ns(identity) := time.parse_rfc3339_ns(sprintf("%sT00:00:00Z", [identity.expires]))

in_team(identity) if identity.tags.team == team

# METADATA
# title: Identities of team payments expire within a year
# custom:
#   id: within-a-year
#   severity: medium
deny contains finding if {
	some identity in input.desired.identities
	in_team(identity)
	object.get(identity, "expires", null) == null
	finding := {
		"msg": sprintf("identity `%s` of team %s has no `expires` day; set one within a year", [identity.name, team]),
		"address": identity.address,
	}
}

# METADATA
# title: Identities of team payments expire within a year
# custom:
#   id: within-a-year
#   severity: medium
deny contains finding if {
	some identity in input.desired.identities
	in_team(identity)
	identity.expires != null
	expires_ns(identity) > time.add_date(time.now_ns(), 1, 0, 0)
	finding := {
		"msg": sprintf("identity `%s` of team %s expires on %s, more than a year from now", [identity.name, team, identity.expires]),
		"address": identity.address,
	}
}

# METADATA
# title: Identities of team payments expiring within 30 days
# custom:
#   id: expires-soon
#   severity: low
warn contains finding if {
	some identity in input.desired.identities
	in_team(identity)
	identity.expires != null
	expires_ns(identity) <= time.now_ns() + 30 * day_ns
	finding := {
		"msg": sprintf("identity `%s` of team %s expires on %s, within 30 days", [identity.name, team, identity.expires]),
		"address": identity.address,
	}
}

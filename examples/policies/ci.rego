# CI identities may not hold keys: CI pipelines authenticate through workload
# identity (OIDC), and a long-lived key in CI is the credential most often
# leaked. An identity is a CI identity when it is tagged `team: ci` or named
# `ci-*`.
package nhi.ci

is_ci(identity) if identity.tags.team == "ci"

is_ci(identity) if startswith(identity.name, "ci-")

# METADATA
# title: CI identities may not hold keys
# custom:
#   id: no-keys
#   severity: high
deny contains finding if {
	some identity in input.desired.identities
	is_ci(identity)
	some key in identity.keys
	finding := {
		"msg": sprintf("CI identity `%s` declares key `%s`; CI authenticates through workload identity, not keys", [identity.name, key.name]),
		"address": identity.address,
	}
}

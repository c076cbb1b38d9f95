#!/usr/bin/env python3
"""The reference for scripts/bench-aws: a plain, sequential boto3 script that
fetches what `nhi plan` needs about the users under a path, the naive way:

    ListUsers (paginated), then for every user:
      ListAccessKeys, ListAttachedUserPolicies, ListUserPolicies,
      GetUserPolicy for each inline policy, ListUserTags

(every list paginated). It counts its API calls with a `before-call` event hook
and prints one JSON line on stdout:
    {"users": N, "keys": K, "attached": A, "inline": I, "tags": T,
     "api_calls": C, "seconds": S}
where `seconds` is the time of the fetch itself (client creation included,
interpreter start-up and imports not; scripts/bench-aws also times the whole
process). Credentials, region and endpoint come from the environment
(AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...).

Usage: boto3_reference.py [--path-prefix /nhi/]
"""

import argparse
import json
import sys
import time

import boto3
from botocore.config import Config


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--path-prefix", default="/nhi/")
    args = p.parse_args()

    started = time.monotonic()
    iam = boto3.client("iam", config=Config(retries={"max_attempts": 1}))
    calls = {"n": 0}

    def count(**_):
        calls["n"] += 1

    iam.meta.events.register("before-call.iam", count)

    def pages(operation, key, **params):
        for page in iam.get_paginator(operation).paginate(**params):
            yield from page[key]

    users = {}
    for user in pages("list_users", "Users", PathPrefix=args.path_prefix):
        name = user["UserName"]
        keys = list(pages("list_access_keys", "AccessKeyMetadata", UserName=name))
        attached = [
            a["PolicyArn"]
            for a in pages("list_attached_user_policies", "AttachedPolicies", UserName=name)
        ]
        inline = {
            policy: iam.get_user_policy(UserName=name, PolicyName=policy)["PolicyDocument"]
            for policy in pages("list_user_policies", "PolicyNames", UserName=name)
        }
        tags = {t["Key"]: t["Value"] for t in pages("list_user_tags", "Tags", UserName=name)}
        users[name] = {"keys": keys, "attached": attached, "inline": inline, "tags": tags}
    seconds = time.monotonic() - started

    json.dump(
        {
            "users": len(users),
            "keys": sum(len(u["keys"]) for u in users.values()),
            "attached": sum(len(u["attached"]) for u in users.values()),
            "inline": sum(len(u["inline"]) for u in users.values()),
            "tags": sum(len(u["tags"]) for u in users.values()),
            "api_calls": calls["n"],
            "seconds": round(seconds, 3),
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()

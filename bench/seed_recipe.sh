#!/usr/bin/env bash
# The seed's shell recipe (curl | jq | docker login), the baseline of the cold-login benchmark.
# Two changes from the seed, so that the comparison is fair and the run can be checked:
#   - the access key reaches curl through a config read from stdin (printf is a bash builtin),
#     not through curl's argv, as sauce-registry never puts it on a command line;
#   - docker login gets "$DOCKER_USERNAME" (the seed says "$DOCKER_LOGIN", which it never sets).
# It also sends the registry_url body the current API asks for, and fails loudly (--fail, set -e).
# Reads SAUCE_USERNAME, SAUCE_ACCESS_KEY, SAUCE_API_URL, REGISTRY_URL, REGISTRY_HOST and the
# docker CLI's own DOCKER_HOST and DOCKER_CONFIG.
set -euo pipefail

SAUCE_SHORT_LIVED_TOKEN=$(
  printf 'user = "%s:%s"\n' "$SAUCE_USERNAME" "$SAUCE_ACCESS_KEY" |
    curl -s --fail --config - --request POST \
      --header 'Content-Type: application/json' \
      --data "{\"registry_url\": \"$REGISTRY_URL\"}" \
      "$SAUCE_API_URL/v1alpha1/hosted/container-registry/authorization-token"
)
DOCKER_USERNAME=$(echo "$SAUCE_SHORT_LIVED_TOKEN" | jq -r .username)
DOCKER_PASSWORD=$(echo "$SAUCE_SHORT_LIVED_TOKEN" | jq -r .password)
export DOCKER_USERNAME DOCKER_PASSWORD

echo "$DOCKER_PASSWORD" | docker login --username "$DOCKER_USERNAME" --password-stdin "$REGISTRY_HOST"

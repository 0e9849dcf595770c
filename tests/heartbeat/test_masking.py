from __future__ import annotations

import pytest

from airflow_provider_ecsops.heartbeat.masking import is_secret_key, mask


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET https://bob:pa55@api.example/x", "GET https://***@api.example/x"),
        ("postgresql+psycopg2://airflow:pw@db:5432/airflow", "postgresql+psycopg2://***@db:5432/airflow"),
        ("https://h/p?X-Amz-Signature=abc123&ok=1", "https://h/p?X-Amz-Signature=***&ok=1"),
        ("redis://:onlypass@cache:6379/0", "redis://***@cache:6379/0"),
        ("password: hunter22 rejected", "password: *** rejected"),
        ("key AKIAIOSFODNN7EXAMPLE denied", "key *** denied"),
        ("nothing secret here: http://host/path", "nothing secret here: http://host/path"),
    ],
)
def test_mask_patterns(text, expected):
    assert mask(text) == expected


def test_mask_literal_and_quoted_secrets():
    assert mask("failed with p@ss/word and p%40ss%2Fword", ["p@ss/word"]) == "failed with *** and ***"


def test_short_literals_are_not_masked():
    assert mask("abc is fine", ["abc"]) == "abc is fine"


def test_is_secret_key():
    assert is_secret_key("aws_secret_access_key") and is_secret_key("Token") and is_secret_key("api-key")
    assert not is_secret_key("region_name")

"""configure_logging writes one JSON object per record to stdout, with secrets redacted."""

import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from credreg_shared.logs import REDACTED, configure_logging


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def last_json_line(text: str) -> dict[str, object]:
    line = text.strip().splitlines()[-1]
    parsed: dict[str, object] = json.loads(line)
    return parsed


def test_records_are_json_with_service_and_extra_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("registry", "info")

    logging.getLogger("credreg.test").info(
        "credential %s stored", "c-1", extra={"credential_id": "c-1"}
    )

    record = last_json_line(capsys.readouterr().out)
    assert record["message"] == "credential c-1 stored"
    assert record["level"] == "INFO"
    assert record["logger"] == "credreg.test"
    assert record["service"] == "registry"
    assert record["credential_id"] == "c-1"
    assert str(record["timestamp"]).endswith("+00:00")


def test_level_filters_records(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("registry", "WARNING")
    logging.getLogger("credreg.test").info("quiet")
    logging.getLogger("credreg.test").warning("loud")
    out = capsys.readouterr().out
    assert "quiet" not in out
    assert last_json_line(out)["message"] == "loud"


def test_secret_looking_fields_and_secret_values_are_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("issuer")

    logging.getLogger("credreg.test").info(
        "configured",
        extra={"api_key": "k-123", "webhook_secret": "s-456", "signing": SecretStr("p-789")},
    )

    out = capsys.readouterr().out
    record = last_json_line(out)
    assert record["api_key"] == REDACTED
    assert record["webhook_secret"] == REDACTED
    assert record["signing"] == REDACTED
    assert not any(secret in out for secret in ("k-123", "s-456", "p-789"))


def test_configuring_twice_keeps_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("notifier")
    configure_logging("notifier")
    logging.getLogger("credreg.test").warning("once")
    assert capsys.readouterr().out.count('"once"') == 1


def test_plain_text_mode(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("notifier", json=False)
    logging.getLogger("credreg.test").warning("hello")
    out = capsys.readouterr().out.strip()
    assert out.endswith("WARNING notifier credreg.test: hello")

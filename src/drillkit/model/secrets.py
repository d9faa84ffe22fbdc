"""Secrets in target files are named, never written: each comes from an environment variable or a file.

A value written into the YAML itself is refused, so that a target file can be committed, shared and
printed. What a secret reveals is for the one HTTP header or DSN that needs it; every file a run writes
goes through `redact` (drillkit.redaction) so that no revealed value is ever stored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, model_validator

from drillkit import redaction
from drillkit.errors import InvalidInput

HOW = "write {env: VARIABLE} or {file: PATH}, never the value itself"


class SecretRef(BaseModel):
    """Where one secret comes from: exactly one of an environment variable or a file (first line)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = Field(None, description="the environment variable that holds it")
    file: Path | None = Field(None, description="a file whose first line is the secret")

    @model_validator(mode="before")
    @classmethod
    def _never_inline(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"a secret must not be written in the file: {HOW}")
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError(f"name exactly one source: {HOW}")
        return self

    def describe(self) -> str:
        """Where it comes from, safe to print."""
        return f"${self.env}" if self.env is not None else str(self.file)

    def reveal(self) -> str:
        """The secret itself, read now (and remembered by drillkit.redaction, so that no file or log of
        this process ever holds it); InvalidInput naming the source when it is unset, unreadable, or too
        short to be masked."""
        value = self._read()
        if len(value) < redaction.MIN_LENGTH:  # masking it would garble every file; leaving it would leak it
            raise InvalidInput(f"{self.describe()}: the secret is shorter than {redaction.MIN_LENGTH} characters: "
                               "too short to be masked in the files a run writes, and to guard anything")
        return redaction.remember(value)

    def _read(self) -> str:
        if self.env is not None:
            value = os.environ.get(self.env, "")
            if not value:
                raise InvalidInput(f"the secret ${self.env} is not set in the environment")
            return value
        assert self.file is not None
        try:
            value = self.file.read_text(encoding="utf-8").splitlines()[0].strip() if self.file.stat().st_size else ""
        except (OSError, IndexError) as exc:
            raise InvalidInput(f"{self.file}: the secret cannot be read: {exc}") from exc
        if not value:
            raise InvalidInput(f"{self.file}: the secret file is empty")
        return value


def _without_credentials(url: HttpUrl) -> HttpUrl:
    """A URL's user:password@ would be printed wherever the URL is (plans, errors, journals, reports):
    credentials go in a secret instead. The message never repeats the URL."""
    if url.username or url.password:
        raise ValueError(f"a URL must not carry credentials (user:password@): {HOW} in the setting made for it "
                         "(prometheus.token, prometheus.username and password, or secrets)")
    return url


PlainUrl = Annotated[HttpUrl, AfterValidator(_without_credentials)]
"""An http(s) URL refused when it carries credentials."""


"""Credentials must not ship in an image: the kept code, the captured values and the copied files
are scanned with detect-secrets before anything is built.

Only detectors of credential formats (AWS, GitHub, Slack, private keys, JWTs, …) and, in text,
assignments to secret-looking names (`password = "…"`) are used. The high-entropy detectors are
left out: a fitted model's arrays and hashes are high-entropy by nature and would stop every build.
Captured values are read as their serialized bytes, so a key inside a DataFrame, a dict or an
object's attribute is found like one in code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..shared.errors import SecretFound

#: detect-secrets plugins for credential formats; names as detect-secrets' own classes.
FORMAT_PLUGINS = (
    "ArtifactoryDetector",
    "AWSKeyDetector",
    "AzureStorageKeyDetector",
    "BasicAuthDetector",
    "CloudantDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "IbmCloudIamDetector",
    "IbmCosHmacDetector",
    "JwtTokenDetector",
    "MailchimpDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PrivateKeyDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SoftlayerDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TelegramBotTokenDetector",
    "TwilioKeyDetector",
)
#: Runs of printable bytes in a serialized value that may hold a credential.
_PRINTABLE = re.compile(rb"[\x20-\x7e]{16,}")


@dataclass(frozen=True)
class Finding:
    where: str  # the context file, relative
    line: int  # 1-based line in a text file; 0 inside a serialized value
    kind: str  # detect-secrets' name for it, e.g. "AWS Access Key"

    def __str__(self) -> str:
        place = f"{self.where}:{self.line}" if self.line else f"{self.where} (a captured value)"
        return f"{place}: {self.kind}"


def scan_context(context: Path) -> list[Finding]:
    """Findings in what the image will carry: app/ (the kept code, not the runtime), the
    captured state and the copied files; text line by line, the rest as printable runs."""
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import transient_settings

    findings = []
    text_plugins = [{"name": name} for name in (*FORMAT_PLUGINS, "KeywordDetector")]
    with transient_settings({"plugins_used": text_plugins}):
        for path in _text_files(context):
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                findings += [
                    Finding(_relative(path, context), number, secret.type)
                    for secret in scan_line(line)
                ]
    with transient_settings({"plugins_used": [{"name": name} for name in FORMAT_PLUGINS]}):
        for path in _binary_files(context):
            for run in _PRINTABLE.findall(path.read_bytes()):
                findings += [
                    Finding(_relative(path, context), 0, secret.type)
                    for secret in scan_line(run.decode("ascii"))
                ]
    return sorted(set(findings), key=lambda f: (f.where, f.line, f.kind))


def refuse_secrets(findings: list[Finding]) -> None:
    """SecretFound naming each finding, when there is any."""
    if findings:
        listed = "\n".join(f"  {finding}" for finding in findings)
        raise SecretFound(
            f"What the image would carry looks like it holds credentials:\n{listed}",
            "Read credentials from the environment at serving time (os.environ) instead of "
            "keeping them in the served code or a captured value; if these are not secrets, "
            "end the line with `# pragma: allowlist secret` or build with --allow-secrets.",
        )


def _shipped(context: Path) -> list[Path]:
    """The kept code, the captured state and the copied files; not the runtime we wrote."""
    paths = [
        p
        for folder in ("app", "artifacts")
        for p in sorted((context / folder).rglob("*"))
        if p.is_file() and "mlcontainer_runtime" not in p.parts
    ]
    return paths


def _text_files(context: Path) -> list[Path]:
    return [p for p in _shipped(context) if _is_text(p)]


def _binary_files(context: Path) -> list[Path]:
    """Serialized values and binary files: searched as runs of printable bytes."""
    return [p for p in _shipped(context) if not _is_text(p)]


def _is_text(path: Path) -> bool:
    return b"\0" not in path.read_bytes()[:4096]


def _relative(path: Path, context: Path) -> str:
    return path.relative_to(context).as_posix()

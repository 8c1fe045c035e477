"""What the safety checks report about a block of code, as plain frozen data that crosses the bus."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

RiskLevel = Literal["low", "medium", "high"]
Severity = Literal["INFO", "WARNING", "ERROR"]
ScanStatus = Literal["off", "not_scanned", "scanning", "clean", "findings", "failed", "skipped"]


@dataclass(frozen=True)
class RiskMark:
    """One line the built-in classifier flags, with a one-line reason for the editor gutter."""

    line: int  # 1-based line in the code block
    category: str  # "delete", "outside_project", "network", "subprocess", "privilege", "environment", ...
    level: RiskLevel
    reason: str  # e.g. "deletes files outside the project"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Finding:
    """One semgrep result on the block, from our shipped rules."""

    rule_id: str
    line: int  # 1-based
    end_line: int
    severity: Severity
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ScanResult:
    """The outcome of a safe-mode scan; `detail` says why a block was not scanned or the scan failed."""

    status: ScanStatus
    findings: tuple[Finding, ...] = ()
    detail: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "findings": [f.to_dict() for f in self.findings],
                "detail": self.detail, "seconds": self.seconds}

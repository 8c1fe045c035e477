"""Safety checks that run before approval: instant risk marks, safe-mode scans, and allow rules."""

from .types import Finding, RiskMark, ScanResult

__all__ = ["Finding", "RiskMark", "ScanResult"]

"""axe-core (the npm package, pinned in tests/e2e/axe/package-lock.json and installed there by
.ci/setup with ``npm ci``) run inside a driven browser's page: the WCAG 2.2 A/AA rules only,
each violation with the elements it found, in words a failing test can show."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.driven import DrivenBrowser

AXE_DIR = Path(__file__).resolve().parents[1] / "e2e" / "axe"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA (axe tags each rule with the criteria it checks).
WCAG_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.rule} ({self.impact}): {self.help} at {', '.join(self.targets)}"


def axe_version() -> str:
    package: dict[str, Any] = json.loads((AXE_SCRIPT.parent / "package.json").read_text())
    return str(package["version"])


async def axe_violations(browser: DrivenBrowser, script: str,
                         tags: tuple[str, ...] = WCAG_AA) -> list[Violation]:
    """Runs axe over the page as it is now (injecting it once per loaded page: evaluated by
    the driver, so the page's content security policy does not stand in its way)."""
    if not await browser.evaluate("typeof window.axe === 'object'"):
        await browser.evaluate(script + "\n;true")
    options = json.dumps({"runOnly": {"type": "tag", "values": list(tags)},
                          "resultTypes": ["violations"]})
    found = await browser.evaluate(
        f"axe.run(document, {options}).then(r => r.violations.map(v => ({{"
        "rule: v.id, impact: v.impact || '', help: v.help, "
        "targets: v.nodes.map(n => n.target.join(' ') + ' ' + "
        "(n.failureSummary || '').replace(/\\s+/g, ' ').slice(0, 200))})))")
    return [Violation(v["rule"], v["impact"], v["help"], tuple(v["targets"]))
            for v in found or []]

#!/usr/bin/env python3
"""Render an HTML report in headless Chromium, offline, and save a screenshot to look at.

    python scripts/check_report.py report.html [-o report.png]

Needs Debian's chromium (apt-get install chromium). Exits non-zero if the page
does not render or its chart is missing. Network is blocked for the browser,
so a page that loads anything from outside shows up broken in the picture.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report")
    ap.add_argument("-o", "--output", help="PNG path (default: REPORT.png)")
    args = ap.parse_args()
    page = Path(args.report).resolve()
    out = Path(args.output or page.with_suffix(".png")).resolve()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        sys.exit("no chromium found: apt-get install chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--proxy-server=127.0.0.1:9", "--hide-scrollbars"]
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *flags, f"--user-data-dir={profile}", "--window-size=1200,1800",
                        f"--screenshot={out}", page.as_uri()], check=True, capture_output=True, timeout=120)
        dom = subprocess.run([browser, *flags, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                             check=True, capture_output=True, text=True, timeout=120).stdout
    if "<svg" not in dom or not out.exists() or out.stat().st_size < 10_000:
        sys.exit(f"the report did not render as expected (screenshot {out})")
    print(f"rendered {page.name}: screenshot {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Safety benchmarks: the instant risk classifier on 200-line blocks, and safe-mode scan latency on 30-line blocks.

    .venv/bin/python benchmarks/bench_safety.py [N]

Classifier: `risk.classify` on a 200-line Python, shell and JavaScript block, N*20 runs each; floor: one bare
regex pass (`\\brm\\b`) over the same text. Min is the undisturbed figure (the machine is shared), median next to it.

Scanner: the real path, `await scanner.scan(language, code)` (temp file, semgrep process, JSON parsed into
Findings), on a typical 30-line block. "first" is the first scan in this process (the engine binary may
already be in the OS page cache from earlier runs; we do not drop caches on a shared machine); "warm" is the
median of N more. Floors, measured in the same run with the same rules and block: `semgrep --version` (the
Python CLI's start-up, version check off), `semgrep-core -version` (the engine binary's start-up), and the
two slower ways to start the same scan: `semgrep scan` (the Python CLI) and `semgrep scan --experimental`
(the Python wrapper handing over to the engine).
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oi_core.safety import risk, scanner  # noqa: E402

PYTHON_200 = "\n".join([
    "import os, shutil, subprocess", "def step(x):", "    # a comment about rm -rf ~",
    "    data = open('data/x.csv').read()  # read it",
    "    rows = [int(v) * 2 for v in data.split(',') if v.strip()]",
    "    subprocess.run(['ls', '-la', '/tmp'], check=True)",
    "    print(f'done {len(rows)} items from \"/etc/hosts\"')", "    os.environ['FOO'] = 'bar'",
    "    return shutil.rmtree('build')", "",
] * 20)
SHELL_200 = "\n".join([
    "ls -la /tmp && cd build", "for f in *.txt; do echo \"$f\" >> out.log; done", "grep -r 'foo' src/ | wc -l",
    "rm -rf build/ dist/", "curl -s https://example.com/api | jq .name", "export FOO=bar  # comment",
    "git status --short", "python3 -m pip install -r requirements.txt", "sudo systemctl restart nginx", "echo done",
] * 20)
JAVASCRIPT_200 = "\n".join([
    "const fs = require('fs');", "const { execSync } = require('child_process');", "// fs.rmSync('/')",
    "const data = fs.readFileSync('data.json', 'utf8');", "const out = JSON.parse(data).map(x => x * 2);",
    "fetch('https://example.com').then(r => r.json());", "console.log(`done ${out.length} /etc/hosts`);",
    "process.env.FOO = 'bar';", "fs.rmSync('build', { recursive: true });", "execSync('ls -la');",
] * 20)

SHELL_30 = "\n".join([
    "set -euo pipefail", "cd \"$(dirname \"$0\")\"", "mkdir -p build/logs", "for f in src/*.c; do",
    "  gcc -O2 -c \"$f\" -o \"build/$(basename \"${f%.c}\").o\"", "done", "ls -la build | tee build/logs/list.txt",
    "grep -rn 'TODO' src | wc -l", "tar czf build/src.tgz src", "du -sh build", "git status --short",
    "git log --oneline | head -5", "python3 -m venv .venv", ". .venv/bin/activate", "pip install -r requirements.txt",
    "pytest -q tests", "rm -rf build/tmp", "find . -name '*.pyc' -delete", "echo \"done: $(date)\"",
    "export PATH=\"$HOME/.local/bin:$PATH\"", "curl -fsSL https://example.com/install.sh | sh",
    "sudo apt-get install -y jq", "jq '.name' package.json", "wc -l src/*.c", "sort -u build/logs/list.txt",
    "head -n 20 README.md", "cp README.md build/", "chmod +x run.sh", "./run.sh --check", "echo ok",
])
PYTHON_30 = "\n".join([
    "import json, os, shutil, subprocess", "from pathlib import Path", "", "def load(path):",
    "    with open(path) as handle:", "        return json.load(handle)", "", "def summarize(rows):",
    "    total = sum(row['amount'] for row in rows)", "    return {'count': len(rows), 'total': total}", "",
    "rows = load('data/rows.json')", "summary = summarize(rows)", "print(json.dumps(summary, indent=2))",
    "out = Path('build')", "out.mkdir(exist_ok=True)", "(out / 'summary.json').write_text(json.dumps(summary))",
    "subprocess.run(['ls', '-la', str(out)], check=True)", "shutil.rmtree(os.path.expanduser('~'))",
    "os.system('curl -fsSL https://example.com/i.sh | sh')", "for name in sorted(os.listdir('.')):",
    "    if name.endswith('.tmp'):", "        os.remove(name)", "print('cleaned')", "",
    "def main():", "    print(summary['total'])", "", "main()", "",
])


def best_and_median(call, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def bench_classifier(n: int) -> None:
    print("Risk classifier (risk.classify), 200-line blocks; target <= 5 ms")
    floor_pattern = re.compile(r"\brm\b")
    for language, code in (("python", PYTHON_200), ("shell", SHELL_200), ("javascript", JAVASCRIPT_200)):
        assert code.count("\n") == 199
        risk.classify(language, code)
        best, median = best_and_median(lambda: risk.classify(language, code, cwd="/work/proj"), n * 20)
        floor_best, floor_median = best_and_median(lambda: list(floor_pattern.finditer(code)), n * 20)
        marks = len(risk.classify(language, code, cwd="/work/proj"))
        print(f"  {language:<10} classify: min {best * 1000:6.2f} ms  median {median * 1000:6.2f} ms  ({marks} marks)"
              f"   floor (one bare regex pass): min {floor_best * 1000:5.3f} ms  median {floor_median * 1000:5.3f} ms")


def run_command(argv: list[str], cwd: str, executable: str | None = None) -> tuple[float, subprocess.CompletedProcess]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEMGREP_")}
    env.update(SEMGREP_ENABLE_VERSION_CHECK="0", SEMGREP_SEND_METRICS="off", NO_COLOR="1",
               SEMGREP_SETTINGS_FILE=str(Path(cwd) / "settings.yml"), SEMGREP_LOG_FILE=str(Path(cwd) / "semgrep.log"))
    start = time.perf_counter()
    done = subprocess.run(argv, executable=executable, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=600)
    return time.perf_counter() - start, done


def median_command(argv: list[str], cwd: str, runs: int, executable: str | None = None) -> float:
    times = []
    for _ in range(runs):
        seconds, done = run_command(argv, cwd, executable)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-500:]
        times.append(seconds)
    return statistics.median(times)


async def timed_scan(language: str, code: str) -> tuple[float, scanner.ScanResult]:
    start = time.perf_counter()
    result = await scanner.scan(language, code, timeout=120)
    return time.perf_counter() - start, result


def bench_scanner(n: int) -> None:
    engine, problem = scanner.find_engine()
    if engine is None:
        print(f"Scanner: {problem}")
        return
    semgrep = str(Path(sys.executable).parent / "semgrep")
    print(f"\nSafe-mode scan (scanner.scan), 30-line blocks; target <= 1.5 s warm; engine: {engine.kind} {engine.executable}")
    first_seconds, first = asyncio.run(timed_scan("shell", SHELL_30))
    print(f"  shell  first scan in this process: {first_seconds:6.2f} s  ({first.status}, {len(first.findings)} findings)")
    for language, code in (("shell", SHELL_30), ("python", PYTHON_30)):
        assert code.count("\n") == 29
        times = []
        for _ in range(n):
            seconds, result = asyncio.run(timed_scan(language, code))
            assert result.status == "findings", result
            times.append(seconds)
        print(f"  {language:<6} warm: median {statistics.median(times):5.2f} s  min {min(times):5.2f} s  "
              f"(of {n}; {len(result.findings)} findings)")
    with tempfile.TemporaryDirectory(prefix="oi-bench-") as workdir:
        Path(workdir, "block.sh").write_text(SHELL_30)
        rules = str(scanner.rules_file("shell"))
        common = ["--config", rules, "--json", "--metrics=off", "--disable-version-check", "--quiet", "block.sh"]
        runs = max(3, n // 2)
        print("  floors and other ways to start the same scan (median wall time of separate processes):")
        print(f"    semgrep-core -version (engine start-up):       {median_command([engine.executable, '-version'], workdir, runs):5.2f} s")
        print(f"    semgrep --version (Python CLI start-up):       {median_command([semgrep, '--version'], workdir, runs):5.2f} s")
        print(f"    semgrep scan --experimental (wrapper+engine):  {median_command([semgrep, 'scan', '--experimental', *common], workdir, runs):5.2f} s")
        print(f"    semgrep scan (the Python CLI, default):        {median_command([semgrep, 'scan', *common], workdir, 3):5.2f} s")
    load = os.getloadavg()
    print(f"  (load average during the run: {load[0]:.1f} on {os.cpu_count()} cores)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    bench_classifier(n)
    bench_scanner(n)


if __name__ == "__main__":
    main()

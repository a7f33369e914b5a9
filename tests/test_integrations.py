"""Where users run the linter: CI report formats, pre-commit, flake8, the GitHub Action.

Each integration is checked against the tool that reads it: SARIF against the official
2.1.0 schema and Microsoft's SARIF validator, the pre-commit hooks with the real pre-commit,
the flake8 plugin with the real flake8, the Action's steps with bash the way the runner
executes them. The slow ones (they install packages) share one cache per test session.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import asyncloop_lint
from asyncloop_lint.cli import main
from asyncloop_lint.diagnostic import SAFE, Diagnostic, FileResult, FixInfo, Location
from asyncloop_lint.reporters import FORMATS, Run

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
PYTHON_BIN = Path(sys.executable).parent

# A fixable import-time asyncio.run (AL101, safe fix) and a get_event_loop in a coroutine (AL103).
BAD_SCRIPT = textwrap.dedent(
    """\
    import asyncio


    async def main() -> None:
        await asyncio.sleep(0)


    asyncio.run(main())
    """
)
BAD_CORO = textwrap.dedent(
    """\
    import asyncio


    async def fetch() -> None:
        loop = asyncio.get_event_loop()
        print(loop)


    async def again() -> None:
        loop = asyncio.get_event_loop()
        print(loop)
    """
)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout


def make_project(root: Path) -> Path:
    """A git work tree with findings in a subpackage (paths must come out repository-relative)."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    (root / "app").mkdir()
    (root / "app" / "script.py").write_text(BAD_SCRIPT)
    (root / "app" / "coro.py").write_text(BAD_CORO)
    (root / "app" / "clean.py").write_text("import asyncio\n")
    return root


def lint(cwd: Path, *args: str) -> tuple[int, str]:
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, ["--no-cache", "-j", "1", *args])
    finally:
        os.chdir(old)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


# --- SARIF ---------------------------------------------------------------------------------


def sarif_validator():  # type: ignore[no-untyped-def]
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
    return jsonschema.Draft4Validator(schema)


def test_sarif_matches_schema_and_github_fields(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    # Run from a subdirectory: URIs are still relative to the repository root.
    code, output = lint(root / "app", ".", "--output-format", "sarif")
    assert code == 1
    document = json.loads(output)
    errors = sorted(sarif_validator().iter_errors(document), key=str)
    assert not errors, [e.message for e in errors]

    assert document["version"] == "2.1.0"
    (run,) = document["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "asyncloop-lint"
    assert driver["version"] == asyncloop_lint.__version__
    assert driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == ["AL101", "AL103"]
    for rule in driver["rules"]:
        assert rule["name"] and rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["helpUri"].endswith(f"{rule['id']}.md")
        assert rule["defaultConfiguration"]["level"] == "error"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == root.resolve().as_uri() + "/"

    results = run["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results] == [
        ("AL103", "app/coro.py"), ("AL103", "app/coro.py"), ("AL101", "app/script.py")]
    for result in results:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] == "error" and result["message"]["text"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    script = results[2]
    assert script["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 8, "startColumn": 1, "endLine": 8, "endColumn": 20,
        "snippet": {"text": "asyncio.run(main())"}}
    (fix,) = script["fixes"]
    (change,) = fix["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "app/script.py"
    (replacement,) = change["replacements"]
    assert replacement["deletedRegion"]["startLine"] == 8
    assert 'if __name__ == "__main__":' in replacement["insertedContent"]["text"]


def test_sarif_clean_run_is_valid(tmp_path: Path) -> None:
    root = tmp_path / "clean"
    root.mkdir()
    (root / "ok.py").write_text("import asyncio\n")
    code, output = lint(root, ".", "--output-format", "sarif")
    assert code == 0
    document = json.loads(output)
    assert not list(sarif_validator().iter_errors(document))
    assert document["runs"][0]["results"] == [] and document["runs"][0]["tool"]["driver"]["rules"] == []


def test_sarif_multitool_reports_no_errors_or_warnings(tmp_path: Path) -> None:
    if shutil.which("npx") is None:
        pytest.skip("npx (Node.js) is not installed: Microsoft's SARIF validator runs through npx")
    root = make_project(tmp_path / "proj")
    code, _ = lint(root, ".", "--output-format", "sarif", "-o", str(tmp_path / "out.sarif"))
    assert code == 1
    log = tmp_path / "validation.sarif"
    proc = subprocess.run(
        # npx hands the command to a shell: the ';'-separated list needs its own quotes.
        ["npx", "--yes", "-p", "@microsoft/sarif-multitool", "sarif-multitool", "validate",
         "--level", '"Error;Warning;Note"', "--log", "ForceOverwrite", "-o", str(log), str(tmp_path / "out.sarif")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    if not log.exists():
        pytest.skip(f"the SARIF validator could not be installed or run: {proc.stderr[-500:]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    findings = json.loads(log.read_text())["runs"][0].get("results", [])
    serious = [(r["ruleId"], r["message"].get("arguments")) for r in findings
               if r.get("level", "warning") in ("error", "warning")]
    assert not serious


# --- GitLab Code Quality -------------------------------------------------------------------


def gitlab_report(root: Path) -> list[dict]:
    code, output = lint(root, ".", "--output-format", "gitlab")
    assert code == 1
    return json.loads(output)


def test_gitlab_code_quality_report(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    issues = gitlab_report(root / "app")
    assert [(i["check_name"], i["location"]["path"], i["location"]["lines"]["begin"]) for i in issues] == [
        ("AL103", "app/coro.py", 5), ("AL103", "app/coro.py", 10), ("AL101", "app/script.py", 8)]
    for issue in issues:
        assert set(issue) >= {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in ("info", "minor", "major", "critical", "blocker")
        assert issue["description"].startswith(issue["check_name"])
        assert re.fullmatch(r"[0-9a-f]{32}", issue["fingerprint"])
    # Two identical lines in one file still get distinct fingerprints.
    assert len({i["fingerprint"] for i in issues}) == 3


def test_gitlab_fingerprints_survive_unrelated_line_shifts(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    before = {i["location"]["path"] + i["check_name"]: i["fingerprint"] for i in gitlab_report(root)}
    assert before == {i["location"]["path"] + i["check_name"]: i["fingerprint"] for i in gitlab_report(root)}
    script = root / "app" / "script.py"
    script.write_text('"""Docstring added above."""\n\nimport logging\n' + script.read_text())
    shifted = gitlab_report(root)
    assert [i["location"]["lines"]["begin"] for i in shifted if i["check_name"] == "AL101"] == [11]
    assert {i["location"]["path"] + i["check_name"]: i["fingerprint"] for i in shifted} == before


# --- JUnit ---------------------------------------------------------------------------------


def test_junit_report(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    code, output = lint(root, ".", "--output-format", "junit")
    assert code == 1
    suites = ET.fromstring(output.encode())
    assert suites.tag == "testsuites" and suites.get("tests") == "3" and suites.get("failures") == "3"
    by_name = {s.get("name"): s for s in suites.findall("testsuite")}
    assert set(by_name) == {"app/coro.py", "app/script.py"}
    cases = by_name["app/script.py"].findall("testcase")
    assert len(cases) == 1
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message", "").startswith("AL101 ")
    assert "app/script.py:8:1: AL101" in (failure.text or "")

    junitparser = pytest.importorskip("junitparser")
    xml = junitparser.JUnitXml.fromstring(output)
    parsed = [(suite.name, case.name, [type(r).__name__ for r in case.result]) for suite in xml for case in suite]
    assert len(parsed) == 3 and all(results == ["Failure"] for _, _, results in parsed)


def test_junit_report_when_clean(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("import asyncio\n")
    code, output = lint(tmp_path, ".", "--output-format", "junit")
    assert code == 0
    suites = ET.fromstring(output.encode())
    cases = suites.findall("./testsuite/testcase")
    assert len(cases) == 1 and not list(cases[0])


def test_junit_escapes_xml(tmp_path: Path) -> None:
    d = Diagnostic("AL101", "n", 'msg <&> "quoted" \x1b', str(tmp_path / "a&b.py"), Location(1, 1), Location(1, 2))
    out = io.StringIO()
    FORMATS["junit"](Run([FileResult(d.filename, (d,))]), out)
    failure = ET.fromstring(out.getvalue().encode()).find(".//failure")
    assert failure is not None and failure.get("message") == 'AL101 msg <&> "quoted" '


# --- GitHub workflow commands --------------------------------------------------------------

COMMAND = re.compile(r"^::(?P<name>[a-z]+)(?: (?P<props>[^:]*))?::(?P<data>.*)$")


def parse_workflow_command(line: str) -> tuple[str, dict[str, str], str]:
    """Parse one line the way the Actions runner does: split, then unescape."""
    match = COMMAND.match(line)
    assert match, line
    props = {}
    for pair in (match["props"] or "").split(","):
        key, sep, value = pair.partition("=")
        assert sep, pair
        props[key] = (value.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":")
                      .replace("%2C", ",").replace("%25", "%"))
    data = match["data"].replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")
    return match["name"], props, data


def test_github_annotations_follow_the_workflow_command_grammar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = "odd, name: 100%.py"
    message = "first, second: 50% done\r\nnext line %0A not an escape"
    d = Diagnostic("AL101", "n", message, str(tmp_path / name), Location(3, 5), Location(3, 9))
    multi = Diagnostic("AL103", "n", "spans lines", str(tmp_path / name), Location(4, 1), Location(6, 2))
    out = io.StringIO()
    FORMATS["github"](Run([FileResult(d.filename, (d, multi))]), out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # no raw newline leaks out of a command
    kind, props, data = parse_workflow_command(lines[0])
    assert kind == "error"
    assert props == {"title": "asyncloop-lint (AL101)", "file": name, "line": "3", "col": "5",
                     "endLine": "3", "endColumn": "9"}
    assert data == f"{name}:3:5: AL101 {message}"
    _, props, _ = parse_workflow_command(lines[1])
    assert props["line"] == "4" and props["endLine"] == "6" and "col" not in props


# --- flake8 --------------------------------------------------------------------------------


def flake8(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not any(ep.name == "AL" for ep in importlib.metadata.entry_points(group="flake8.extension")):
        pytest.skip("the flake8 entry point is not registered: install the package (pip install -e .)")
    pytest.importorskip("flake8")
    isolated = [] if "--config" in args else ["--isolated"]  # no user or project config leaks in
    return subprocess.run([sys.executable, "-m", "flake8", *isolated, *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_flake8_reports_the_same_findings(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    proc = flake8(root, "--select", "AL", "app")
    assert proc.returncode == 1, proc.stderr
    _, concise = lint(root, "app", "--output-format", "concise", "-q")
    ours = sorted(line.split(" ", 2)[:2] for line in concise.splitlines() if line)
    theirs = sorted(line.split(" ", 2)[:2] for line in proc.stdout.splitlines())
    assert theirs == ours and len(theirs) == 3
    assert "AL101 `asyncio.run()`" in proc.stdout


def test_flake8_noqa_and_config(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    script = root / "app" / "script.py"
    script.write_text(BAD_SCRIPT.replace("asyncio.run(main())", "asyncio.run(main())  # noqa: AL101"))
    coro = root / "app" / "coro.py"
    coro.write_text(BAD_CORO.replace("loop = asyncio.get_event_loop()\n    print(loop)\n\n\nasync def again",
                                     "loop = asyncio.get_event_loop()  # noqa\n    print(loop)\n\n\nasync def again"))
    proc = flake8(root, "--select", "AL", "app")
    assert [line.split(" ")[:2] for line in proc.stdout.splitlines()] == [["app/coro.py:10:12:", "AL103"]]
    # flake8's own configuration: per-file-ignores, extend-ignore.
    (root / ".flake8").write_text("[flake8]\nselect = AL\nper-file-ignores =\n    app/coro.py: AL103\n")
    proc = flake8(root, "--config", ".flake8", "app")
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr
    proc = flake8(root, "--select", "AL", "--extend-ignore", "AL1", "app")
    assert proc.returncode == 0 and proc.stdout == ""


def test_flake8_leaves_syntax_errors_to_flake8(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import asyncio\nasyncio.run(\n")
    proc = flake8(tmp_path, "--select", "AL,E999", "broken.py")
    codes = [line.split(" ")[1] for line in proc.stdout.splitlines()]
    assert codes == ["E999"], proc.stdout + proc.stderr


# --- pre-commit ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository as pre-commit installs it: a commit, in a repository of its own.

    The commit holds the last committed tree (a consistent snapshot even while the working tree
    has half-finished edits) with the hook manifest and the action from the working tree.
    """
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    dest = tmp_path_factory.mktemp("hook-repo")
    archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=REPO, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    for name in (".pre-commit-hooks.yaml", "action.yml"):
        shutil.copy2(REPO / name, dest / name)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "snapshot")
    return dest


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PRE_COMMIT_HOME for the session, so the hook environment is built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


def pre_commit(cwd: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = PYTHON_BIN / "pre-commit"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "pre_commit"]
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    env.pop("ASYNCLOOP_LINT_OUTPUT_FORMAT", None)
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=900, env=env)


def test_pre_commit_hooks(tmp_path: Path, hook_repo: Path, pre_commit_home: Path) -> None:
    pytest.importorskip("pre_commit")
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    (work / "job.py").write_text(BAD_SCRIPT)
    (work / "stub.pyi").write_text("def f() -> None: ...\n")
    (work / "notes.txt").write_text("asyncio.run(main())\n")
    git(work, "add", "-A")

    check = pre_commit(work, pre_commit_home, "try-repo", str(hook_repo), "asyncloop-lint", "--all-files")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "job.py:8:1: AL101" in check.stdout
    assert "notes.txt" not in check.stdout

    fix = pre_commit(work, pre_commit_home, "try-repo", str(hook_repo), "asyncloop-lint-fix", "--all-files")
    assert fix.returncode == 1, fix.stdout + fix.stderr  # files were modified
    assert "files were modified by this hook" in fix.stdout
    fixed = (work / "job.py").read_text()
    assert 'if __name__ == "__main__":\n    asyncio.run(main())' in fixed

    git(work, "add", "-A")
    again = pre_commit(work, pre_commit_home, "try-repo", str(hook_repo), "asyncloop-lint-fix", "--all-files")
    assert again.returncode == 0, again.stdout + again.stderr
    check = pre_commit(work, pre_commit_home, "try-repo", str(hook_repo), "asyncloop-lint", "--all-files")
    assert check.returncode == 0, check.stdout + check.stderr
    assert (work / "job.py").read_text() == fixed


def test_pre_commit_hooks_manifest() -> None:
    yaml = pytest.importorskip("yaml")
    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"asyncloop-lint", "asyncloop-lint-fix"}
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["types_or"] == ["python", "pyi"]
        assert hook["require_serial"] is True
    assert "--fix" in hooks["asyncloop-lint-fix"]["entry"].split()
    assert "--fix" not in hooks["asyncloop-lint"]["entry"].split()


# --- GitHub Action -------------------------------------------------------------------------


def test_action_steps_annotate_findings(tmp_path: Path, hook_repo: Path) -> None:
    """Run the composite action's steps with bash, as the runner does, against a bad file."""
    yaml = pytest.importorskip("yaml")
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {"args", "paths", "version"}
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "job.py").write_text(BAD_SCRIPT)
    (workspace / "ok.py").write_text("import asyncio\n")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    github_env = tmp_path / "github_env"
    github_env.write_text("")
    values = {
        "github.action_path": str(hook_repo), "runner.temp": str(runner_temp),
        "inputs.version": "", "inputs.args": "--exit-zero", "inputs.paths": "job.py ok.py",
    }

    def render(text: str) -> str:
        return re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: values[m.group(1)], text)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_REQUIRE", "VIRTUAL_ENV"))}
    env["GITHUB_ENV"] = str(github_env)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != PYTHON_BIN)
    outputs = []
    for step in action["runs"]["steps"]:
        assert step["shell"] == "bash"
        step_env = {**env, **{k: render(str(v)) for k, v in step.get("env", {}).items()}}
        for line in github_env.read_text().splitlines():
            key, _, value = line.partition("=")
            step_env[key] = value
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                              cwd=workspace, env=step_env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs.append(proc.stdout)
    annotations = [parse_workflow_command(line) for line in outputs[-1].splitlines() if line.startswith("::")]
    assert [(kind, props["file"], props["line"]) for kind, props, _ in annotations] == [("error", "job.py", "8")]
    assert "AL101" in annotations[0][2]


def test_action_and_readme_workflows_match_published_schemas(tmp_path: Path) -> None:
    """action.yml against the Actions metadata schema; the README's workflows against theirs."""
    pytest.importorskip("check_jsonschema")
    exe = PYTHON_BIN / "check-jsonschema"
    if not exe.exists():
        pytest.skip("check-jsonschema is not installed")
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Integrations", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    workflows = [b for b in blocks if b.startswith("name:") and "\njobs:" in b]
    gitlab = [b for b in blocks if "codequality:" in b]
    assert workflows and gitlab
    checks = [("vendor.github-actions", REPO / "action.yml")]
    for i, block in enumerate(workflows):
        (tmp_path / f"workflow{i}.yml").write_text(block)
        checks.append(("vendor.github-workflows", tmp_path / f"workflow{i}.yml"))
    (tmp_path / ".gitlab-ci.yml").write_text(gitlab[0])
    checks.append(("vendor.gitlab-ci", tmp_path / ".gitlab-ci.yml"))
    for schema, path in checks:
        proc = subprocess.run([str(exe), "--builtin-schema", schema, str(path)], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, f"{schema} {path.name}: {proc.stdout}{proc.stderr}"


def test_pre_commit_validates_manifest_and_readme_config(tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Integrations", 1)[1].split("\n## ", 1)[0]
    (config,) = [b for b in re.findall(r"```yaml\n(.*?)```", section, re.S) if b.startswith("repos:")]
    (tmp_path / ".pre-commit-config.yaml").write_text(config)
    for command, path in (("validate-manifest", REPO / ".pre-commit-hooks.yaml"),
                          ("validate-config", tmp_path / ".pre-commit-config.yaml")):
        proc = pre_commit(tmp_path, tmp_path, command, str(path))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "warning" not in (proc.stdout + proc.stderr).lower(), proc.stdout + proc.stderr

"""
Every command an alarm's description names (infra/aws/stack.yaml, "Signals"), and every one in
docs/DEPLOY.md's "Dead letters" and "When something breaks", exists as written, for each
deployed stage (`<stage>` read as dev and prod):

- `zappa <verb> <stage>_<kind> ... -s var/stages/<stage>/zappa_settings.json`: Zappa's own
  argument parser accepts the line, the Zappa stage is one the rendered settings have, and for
  `zappa manage` the management command exists, its arguments parse, and the function runs
  Django;
- `STAGE=<stage> .venv/bin/python manage.py <command> --settings=...`: the command exists, its
  arguments parse, the settings module is importable;
- `.venv/bin/python -m <module> ...`: the module runs and accepts the arguments.

An operator woken by an alarm copies these; a command removed or renamed (as
`configure_sender` was) must fail here, not at night.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from . import zappa_stages
from .test_stack import template
from .zappa_stages import BASE_DIR

DEPLOY_DOC = BASE_DIR / "docs" / "DEPLOY.md"
SETTINGS_FLAG = "-s var/stages/<stage>/zappa_settings.json"
KINDS = ("site", "webhook", "sender", "manage")


def _spans(text: str) -> list[str]:
    return [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", text)]


def alarm_commands() -> dict[str, list[str]]:
    found = {}
    for name, resource in template()["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        description = resource["Properties"]["AlarmDescription"]
        assert isinstance(description, str), name
        assert len(description) <= 1024, (name, len(description))  # CloudWatch's limit
        found[name] = _spans(description)
    return found


def doc_commands() -> list[tuple[str, list[str]]]:
    """The commands of DEPLOY.md's "Dead letters" (its sh blocks) and of the table in "When
    something breaks" (per row; $Z is the stage's -s, <kind> each kind)."""
    text = DEPLOY_DOC.read_text()

    def section(heading: str) -> str:
        start = text.index(heading)
        end = text.find("\n#", start + len(heading))
        return text[start:end if end > 0 else None]

    units = []
    for block in re.findall(r"```sh\n(.*?)```", section("### Dead letters"), re.S):
        units += [("Dead letters", [line.strip()]) for line in block.splitlines() if line.strip()]
    breaks = section("## When something breaks")
    intro = breaks.split("\n| ", 1)[0]
    units.append(("When something breaks", [s for s in _spans(intro) if is_command(s)]))
    for row in breaks.splitlines():
        if not row.startswith("| `"):
            continue
        spans = []
        for span in _spans(row.replace("$Z", SETTINGS_FLAG)):
            spans += [span.replace("<kind>", kind) for kind in KINDS] if "<kind>" in span else [span]
        units.append((row.split("|")[1].strip(), spans))
    return units


def is_command(span: str) -> bool:
    """A command line (it names a stage); prose like "the `zappa update` loop" is not one."""
    names_a_stage = "<stage>" in span or any(re.search(rf"(STAGE={s} |\b{s}_|var/stages/{s}/)", span)
                                             for s in zappa_stages.STAGES)
    return names_a_stage and bool(re.match(r"(STAGE=\S+ )?(\.venv/bin/)?(zappa|python) ", span))


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A directory laid out as the checkout is for the operator: the rendered settings of each
    stage at var/stages/<stage>/zappa_settings.json."""
    root = tmp_path_factory.mktemp("checkout")
    for stage in zappa_stages.STAGES:
        path = root / "var" / "stages" / stage / "zappa_settings.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(zappa_stages.rendered(stage)))
    return root


def zappa_line(argv: list[str], checkout: Path, monkeypatch) -> tuple[str, str, dict, dict]:
    """Zappa's own CLI parses argv up to the command it would run: (command, Zappa stage, its
    arguments, the settings file it loaded)."""
    from zappa.cli import ZappaCLI

    seen = {}
    monkeypatch.chdir(checkout)
    monkeypatch.setattr(ZappaCLI, "check_for_update", lambda self: None)  # no network
    monkeypatch.setattr(ZappaCLI, "dispatch_command",
                        lambda self, command, stage: seen.update(command=command, stage=stage, vargs=dict(self.vargs)))
    cli = ZappaCLI()
    try:
        cli.handle(argv)
    except SystemExit as exc:  # argparse refused the line
        pytest.fail(f"zappa {' '.join(argv)}: Zappa's parser refuses it ({exc})")
    assert seen, f"zappa {' '.join(argv)} runs nothing"
    return seen["command"], seen["stage"], seen["vargs"], cli.zappa_settings


def check_management_command(words: list[str], where: str) -> None:
    from django.core.management import CommandError, get_commands, load_command_class

    name, *arguments = words
    commands = get_commands()
    assert name in commands, f"{where}: no management command {name!r}"
    command = load_command_class(commands[name], name)
    try:
        command.create_parser("manage.py", name).parse_args(arguments)
    except (SystemExit, CommandError):
        pytest.fail(f"{where}: `{' '.join(words)}` is not what {name} accepts")


def check(span: str, options: str, stage: str, checkout: Path, monkeypatch) -> None:
    """`options`: more of the command's options, written apart from it (`--filter '...'`)."""
    words = shlex.split(f"{span} {options}".replace("<stage>", stage))
    env = {}
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    program, *arguments = words
    assert program.startswith(".venv/bin/") and (BASE_DIR / program).exists(), f"{span}: run {program} from the checkout"
    if env.get("STAGE"):
        assert env["STAGE"] in zappa_stages.STAGES, span
    if program.endswith("/zappa"):
        command, zappa_stage, vargs, rendered = zappa_line(arguments, checkout, monkeypatch)
        assert vargs["settings_file"] == f"var/stages/{stage}/zappa_settings.json", span
        assert zappa_stage in rendered, f"{span}: the rendered settings have no Zappa stage {zappa_stage!r}"
        if command == "manage":
            assert rendered[zappa_stage].get("django_settings"), f"{span}: {zappa_stage} does not run Django"
            # Zappa joins what follows the stage with spaces; its handler splits it again.
            check_management_command(" ".join(vargs["command_rest"]).split(" "), span)
        return
    assert program.endswith("/python"), span
    if arguments[0] == "manage.py":
        settings = [a.split("=", 1)[1] for a in arguments if a.startswith("--settings=")]
        for module in settings:
            assert importlib.util.find_spec(module) is not None, f"{span}: no settings module {module}"
        check_management_command([a for a in arguments[1:]], span)
        return
    assert arguments[0] == "-m", span
    module = arguments[1]
    assert importlib.util.find_spec(module) is not None, f"{span}: no module {module}"
    answer = subprocess.run([sys.executable, *arguments, "--help"], cwd=BASE_DIR, capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0, f"{span}: {answer.stderr[-500:]}"


def stages_of(span: str) -> list[str]:
    """Every stage for `<stage>`; else the one the command names (docs write `dev`)."""
    if "<stage>" in span:
        return list(zappa_stages.STAGES)
    named = [s for s in zappa_stages.STAGES if re.search(rf"(STAGE={s} |\b{s}_|var/stages/{s}/)", span)]
    assert named, f"`{span}` names no stage"
    return named


def _check_all(spans: list[str], where: str, checkout: Path, monkeypatch) -> int:
    checked = 0
    previous = None
    for span in spans:
        if span.startswith("--"):  # more options of the command before it
            assert previous, f"{where}: `{span}` follows no command"
            for stage in stages_of(previous):
                check(previous, span, stage, checkout, monkeypatch)
            continue
        if not is_command(span):
            continue
        for stage in stages_of(span):
            check(span, "", stage, checkout, monkeypatch)
        previous, checked = span, checked + 1
    return checked


def test_every_command_an_alarm_names_exists(checkout, monkeypatch):
    commands = alarm_commands()
    total = sum(_check_all(spans, name, checkout, monkeypatch) for name, spans in commands.items())
    assert total >= 10
    text = json.dumps(commands)
    # The ones an operator needs most, written out (not "manage.py doctor").
    for name in ("DeadLetterAlarm", "DeadLetterAgeAlarm"):
        assert any("<stage>_manage \"replay_dead_letters --dry-run\"" in s for s in commands[name]), name
        assert any(s.startswith(".venv/bin/zappa manage <stage>_manage replay_dead_letters ") for s in commands[name]), name
    for name in ("DeadLetterAlarm", "WebhookServerErrorsAlarm", "StuckOutboxAlarm"):
        assert any("manage.py doctor --settings=infra.aws.operator_settings" in s for s in commands[name]), name
    assert any(s.startswith(".venv/bin/python -m infra.stages stack <stage>") for s in commands["StuckOutboxAlarm"])
    assert any("<stage>_manage retry_updates" in s for s in commands["WebhookFailedUpdatesAlarm"])
    assert "configure_sender" not in text


def test_every_command_the_runbook_names_exists(checkout, monkeypatch):
    units = doc_commands()
    checked = [(where, _check_all(spans, where, checkout, monkeypatch)) for where, spans in units]
    assert sum(n for where, n in checked if where == "Dead letters") == 4
    assert sum(n for _, n in checked) >= 20


def test_a_removed_command_is_caught(checkout, monkeypatch):
    """The control: what this test would have said of the old StuckOutboxAlarm text."""
    with pytest.raises(AssertionError, match="no management command 'configure_sender'"):
        check("STAGE=<stage> .venv/bin/python manage.py configure_sender --settings=infra.aws.operator_settings",
              "", "dev", checkout, monkeypatch)
    with pytest.raises(AssertionError, match="no Zappa stage 'dev_worker'"):
        check(f".venv/bin/zappa tail <stage>_worker {SETTINGS_FLAG} --since 1h", "", "dev", checkout, monkeypatch)
    with pytest.raises(pytest.fail.Exception, match="Zappa's parser refuses it"):
        check(f".venv/bin/zappa manage <stage>_manage replay_dead_letters --dry-run {SETTINGS_FLAG}", "", "dev",
              checkout, monkeypatch)

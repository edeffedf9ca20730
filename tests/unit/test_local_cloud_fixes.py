"""The local cloud's fixes to MiniStack (localcloud/fixes/) apply to the pinned
MiniStack, and none can silently become a no-op: a name gone or of another shape stops the
start with a message naming it, another MiniStack version is refused, and an exception raised
inside a replacement is logged before MiniStack can swallow it. No cloud runs here."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from localcloud import fixes

ROOT = Path(__file__).resolve().parents[2]


def test_every_fix_and_the_meter_apply_to_the_pinned_ministack():
    # in a process of its own: the fixes change MiniStack's modules for good
    script = (
        "import logging, tempfile; logging.basicConfig(level=logging.INFO)\n"
        "from localcloud import fixes, meter\n"
        "fixes.apply_all(); meter.install(tempfile.mktemp())\n"
        "from ministack.services import eventbridge, lambda_svc\n"
        "assert eventbridge._dispatch_to_lambda.__wrapped__.__name__ == 'dispatch_to_lambda'\n"
        "assert lambda_svc.invoke_async_with_retry.__wrapped__.__name__ == 'invoke_async_with_retry'\n"
        "print('applied')"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    applied = re.findall(r"local-cloud fix applied: (\w+)", result.stderr)
    assert applied == [fix.__name__ for fix in fixes.FIXES] and result.stdout.strip() == "applied"


def test_the_pin_is_the_version_requirements_install():
    pins = dict(
        line.split("==")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert pins["ministack"] == fixes.MINISTACK_VERSION
    fixes.check_version()  # the installed one


def test_every_fix_has_its_row_in_the_page_its_docstring_points_to():
    # Each difference is written once, in docs/LOCAL-CLOUD.md; a fix's docstring says only how
    # it works, so a fix without a row there would be a difference written nowhere.
    rows = [line for line in (ROOT / "docs" / "LOCAL-CLOUD.md").read_text().splitlines() if line.startswith("| ")]
    for fix in fixes.FIXES:
        assert any(f"`{fix.__name__}`" in row for row in rows), f"{fix.__name__} has no row in docs/LOCAL-CLOUD.md"
        assert "docs/LOCAL-CLOUD.md" in (fix.__doc__ or ""), f"{fix.__name__}'s docstring does not point to its row"


def test_another_ministack_version_is_refused_naming_both():
    with pytest.raises(fixes.FixTargetChanged, match=r"MiniStack 1\.6\.0 is installed; .* written for 1\.5\.33"):
        fixes.check_version("1.6.0")


def test_a_fix_whose_target_is_gone_stops_the_start_naming_it(monkeypatch):
    from ministack.services import eventbridge

    monkeypatch.delattr(eventbridge, "_dispatch_to_lambda")
    with pytest.raises(
        fixes.FixTargetChanged, match=r"route_rule_targets_through_async_invoke: .*eventbridge\._dispatch_to_lambda"
    ):
        fixes.route_rule_targets_through_async_invoke()
    assert not hasattr(eventbridge, "_dispatch_to_lambda")  # nothing assigned under the old name


def test_a_name_a_fix_reads_but_does_not_replace_is_checked_too(monkeypatch):
    from ministack.services import lambda_svc

    monkeypatch.delattr(lambda_svc, "_esm_backoff_until")
    with pytest.raises(fixes.FixTargetChanged, match=r"honour_stream_source_settings: .*_esm_backoff_until"):
        fixes.honour_stream_source_settings()


def test_a_target_of_another_shape_is_refused(monkeypatch):
    from ministack.services import eventbridge

    monkeypatch.setattr(eventbridge, "_dispatch_to_lambda", lambda arn, payload, account: None)
    with pytest.raises(
        fixes.FixTargetChanged, match=r"takes \(arn, payload, account\); .*written for \(arn, payload\)"
    ):
        fixes.route_rule_targets_through_async_invoke()


def test_a_table_that_is_no_longer_a_dict_is_refused():
    with pytest.raises(fixes.FixTargetChanged, match="is no longer a dict"):
        fixes.register([], "AWS::Events::Archive", {}, fix="provision_event_archives", where="_RESOURCE_HANDLERS")


def test_an_exception_inside_a_replacement_is_logged_then_raised(caplog):
    owner = types.SimpleNamespace(work=lambda event: event)

    def broken(event):
        raise KeyError("detail")

    fixes.patch(owner, "work", lambda _: broken, fix="a_fix", params=("event",))
    with caplog.at_level(logging.ERROR, logger="localcloud.fixes"), pytest.raises(KeyError):
        owner.work({})
    [record] = caplog.records
    assert "a_fix" in record.getMessage() and record.exc_info[0] is KeyError


async def _fails():
    raise ValueError("bad body")


def test_an_async_replacement_logs_too(caplog):
    import asyncio

    owner = types.SimpleNamespace(handle_request=_fails)
    fixes.patch(owner, "handle_request", lambda original: original, fix="meter_billing")
    with caplog.at_level(logging.ERROR, logger="localcloud.fixes"), pytest.raises(ValueError):
        asyncio.run(owner.handle_request())
    assert "meter_billing" in caplog.records[0].getMessage()


# What the server saves of CloudWatch Logs on its way out, while functions still write their
# lines: every invocation adds a stream of its own to its group. Each variant in a process of
# its own, with a group of the size a long run leaves behind (one stream an invocation).
_SAVE_WHILE_WRITING = """
import json, sys, threading
if sys.argv[1] == "patched":
    from localcloud.fixes import save_logs_while_functions_run
    save_logs_while_functions_run()
from ministack.services import cloudwatch_logs, lambda_svc
func = {"config": {"FunctionName": "f", "LoggingConfig": {"LogGroup": "g"}}}
for n in range(20_000):
    lambda_svc._emit_lambda_logs(func, f"before-{n}", "a line\\n", None, 1.0)
stop = threading.Event()
def invocations():
    n = 0
    while not stop.is_set():
        lambda_svc._emit_lambda_logs(func, f"during-{n}", "a line\\n", None, 1.0)
        n += 1
writer = threading.Thread(target=invocations)
writer.start()
outcomes = []
for attempt in range(3):
    try:
        saved = cloudwatch_logs.get_state()["log_groups"]["g"]["streams"]
        outcomes.append(sum("RequestId: before-" in stream["events"][0]["message"] for stream in saved.values()))
    except RuntimeError as error:
        outcomes.append(str(error))
stop.set()
writer.join()
print(json.dumps(outcomes))
"""


@pytest.mark.parametrize("variant", ["unpatched", "patched"])
def test_the_logs_saved_on_the_way_out_are_whole_while_functions_still_write(variant):
    result = subprocess.run(
        [sys.executable, "-c", _SAVE_WHILE_WRITING, variant], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = json.loads(result.stdout)
    if variant == "unpatched":
        # the copy fails, nothing is saved, and after a restart every line before it is gone
        assert "dictionary changed size during iteration" in outcomes, (
            f"{outcomes}: MiniStack now saves its logs whole: drop save_logs_while_functions_run"
        )
    else:
        assert outcomes == [20_000] * 3  # every stream written before the copy, in each copy

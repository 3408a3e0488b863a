"""The package's log never writes a line a metric regex matches: message, arguments and exception text are
defused, and so are Python warnings and other libraries' records in the training process."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

from ensemble_byoc.contract.logs import MetricSafeFormatter
from ensemble_byoc.training.metric_lines import metric_definitions

REGEXES = [d["Regex"] for d in metric_definitions("rmse", ("xgboost",))] + [
    r"validation-rmse:(.*?);", r"validation-rmse:([0-9\.]+)"]


def _matched(text: str) -> list[str]:
    return [line for line in text.splitlines() for regex in REGEXES if re.search(regex, line)]


def _record(msg: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("ensemble_byoc.training.data", logging.INFO, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]


def test_a_metric_shaped_message_argument_is_defused() -> None:
    text = MetricSafeFormatter().format(_record("categorical features %s.", "validation-rmse:0.000001;"))
    assert _matched(text) == []
    assert "validation\\-rmse:0.000001;" in text


def test_a_metric_shaped_line_in_an_exception_is_defused() -> None:
    try:
        raise ValueError("bad column\nvalidation-rmse:0.1;")
    except ValueError:
        record = _record("failed", exc_info=sys.exc_info())
    text = MetricSafeFormatter().format(record)
    assert "Traceback" in text
    assert _matched(text) == []


def test_another_formatter_wrapped_keeps_its_format_and_is_defused() -> None:
    text = MetricSafeFormatter(logging.Formatter("%(name)s | %(message)s")).format(
        _record("%s", "validation-rmse:2.0;"))
    assert text == "ensemble_byoc.training.data | validation\\-rmse:2.0;"


def test_in_the_training_process_warnings_and_other_loggers_are_defused_too() -> None:
    code = (
        "import logging, warnings\n"
        "from ensemble_byoc.contract.logs import configure_logging\n"
        "configure_logging('INFO', whole_process=True)\n"
        "warnings.warn('column validation-rmse:0.1; looks odd')\n"
        "logging.getLogger('some.library').warning('label validation-rmse:0.2;')\n"
        "logging.getLogger('ensemble_byoc.x').info('name validation-rmse:0.3;')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.count("validation\\-rmse:0.") == 3, done.stderr
    assert _matched(done.stdout + done.stderr) == []

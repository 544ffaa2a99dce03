"""What ``mlflow_lock`` logs for a run folder, computed from its files without MLflow.

run.lock, ``.naga/record.json`` and ``result.json`` become tags, params, metrics, dataset
inputs, the run's start and end times and its description (markdown, the MLflow UI's
"Description" box). Pure functions of plain data, so each is tested without a store.
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from naga._plain import flatten
from naga._record import is_metrics
from naga._urls import strip_credentials

__all__ = [
    "config_params",
    "data_inputs",
    "describe",
    "lock_tags",
    "metric_values",
    "run_times",
    "safe_key",
]

#: MLflow's limits (``mlflow.utils.validation``): keys, param values, tag values, digests.
MAX_KEY = 250
MAX_PARAM = 6000
MAX_TAG = 8000
MAX_DIGEST = 36
TRUNCATED = "...[truncated]"
_KEY_CHARS = re.compile(r"[^\w\-. /]")


def safe_key(text: str) -> str:
    """``text`` as an MLflow key: characters MLflow refuses become ``_``, at most 250 long."""
    return _KEY_CHARS.sub("_", text)[:MAX_KEY]


def lock_tags(lock: dict[str, Any], upstream: dict[str, tuple[str, str] | None]) -> dict[str, str]:
    """The tags run.lock gives: source, git state per repo, data hashes, previous stages.

    ``upstream`` maps each key of run.lock's ``prevs`` to the ``(experiment_id, run_id)`` of
    that stage's active MLflow run, or None when it was not logged to this store.
    """
    tags: dict[str, str] = {}
    caller = lock.get("caller") or {}
    if caller.get("file"):
        tags["mlflow.source.name"] = str(caller["file"])
        tags["mlflow.source.type"] = "LOCAL"
    for index, (name, repo) in enumerate((lock.get("repos") or {}).items()):
        if index == 0 and repo.get("commit"):
            tags["mlflow.source.git.commit"] = repo["commit"]
            if repo.get("remote"):  # run.lock files of older naga versions kept tokens
                tags["mlflow.source.git.repoURL"] = strip_credentials(str(repo["remote"]))
        for field in ("commit", "dirty", "snapshot", "branch"):
            if repo.get(field) is not None:
                tags[safe_key(f"naga.repo.{name}.{field}")] = str(repo[field])
    for name, entry in (lock.get("data") or {}).items():
        tags[safe_key(f"naga.data.{name}.hash")] = str(entry.get("hash"))
    for index, path in enumerate(lock.get("prevs") or {}):
        tags[f"naga.prev.{index}.path"] = str(path)
        found = upstream.get(str(path))
        if found:
            tags[f"naga.prev.{index}.run_id"] = found[1]
    return tags


def config_params(lock: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The config as flattened params within MLflow's limits, and the keys it cannot hold.

    A value over 6,000 characters is cut with a ``...[truncated]`` marker; a key over 250
    characters or with a backtick is skipped (MLflow refuses it).
    """
    params: dict[str, str] = {}
    skipped: list[str] = []
    for key, raw in flatten(lock.get("config") or {}).items():
        value = str(raw)
        if len(key) > MAX_KEY or "`" in key:
            skipped.append(key)
            continue
        if len(value) > MAX_PARAM:
            value = value[: MAX_PARAM - len(TRUNCATED)] + TRUNCATED
        params[key] = value
    return params, skipped


def metric_values(result: Any) -> dict[str, float]:
    """The metrics of ``result.json`` (a flat mapping of numbers), keyed as MLflow accepts."""
    if not is_metrics(result):
        return {}
    return {safe_key(str(key)): float(value) for key, value in result.items()}


def data_inputs(lock: dict[str, Any], folder: Path) -> list[tuple[str, str, str, str]]:
    """Each data entry as an MLflow dataset: ``(name, digest, source, profile)``.

    The digest is naga's hash without its algorithm (32 hex digits: MLflow keeps 36 at most);
    the source is MLflow's local source, ``{"uri": <absolute path>}``; the profile holds the
    full hash, the size and the file count.
    """
    found = []
    for name, entry in (lock.get("data") or {}).items():
        if not isinstance(entry, dict):
            continue
        full = str(entry.get("hash") or "")
        digest = full.rpartition(":")[2][:MAX_DIGEST] or "unknown"
        where = entry.get("abs") or (folder / str(entry.get("path") or name)).resolve()
        profile = {k: entry[k] for k in ("hash", "size", "files") if entry.get(k) is not None}
        found.append(
            (str(name)[:500], digest, json.dumps({"uri": str(where)}), json.dumps(profile))
        )
    return found


def run_times(
    record: dict[str, Any] | None, lock: dict[str, Any] | None
) -> tuple[int | None, int | None]:
    """The run's own start and end, in ms since the epoch, for the MLflow run.

    From the run record: its ``start``, and ``start + duration_s`` (the precise duration; the
    record's ``end`` when there is none). Without a record, run.lock's ``created`` starts it
    and the end is unknown (None: MLflow then takes the time of logging).
    """
    start = _ms((record or {}).get("start"))
    if start is None:
        return _ms((lock or {}).get("created")), None
    duration = (record or {}).get("duration_s")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool) and duration >= 0:
        return start, start + round(duration * 1000)
    end = _ms((record or {}).get("end"))
    return start, end if end is not None and end >= start else None


def _ms(text: Any) -> int | None:
    """ISO 8601 UTC (``2024-05-01T12:00:00Z``, with or without a fraction) in ms, or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return round(moment.timestamp() * 1000)


def describe(
    folder: Path,
    lock: dict[str, Any] | None,
    record: dict[str, Any] | None,
    result: Any,
    upstream: dict[str, tuple[str, str] | None],
) -> str:
    """The run's description: a short markdown summary for the MLflow UI (tag ``mlflow.note.content``).

    The outcome and duration, the command, the config's changes from the defaults (when clicfg
    built it), the code, the data, the upstream runs as links to their MLflow runs, the result.
    """
    lines = [_outcome(record), ""]
    command = (lock or {}).get("command") or (record or {}).get("command")
    if isinstance(command, list) and command:
        lines.append(f"- **command**: {_code(_command(command))}")
    if lock is not None:
        lines += _config_line(lock) + _code_lines(lock) + _data_lines(lock)
        lines += _upstream_lines(lock, upstream)
    if result is not None:
        lines.append(f"- **result**: {_result(result)}")
    if lock is None:
        lines.append("- no run.lock: config, code and data are unknown")
    lines += ["", f"Run folder {_code(str(folder))}; its receipt is the artifact `run.lock`."]
    text = "\n".join(lines)
    return text if len(text) <= MAX_TAG else text[: MAX_TAG - 1] + "…"


def _outcome(record: dict[str, Any] | None) -> str:
    if record is None:
        return "**logged by naga** (no run record: start and end are not known)"
    status = str(record.get("status"))
    duration = record.get("duration_s")
    took = f" in {_duration(duration)}" if isinstance(duration, (int, float)) else ""
    text = f"**{status}**{took}, started {record.get('start')}"
    if record.get("host"):
        text += f" on {_code(str(record['host']))}"
    error = record.get("error")
    if isinstance(error, dict):
        message = f"{error.get('type')}: {error.get('message')}"
        text += f": {_code(_clip(message, 300))}"
        if error.get("where"):
            text += f" at {_code(str(error['where']))}"
    return text


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _command(argv: list[Any]) -> str:
    """The command line, the interpreter named by its file name (``python``)."""
    words = [str(w) for w in argv]
    if re.fullmatch(r"python[\d.]*", Path(words[0]).name):
        words[0] = Path(words[0]).name
    return _clip(shlex.join(words), 500)


def _config_line(lock: dict[str, Any]) -> list[str]:
    sources = lock.get("config_sources")
    if not isinstance(sources, dict):
        return []  # not built by clicfg: its changes from the defaults are not known
    parts = []
    if sources.get("experiment"):
        parts.append(f"experiment {_code(str(sources['experiment']))}")
    files = list(sources.get("files") or {})
    if files:
        parts.append("files " + ", ".join(_code(str(f)) for f in files))
    overrides = [str(o) for o in sources.get("overrides") or []]
    if overrides:
        parts.append("overrides " + ", ".join(_code(o) for o in overrides))
    return [f"- **config**: {'; '.join(parts) or 'the defaults'}"]


def _code_lines(lock: dict[str, Any]) -> list[str]:
    repos = []
    for name, repo in (lock.get("repos") or {}).items():
        if not isinstance(repo, dict) or not repo.get("commit"):
            continue
        text = f"{_code(str(name))} {_code(str(repo['commit'])[:12])}"
        if repo.get("branch"):
            text += f" on {_code(str(repo['branch']))}"
        if repo.get("dirty"):
            snapshot = repo.get("snapshot")
            text += f", dirty (snapshot {_code(str(snapshot)[:12])})" if snapshot else ", dirty"
        else:
            text += ", clean"
        repos.append(text)
    return [f"- **code**: {'; '.join(repos)}"] if repos else []


def _data_lines(lock: dict[str, Any]) -> list[str]:
    entries = []
    for name, entry in (lock.get("data") or {}).items():
        full = str((entry or {}).get("hash") or "")
        algorithm, _, digest = full.rpartition(":")
        short = f"{algorithm}:{digest[:12]}" if algorithm else digest[:12]
        entries.append(f"{_code(str(name))} {_code(short)}")
    return [f"- **data**: {', '.join(entries)}"] if entries else []


def _upstream_lines(lock: dict[str, Any], upstream: dict[str, tuple[str, str] | None]) -> list[str]:
    links = []
    for path, prev in (lock.get("prevs") or {}).items():
        found = upstream.get(str(path))
        label = _code(str(path))
        if found:
            experiment_id, run_id = found
            links.append(f"[{label}](#/experiments/{experiment_id}/runs/{run_id})")
        else:
            links.append(f"{label} (not logged to this store)")
        if isinstance(prev, dict) and prev.get("inferred"):
            links[-1] += " (from data)"
    return [f"- **upstream**: {', '.join(links)}"] if links else []


def _result(result: Any) -> str:
    if is_metrics(result):
        shown = [f"{_code(str(k))} = {v:.6g}" for k, v in list(result.items())[:20]]
        more = len(result) - len(shown)
        return ", ".join(shown) + (f", and {more} more" if more > 0 else "")
    return _code(_clip(json.dumps(result, ensure_ascii=False, default=str), 300))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code(text: str) -> str:
    """``text`` as inline markdown code (backticks inside become quotes)."""
    return "`" + text.replace("`", "'").replace("\n", " ") + "`"

"""Load Sigma rule files into a :class:`RuleSet` of compiled rules, reporting every unusable one.

YAML is parsed with the C loader and handed to pySigma as dicts (pySigma's own loading is
several times slower); pySigma validates the rules, applies Sigma filters and parses the
conditions, and :mod:`dwell.rules.compile` turns each detection into the IR. A compiled rule
set is cached on disk, keyed by the rule files' paths and content hashes.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import pickle
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dwell.errors import UsageError
from dwell.model import Severity
from dwell.rules.ir import Node, fields_of, rename
from dwell.rules.logsource import Target, targets_for

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule
    from sigma.exceptions import SigmaError
    from sigma.filters import SigmaFilter
    from sigma.rule import SigmaRule

#: Bump when the compiled form changes, so stale caches are not used.
COMPILER_VERSION = "1"
PACK_DIR = Path(__file__).resolve().parent / "pack"
CORRELATION_TYPES = frozenset({"event_count", "value_count", "temporal", "temporal_ordered"})
_DOC_START = re.compile(r"^---\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class RuleIssue:
    """A rule (or rule file) that cannot be used, and why."""

    path: str
    line: int | None
    reason: str
    rule_id: str | None = None
    title: str | None = None

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        what = f" ({self.title})" if self.title else ""
        return f"{where}{what}: {self.reason}"


@dataclass(frozen=True, slots=True)
class LogSource:
    product: str | None = None
    category: str | None = None
    service: str | None = None

    def __str__(self) -> str:
        return "/".join(p or "*" for p in (self.product, self.category, self.service))

    def __reduce__(self) -> tuple[type[LogSource], tuple[Any, ...]]:
        return LogSource, (self.product, self.category, self.service)


@dataclass(frozen=True, slots=True)
class Correlation:
    """A Sigma correlation: ``type`` over the events matched by ``rules`` (rule ids)."""

    type: str
    rules: tuple[str, ...]
    group_by: tuple[str, ...]
    timespan: int  # seconds
    op: str  # gt, gte, lt, lte, eq, neq
    count: float
    field: str | None = None  # value_count: the field whose distinct values are counted
    generate: bool = False
    #: group-by aliases: (alias, ((rule id, field name in that rule's events), ...))
    aliases: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A usable rule: metadata, its compiled condition and the events it applies to."""

    id: str
    title: str
    level: str
    status: str
    tags: list[str] = field(compare=False, hash=False)
    path: str = ""
    line: int | None = None
    sha256: str = ""
    logsource: LogSource = LogSource()
    condition: Node | None = None
    targets: tuple[tuple[Target, Node], ...] = ()
    correlation: Correlation | None = None
    name: str | None = None
    description: str = ""
    fields: tuple[str, ...] = ()
    emit: bool = True  # False: only feeds correlations (``generate: false``)

    # Rule sets are cached and sent to workers pickled: positional reduction is several times
    # faster than the generic state of frozen slots dataclasses (thousands of rules).
    def __reduce__(self) -> tuple[type[CompiledRule], tuple[Any, ...]]:
        return CompiledRule, (
            self.id, self.title, self.level, self.status, self.tags, self.path, self.line,
            self.sha256, self.logsource, self.condition, self.targets, self.correlation,
            self.name, self.description, self.fields, self.emit)

    @property
    def type(self) -> str | None:
        """The correlation type, or None for a detection rule."""
        return self.correlation.type if self.correlation is not None else None

    @property
    def severity(self) -> Severity:
        return Severity.parse(self.level)


@dataclass(slots=True)
class RuleSet:
    """Compiled rules plus every rule that could not be used (never silently dropped)."""

    rules: list[CompiledRule]
    errors: list[RuleIssue]
    sha256: str
    files: int = 0
    cached: bool = False
    #: what the compiled form of these rules depends on (files, their hashes, the compiler,
    #: placeholders, the selection): equal keys, equal rules
    key: str = ""

    @property
    def detection_rules(self) -> list[CompiledRule]:
        return [r for r in self.rules if r.correlation is None]

    @property
    def correlation_rules(self) -> list[CompiledRule]:
        return [r for r in self.rules if r.correlation is not None]


def rule_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The ``.yml``/``.yaml`` files under ``paths`` (sorted within each directory)."""
    return [Path(name) for name in _rule_names(paths)]


def _rule_names(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """:func:`rule_files` as the names ``str(Path)`` gives (no Path object per file)."""
    out: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            out.extend(sorted(_yaml_files(str(path)), key=_parts))
        elif path.is_file():
            out.append(str(path))
        else:
            raise UsageError(f"no such rule file or directory: {given}; check --rules")
    return out


def _yaml_files(root: str) -> Iterator[str]:
    """``.yml``/``.yaml`` files under ``root`` as ``Path.rglob`` finds them (symbolic links to
    files included, to directories not followed), without a Path object per directory entry
    (thousands of rule files: this is part of every hunt's start-up)."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir() and not entry.is_symlink():
                yield from _yaml_files(entry.path)
            elif os.path.splitext(entry.name)[1] in (".yml", ".yaml") and entry.is_file():
                yield entry.path
        except OSError:
            continue


def _parts(name: str) -> list[str]:
    return name.split(os.sep)  # (Path's own order: by path components)


def cache_dir() -> Path:
    """Where compiled rule sets are cached (``$DWELL_CACHE_DIR`` or the user cache dir)."""
    env = os.environ.get("DWELL_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dwell" / "rules"


def load_rules(
    paths: Sequence[str | os.PathLike[str]],
    *,
    min_level: str | None = None,
    statuses: Sequence[str] | None = None,
    include_pack: bool = True,
    placeholders: Mapping[str, Sequence[str]] | None = None,
    use_cache: bool = True,
) -> RuleSet:
    """Load and compile the rules under ``paths`` (plus dwell's own pack)."""
    minimum = None
    if min_level is not None:
        try:
            minimum = Severity.parse(min_level)
        except ValueError as exc:
            raise UsageError(f"--min-level: {exc}") from None
    files = _rule_names([PACK_DIR]) if include_pack and PACK_DIR.is_dir() else []
    files += _rule_names(paths)
    named: list[tuple[str, tuple[int, ...]]] = []  # (file, its stat signature)
    seen: set[tuple[int, int]] = set()
    for name in files:
        info = os.stat(name)  # the same file by two paths (links, overlapping --rules) once
        inode = (info.st_dev, info.st_ino)
        if inode in seen:
            continue
        seen.add(inode)
        named.append((name, (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns,
                             info.st_ctime_ns)))
    # Each file's SHA-256 from the index of files hashed before, if its stat signature is
    # the same (a change of content changes its ctime, which no one can set), else read. A
    # file changed in the last seconds is not indexed (file times are coarser than changes
    # can be: it could change again within the same tick).
    index = _file_index() if use_cache else {}
    shas: list[str] = []
    changed = False
    settled = time.time_ns() - 2_000_000_000
    for name, signature in named:
        known = index.get(name)
        if known is None or known[0] != signature:
            known = (signature, hashlib.sha256(_read_file(name)).hexdigest())
            if signature[4] < settled:
                index[name] = known
                changed = True
            else:
                changed = index.pop(name, None) is not None or changed
        shas.append(known[1])
    if use_cache and changed:
        write_cache(cache_dir() / _FILE_INDEX, index if len(index) <= 200_000 else {},
                    _FILE_INDEX)
    key = _set_key([(name, sha) for (name, _), sha in zip(named, shas, strict=True)],
                   placeholders)
    loaded = _cache_get(key) if use_cache else None
    cached = loaded is not None
    if loaded is None:
        blobs: list[tuple[str, bytes, str]] = []
        for name, _ in named:
            data = _read_file(name)
            blobs.append((name, data, hashlib.sha256(data).hexdigest()))
        key = _set_key([(name, sha) for name, _, sha in blobs], placeholders)  # (as compiled)
        loaded = _compile_all(blobs, placeholders)
        if use_cache:
            _cache_put(key, loaded)
    rules, errors = loaded
    rules = _select(rules, minimum, statuses)
    set_hash = hashlib.sha256("\n".join(sorted(f"{r.id}:{r.sha256}" for r in rules)).encode())
    selected = hashlib.sha256(key.encode())
    for rule in rules:
        selected.update(f"\n{rule.id}\0{rule.emit}".encode())
    return RuleSet(rules, list(errors), set_hash.hexdigest(), files=len(named), cached=cached,
                   key=selected.hexdigest())


def _set_key(files: list[tuple[str, str]], placeholders: Mapping[str, Sequence[str]] | None
             ) -> str:
    """The cache key of a rule set: the compiler's code, the placeholders, each file's name and
    SHA-256."""
    digest = hashlib.sha256(COMPILER_VERSION.encode())
    for module in ("compile.py", "ir.py", "load.py", "logsource.py"):  # the compiler itself
        digest.update((Path(__file__).parent / module).read_bytes())
    digest.update(json.dumps(placeholders or {}, sort_keys=True).encode())
    for name, sha in files:
        digest.update(f"{name}\0{sha}\n".encode())
    return digest.hexdigest()


#: The index of rule files hashed before: {file: ((dev, inode, size, mtime_ns, ctime_ns),
#: sha256)}, in the cache dir.
_FILE_INDEX = "rule-files.pickle"


def _file_index() -> dict[str, tuple[tuple[int, ...], str]]:
    found = read_cache(cache_dir() / _FILE_INDEX)
    return found if isinstance(found, dict) else {}


def _read_file(name: str) -> bytes:
    """A file's whole content (read through a bare descriptor: thousands of rule files)."""
    fd = os.open(name, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size  # (it may change while read: read to the end)
        chunks: list[bytes] = []
        while chunk := os.read(fd, size + 1 if not chunks else 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _select(
    rules: list[CompiledRule], minimum: Severity | None, statuses: Sequence[str] | None
) -> list[CompiledRule]:
    wanted = {s.lower() for s in statuses} if statuses else None

    def keep(rule: CompiledRule) -> bool:
        if minimum is not None and rule.severity < minimum:
            return False
        return wanted is None or rule.status in wanted

    kept = [r for r in rules if keep(r)]
    # Rules that feed a kept correlation stay (as non-emitting inputs) whatever their level.
    ids = {r.id for r in kept}
    needed = {ref for r in kept if r.correlation for ref in r.correlation.rules}
    extra = [r for r in rules if r.id in needed and r.id not in ids]
    from dataclasses import replace

    return kept + [replace(r, emit=False) for r in extra]


def _cache_get(key: str) -> tuple[list[CompiledRule], list[RuleIssue]] | None:
    value = read_cache(cache_dir() / f"{key}.pickle")
    if not (isinstance(value, tuple) and len(value) == 2):
        return None
    return value


def read_cache(path: Path) -> Any:
    """A pickled cache entry, or None when there is none or it does not load."""
    collecting = gc.isenabled()
    gc.disable()  # (unpickling makes many containers: the collector would only walk them)
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ImportError,
            ValueError):
        return None
    finally:
        if collecting:
            gc.enable()


#: Compiled rule sets (and, apart, bucket plans) kept in the cache: the most recently written.
CACHE_KEEP = 8


def _cache_put(key: str, value: tuple[list[CompiledRule], list[RuleIssue]]) -> None:
    write_cache(cache_dir() / f"{key}.pickle", value, "?" * 64 + ".pickle")  # (64 hex digits)


def write_cache(path: Path, value: Any, kind: str) -> None:
    """Pickle ``value`` to ``path`` atomically, then keep the :data:`CACHE_KEEP` newest files
    of its folder matching ``kind`` (a glob). A cache that cannot be written only costs time."""
    folder = path.parent
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        prune_cache(folder, kind, CACHE_KEEP)


def prune_cache(folder: Path, pattern: str, keep: int) -> None:
    """Delete all but the ``keep`` most recently modified files of ``folder`` matching
    ``pattern`` (each rule set or dwell version adds one: the cache must not grow forever)."""
    found: list[tuple[int, Path]] = []
    for path in folder.glob(pattern):
        with contextlib.suppress(OSError):
            found.append((path.stat().st_mtime_ns, path))
    found.sort(reverse=True)
    for _, path in found[keep:]:
        with contextlib.suppress(OSError):
            path.unlink()


def _doc_lines(text: str) -> list[int]:
    """1-based first line of each YAML document of ``text``."""
    lines = [text.count("\n", 0, m.end()) + 1 for m in _DOC_START.finditer(text)]
    if not lines or text[: text.find("---")].strip():
        lines.insert(0, 1)
    return lines


def _compile_all(
    blobs: list[tuple[str, bytes, str]], placeholders: Mapping[str, Sequence[str]] | None
) -> tuple[list[CompiledRule], list[RuleIssue]]:
    # pySigma (and PyYAML) only when rules are compiled: a cached rule set loads without them
    import yaml
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError, SigmaRuleLocation
    from sigma.filters import SigmaFilter
    from sigma.rule import SigmaRule

    from dwell.rules.compile import CompileError

    errors: list[RuleIssue] = []
    parsed: list[SigmaRule | SigmaCorrelationRule | SigmaFilter] = []
    where: dict[int, tuple[str, int | None, str]] = {}
    for name, data, sha in blobs:
        try:
            text = data.decode("utf-8-sig")
            docs = [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader)]
        except UnicodeDecodeError as exc:
            errors.append(RuleIssue(name, None, f"not UTF-8 text: {exc}"))
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            errors.append(RuleIssue(name, line, f"invalid YAML: {_one_line(exc)}"))
            continue
        lines = _doc_lines(text)
        doc_lines = [ln for d, ln in zip(docs, lines, strict=False)
                     if isinstance(d, dict) and d.get("action") not in ("global", "reset")]
        bad = [i for i, d in enumerate(docs) if d is not None and not isinstance(d, dict)]
        for i in bad:
            errors.append(RuleIssue(name, lines[i] if i < len(lines) else None,
                                    "YAML document is not a mapping (not a Sigma rule)"))
        docs = [d for d in docs if isinstance(d, dict)]
        if not docs:
            if not bad:
                errors.append(RuleIssue(name, None, "file holds no YAML document"))
            continue
        source = SigmaRuleLocation(Path(name))
        try:
            collection = SigmaCollection.from_dicts(
                docs, collect_errors=True, collect_filters=True, resolve_references=False,
                source=source,
            )
        except (SigmaError, ValueError, TypeError, KeyError) as exc:
            errors.append(RuleIssue(name, 1, f"not a Sigma rule: {_one_line(exc)}"))
            continue
        items: list[SigmaRule | SigmaCorrelationRule | SigmaFilter] = [
            *collection.rules, *collection.filters]
        for i, item in enumerate(items):
            where[id(item)] = (name, doc_lines[i] if i < len(doc_lines) else None, sha)
        for problem in collection.errors:
            if not any(problem in getattr(r, "errors", []) for r in items):
                errors.append(RuleIssue(name, None, _one_line(problem)))
        parsed.extend(items)
    filters = [p for p in parsed if isinstance(p, SigmaFilter)]
    rules_only = [p for p in parsed if not isinstance(p, SigmaFilter)]
    for flt in filters:
        for problem in flt.errors:
            path, line, _ = where[id(flt)]
            errors.append(RuleIssue(path, line, f"filter: {_one_line(problem)}",
                                    title=flt.title))
    collection = SigmaCollection(init_rules=[*rules_only], collect_filters=True,
                                 resolve_references=False)
    # Apply filters rule by rule, so a filter that breaks one rule is reported against it.
    filtered: list[SigmaRule | SigmaCorrelationRule] = []
    for rule in rules_only:
        out: SigmaRule | SigmaCorrelationRule = rule
        if isinstance(rule, SigmaRule) and not rule.errors:
            for flt in filters:
                if flt.errors:
                    continue
                try:
                    out = flt.apply_on_rule(out)
                except (SigmaError, ValueError, KeyError) as exc:
                    path, line, _ = where[id(rule)]
                    errors.append(RuleIssue(path, line, f"filter {flt.title!r}: "
                                            f"{_one_line(exc)}", _rid(rule), rule.title))
            where[id(out)] = where[id(rule)]
        filtered.append(out)
    collection = SigmaCollection(init_rules=[*filtered], collect_filters=True,
                                 resolve_references=False)
    compiled: list[CompiledRule] = []
    ids: dict[str, str] = {}
    for rule in filtered:
        path, line, sha = where[id(rule)]
        if rule.errors:
            for problem in rule.errors:
                errors.append(RuleIssue(path, _line(problem, line), _one_line(problem),
                                        _rid(rule), rule.title or None))
            continue
        try:
            done = (_detection(rule, path, line, sha, placeholders)
                    if isinstance(rule, SigmaRule)
                    else _correlation(rule, collection, path, line, sha))
        except CompileError as exc:
            errors.append(RuleIssue(path, line, str(exc), _rid(rule), rule.title or None))
            continue
        if done.id in ids:
            errors.append(RuleIssue(path, line, f"duplicate rule id {done.id}, already "
                                    f"loaded from {ids[done.id]}", done.id, done.title))
            continue
        ids[done.id] = path
        compiled.append(done)
    return _mark_inputs(compiled), errors


def _mark_inputs(rules: list[CompiledRule]) -> list[CompiledRule]:
    """Rules referenced only by correlations with ``generate: false`` do not emit hits."""
    from dataclasses import replace

    silent: set[str] = set()
    loud: set[str] = set()
    for rule in rules:
        if rule.correlation is not None:
            (loud if rule.correlation.generate else silent).update(rule.correlation.rules)
    return [replace(r, emit=False) if r.id in silent - loud else r for r in rules]


def _rid(rule: Any) -> str | None:
    return str(rule.id) if getattr(rule, "id", None) else None


def _line(exc: SigmaError, default: int | None) -> int | None:
    source = getattr(exc, "source", None)
    line = getattr(source, "line", None)
    return line if isinstance(line, int) else default


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def _meta(rule: SigmaRule | SigmaCorrelationRule) -> dict[str, Any]:
    return {
        "id": str(rule.id) if rule.id else (rule.name or rule.title),
        "title": rule.title,
        "level": str(rule.level.name).lower() if rule.level else "medium",
        "status": str(rule.status.name).lower() if rule.status else "unknown",
        "tags": [str(t) for t in rule.tags],
        "name": rule.name,
        "description": (rule.description or "").strip(),
    }


def _detection(
    rule: SigmaRule, path: str, line: int | None, sha: str,
    placeholders: Mapping[str, Sequence[str]] | None,
) -> CompiledRule:
    from dwell.rules.compile import CompileError, compile_detection

    ls = rule.logsource
    targets = targets_for(ls.product, ls.category, ls.service)
    if isinstance(targets, str):
        raise CompileError(targets)
    condition = compile_detection(rule, placeholders)
    return CompiledRule(
        **_meta(rule), path=path, line=line, sha256=sha,
        logsource=LogSource(ls.product, ls.category, ls.service),
        condition=condition,
        targets=tuple((t, rename(condition, dict(t.fields))) for t in targets),
        fields=tuple(fields_of(condition)),
    )


def _correlation(
    rule: SigmaCorrelationRule, collection: SigmaCollection, path: str, line: int | None,
    sha: str,
) -> CompiledRule:
    from sigma.exceptions import SigmaError

    from dwell.rules.compile import CompileError

    kind = str(rule.type.name).lower()
    if kind not in CORRELATION_TYPES:
        raise CompileError(f"correlation type {kind} is not supported (supported: "
                           f"{', '.join(sorted(CORRELATION_TYPES))})")
    refs: list[str] = []
    for ref in rule.rules or []:
        try:
            target = collection[ref.reference]
        except (SigmaError, KeyError, IndexError, ValueError):
            raise CompileError(f"correlation refers to unknown rule {ref.reference!r}") from None
        refs.append(str(target.id) if target.id else (target.name or target.title))
    cond = rule.condition
    op = str(getattr(cond, "op", None) and cond.op.name).lower()  # type: ignore[union-attr]
    count = getattr(cond, "count", None)
    if kind in ("event_count", "value_count") and count is None:
        raise CompileError("correlation condition has no count")
    fieldref = getattr(cond, "fieldref", None)
    if isinstance(fieldref, list):
        fieldref = fieldref[0] if fieldref else None
    if kind == "value_count" and not fieldref:
        raise CompileError("value_count correlation needs condition.field")
    if rule.timespan is None or not getattr(rule.timespan, "seconds", None):
        raise CompileError("correlation needs a timespan")
    alias_map: dict[str, dict[str, str]] = {}
    for alias in rule.aliases.aliases.values():
        alias_map[alias.alias] = {
            (str(collection[r.reference].id) if collection[r.reference].id else r.reference):
            f for r, f in alias.mapping.items()
        }
    group_by = tuple(rule.group_by or ())
    return CompiledRule(
        **_meta(rule), path=path, line=line, sha256=sha,
        correlation=Correlation(
            type=kind, rules=tuple(refs), group_by=group_by,
            timespan=int(rule.timespan.seconds), op=op if count is not None else "gte",
            count=float(count) if count is not None else 1.0,
            field=fieldref, generate=bool(rule.generate),
            aliases=tuple((k, tuple(sorted(v.items()))) for k, v in sorted(alias_map.items())),
        ),
    )

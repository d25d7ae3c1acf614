"""The knowledge base: intents (examples + answer template), FAQ entries (phrasings + answer), out-of-scope examples.

Read from YAML (the usual form) or CSV (`type,id,text,answer` rows), validated all at once: every problem
names the file, the line and the field, and raises one DataError (exit 2).
"""

from __future__ import annotations

import csv
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tunelab.errors import DataError, DataProblem

OUT_OF_SCOPE = "out_of_scope"
TEMPLATE_FIELDS = ("question", "intent")
MAX_NAME = 128


@dataclass(frozen=True)
class Intent:
    name: str
    examples: tuple[str, ...]
    answer: str  # a template: {question}, {intent} and the KB's `variables`
    line: int | None = None


@dataclass(frozen=True)
class FaqEntry:
    id: str
    questions: tuple[str, ...]
    answer: str
    line: int | None = None


@dataclass(frozen=True)
class KnowledgeBase:
    path: str
    intents: tuple[Intent, ...]
    faq: tuple[FaqEntry, ...]
    out_of_scope: tuple[str, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)

    def intent(self, name: str) -> Intent | None:
        return next((i for i in self.intents if i.name == name), None)

    def entry(self, entry_id: str) -> FaqEntry | None:
        return next((f for f in self.faq if f.id == entry_id), None)

    def answer_ids(self) -> set[str]:
        """Every label an answer can carry: intent names and FAQ ids."""
        return {i.name for i in self.intents} | {f.id for f in self.faq}


def load_kb(path: str | Path) -> KnowledgeBase:
    """Read and validate a knowledge base file (.yaml/.yml or .csv)."""
    path = Path(path)
    if not path.is_file():
        raise DataError([DataProblem(str(path), "knowledge base file not found")])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError([DataProblem(str(path), f"not UTF-8 text (byte {exc.start})")]) from None
    if path.suffix.lower() == ".csv":
        kb, problems = _parse_csv(str(path), text)
    elif path.suffix.lower() in (".yaml", ".yml"):
        kb, problems = _parse_yaml(str(path), text)
    else:
        raise DataError([DataProblem(str(path), "unknown knowledge base format: use .yaml, .yml or .csv")])
    problems += check_kb(kb)
    if problems:
        raise DataError(problems, hint="fix these entries; docs/assistant.md shows the format")
    return kb


def render_answer(template: str, question: str, intent: str, variables: dict[str, str]) -> str:
    """Fill an answer template; unknown placeholders were rejected when the KB was loaded."""
    values = {**variables, "question": question, "intent": intent}
    return string.Formatter().vformat(template, (), values)


# ---- checks common to both formats -------------------------------------------------------------------


def check_kb(kb: KnowledgeBase) -> list[DataProblem]:
    problems: list[DataProblem] = []
    p = kb.path
    if len(kb.intents) == 1:
        problems.append(DataProblem(p, f"only one intent ({kb.intents[0].name!r}): a classifier needs at least "
                                       "two (or none: FAQ only)", kb.intents[0].line, "intents"))
    if not kb.intents and not kb.faq:
        problems.append(DataProblem(p, "no intents and no FAQ entries", None, "intents"))
    seen: dict[str, str] = {}
    for kind, ident, line, texts, answer in _entries(kb):
        what = f"{kind} {ident!r}"
        if not ident or len(ident) > MAX_NAME or not ident.isprintable() or any(c.isspace() for c in ident) \
                or ident == OUT_OF_SCOPE:
            problems.append(DataProblem(p, f"{what}: names are 1-{MAX_NAME} characters without spaces "
                                           f"({OUT_OF_SCOPE!r} is reserved)", line,
                                        "name" if kind == "intent" else "id"))
        if ident in seen:
            problems.append(DataProblem(p, f"{what}: the name is used twice (also by a {seen[ident]} entry)", line))
        seen[ident] = kind
        minimum = 2 if kind == "intent" else 1
        if len(texts) < minimum:
            problems.append(DataProblem(p, f"{what}: needs at least {minimum} example question(s)", line,
                                        "examples" if kind == "intent" else "questions"))
        if not answer.strip():
            problems.append(DataProblem(p, f"{what}: empty answer", line, "answer"))
        problems += _check_template(p, what, line, answer, kb.variables)
    return problems


def _entries(kb: KnowledgeBase) -> list[tuple[str, str, int | None, tuple[str, ...], str]]:
    return ([("intent", i.name, i.line, i.examples, i.answer) for i in kb.intents]
            + [("faq", f.id, f.line, f.questions, f.answer) for f in kb.faq])


def _check_template(path: str, what: str, line: int | None, template: str,
                    variables: dict[str, str]) -> list[DataProblem]:
    try:
        names = [name for _text, name, _spec, _conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        return [DataProblem(path, f"{what}: bad answer template ({exc}); write {{{{ and }}}} for braces", line,
                            "answer")]
    unknown = sorted({n for n in names if n not in variables and n not in TEMPLATE_FIELDS})
    if unknown:
        return [DataProblem(path, f"{what}: unknown placeholder(s) {', '.join(unknown)} in the answer; known: "
                                  f"{', '.join([*TEMPLATE_FIELDS, *sorted(variables)])}", line, "answer")]
    return []


# ---- YAML --------------------------------------------------------------------------------------------


def _parse_yaml(path: str, text: str) -> tuple[KnowledgeBase, list[DataProblem]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DataError([DataProblem(path, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                     mark.line + 1 if mark else None)]) from None
    problems: list[DataProblem] = []
    top = _mapping(path, root, "the top level", problems) if root is not None else {}
    unknown = sorted(set(top) - {"intents", "faq", "out_of_scope", "variables", "name", "description"})
    for key in unknown:
        problems.append(DataProblem(path, "unknown key (known: intents, faq, out_of_scope, variables)",
                                    _line(top[key]), key))
    variables = {k: _scalar(path, v, f"variables.{k}", problems) for k, v in
                 (_mapping(path, top["variables"], "variables", problems) if "variables" in top else {}).items()}
    intents = tuple(_intent(path, node, problems) for node in _items(path, top.get("intents"), "intents", problems))
    faq = tuple(_faq(path, node, problems) for node in _items(path, top.get("faq"), "faq", problems))
    oos = _strings(path, top.get("out_of_scope"), OUT_OF_SCOPE, problems)
    return KnowledgeBase(path, intents, faq, oos, variables), problems


def _intent(path: str, node: Any, problems: list[DataProblem]) -> Intent:
    fields = _fields(path, node, "intents", ("name", "examples", "answer"), problems)
    return Intent(_scalar(path, fields.get("name"), "name", problems, node),
                  _strings(path, fields.get("examples"), "examples", problems, node),
                  _scalar(path, fields.get("answer"), "answer", problems, node), _line(node))


def _faq(path: str, node: Any, problems: list[DataProblem]) -> FaqEntry:
    fields = _fields(path, node, "faq", ("id", "questions", "answer"), problems)
    return FaqEntry(_scalar(path, fields.get("id"), "id", problems, node),
                    _strings(path, fields.get("questions"), "questions", problems, node),
                    _scalar(path, fields.get("answer"), "answer", problems, node), _line(node))


def _fields(path: str, node: Any, where: str, known: tuple[str, ...], problems: list[DataProblem]) -> dict[str, Any]:
    fields = _mapping(path, node, f"an entry of {where}", problems)
    for key in sorted(set(fields) - set(known)):
        problems.append(DataProblem(path, f"unknown field in {where} (known: {', '.join(known)})",
                                    _line(fields[key]), key))
    return fields


def _line(node: Any) -> int | None:
    return node.start_mark.line + 1 if node is not None and hasattr(node, "start_mark") else None


def _mapping(path: str, node: Any, where: str, problems: list[DataProblem]) -> dict[str, Any]:
    if not isinstance(node, yaml.MappingNode):
        problems.append(DataProblem(path, f"{where} must be a mapping (key: value)", _line(node)))
        return {}
    return {str(k.value): v for k, v in node.value}


def _items(path: str, node: Any, where: str, problems: list[DataProblem]) -> list[Any]:
    if node is None or (isinstance(node, yaml.ScalarNode) and node.value in ("", "null", "~")):
        return []
    if not isinstance(node, yaml.SequenceNode):
        problems.append(DataProblem(path, f"{where} must be a list", _line(node), where))
        return []
    return list(node.value)


def _scalar(path: str, node: Any, name: str, problems: list[DataProblem], parent: Any = None) -> str:
    if node is None:
        problems.append(DataProblem(path, f"missing field {name!r}", _line(parent), name))
        return ""
    if not isinstance(node, yaml.ScalarNode) or node.value.strip() == "":
        problems.append(DataProblem(path, f"{name!r} must be non-empty text", _line(node), name))
        return ""
    return str(node.value).strip()


def _strings(path: str, node: Any, name: str, problems: list[DataProblem], parent: Any = None) -> tuple[str, ...]:
    if node is None:
        if parent is not None:
            problems.append(DataProblem(path, f"missing field {name!r}", _line(parent), name))
        return ()
    out = []
    for item in _items(path, node, name, problems):
        value = _scalar(path, item, name, problems)
        if value:
            out.append(value)
    return tuple(out)


# ---- CSV ---------------------------------------------------------------------------------------------

CSV_COLUMNS = ("type", "id", "text", "answer")


def _parse_csv(path: str, text: str) -> tuple[KnowledgeBase, list[DataProblem]]:
    problems: list[DataProblem] = []
    reader = csv.DictReader(text.splitlines(keepends=True))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError([DataProblem(path, f"missing column(s) {', '.join(missing)}; the header must be "
                                           f"{','.join(CSV_COLUMNS)}", 1)])
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    oos: list[str] = []
    for row in reader:
        line = reader.line_num
        kind, ident = (row.get("type") or "").strip(), (row.get("id") or "").strip()
        question, answer = (row.get("text") or "").strip(), (row.get("answer") or "").strip()
        if kind == OUT_OF_SCOPE:
            oos.append(question) if question else problems.append(DataProblem(path, "empty text", line, "text"))
            continue
        if kind not in ("intent", "faq"):
            problems.append(DataProblem(path, f"type {kind!r}: use intent, faq or {OUT_OF_SCOPE}", line, "type"))
            continue
        group = groups.setdefault((kind, ident), {"line": line, "texts": [], "answer": ""})
        if question:
            group["texts"].append(question)
        if answer and group["answer"] and answer != group["answer"]:
            problems.append(DataProblem(path, f"{kind} {ident!r} has two different answers", line, "answer"))
        group["answer"] = group["answer"] or answer
    intents = tuple(Intent(i, tuple(g["texts"]), g["answer"], g["line"]) for (k, i), g in groups.items()
                    if k == "intent")
    faq = tuple(FaqEntry(i, tuple(g["texts"]), g["answer"], g["line"]) for (k, i), g in groups.items() if k == "faq")
    return KnowledgeBase(path, intents, faq, tuple(oos)), problems

"""bAbI QA tasks v1.2 (Weston et al. 2015): stories with questions, read as classification.

Each question becomes one `Example`: the question is the text, the answer the label, the story
sentences before it the context, and ``qaN`` the group, so reports can break results down by task.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from textclf.core.errors import MissingDataError, TextclfError
from textclf.data.example import DataSource, Example, Splits
from textclf.data.files import folder_problem, hold_out, read_lines, shown

# The official task names, as they appear in the release's file names (qaN_<name>_train.txt).
# Files are found by their qaN_ prefix; the names are for messages and reports.
TASK_NAMES: dict[int, str] = {
    1: "single-supporting-fact",
    2: "two-supporting-facts",
    3: "three-supporting-facts",
    4: "two-arg-relations",
    5: "three-arg-relations",
    6: "yes-no-questions",
    7: "counting",
    8: "lists-sets",
    9: "simple-negation",
    10: "indefinite-knowledge",
    11: "basic-coreference",
    12: "conjunction",
    13: "compound-coreference",
    14: "time-reasoning",
    15: "basic-deduction",
    16: "basic-induction",
    17: "positional-reasoning",
    18: "size-reasoning",
    19: "path-finding",
    20: "agents-motivations",
}

QUESTION_FORMAT = "'ID question?<TAB>answer<TAB>supporting IDs'"
ORDERED_ANSWERS = {19}  # path-finding: "n,w" is a route, not the set {n, w}
EMPTY_SET = "nothing"  # lists-sets (task 8) answers "nothing" for an empty hand


def answer_set(answer: str) -> tuple[str, ...]:
    """A bAbI answer read as a set of labels (task=multi_label): ``apple,football`` ->
    ("apple", "football"), ``nothing`` -> (), a one-word answer -> a set of one."""
    return () if answer == EMPTY_SET else tuple(sorted(set(answer.split(","))))


def official_file(task: int, split: str) -> str:
    """The release's file name for a task and split, e.g. ``qa1_single-supporting-fact_train.txt``."""
    return f"qa{task}_{TASK_NAMES[task]}_{split}.txt"


def parse_tasks(tasks: int | str | Iterable[int]) -> list[int]:
    """Normalise the ``tasks`` config value to a list of task numbers, in the order given.

    Accepts ``"all"``, one number, a list (Hydra passes a ListConfig) or a string such as
    ``"1,2,4"``, because a command-line override can arrive in any of these shapes.
    """
    if isinstance(tasks, str):
        text = tasks.strip().strip("[]").strip()
        if text.lower() == "all":
            return list(TASK_NAMES)
        items: list[object] = [part.strip() for part in text.split(",") if part.strip()]
    elif isinstance(tasks, (int, float)) or tasks is None:
        items = [tasks]  # a single number; _task_number rejects booleans, fractions and None
    else:
        items = list(tasks)
    numbers: list[int] = []
    for item in items:
        number = _task_number(item)
        if number not in numbers:
            numbers.append(number)
    if not numbers:
        raise TextclfError("bAbI: data.tasks is empty. Use data.tasks=all or a list such as data.tasks=[1,2,3].")
    return numbers


def _task_number(item: object) -> int:
    """One task number from the config, or a message saying what tasks exist."""
    text = str(item).strip()
    if isinstance(item, bool) or not (text.isascii() and text.isdigit()) or int(text) not in TASK_NAMES:
        raise TextclfError(
            f"bAbI: task {item!r} does not exist. data.tasks takes 'all' or task numbers 1..20, "
            f"e.g. data.tasks=[1,2,3]."
        )
    return int(text)


def parse_babi(path: Path, group: str) -> list[Example]:
    """Read one bAbI file into one example per question.

    A line is ``ID text``; ID 1 starts a new story and IDs then count up by 1. Statements become the
    context of every later question in the same story (questions themselves are not context). A
    question line is ``ID question?<TAB>answer<TAB>supporting IDs``; the supporting IDs are mapped to
    indices into that question's context. The supporting field may be left out or empty (generated
    files may have none). Blank lines are skipped. Anything else is a `TextclfError` naming
    ``path:line``, because a silently misread story would corrupt every question after it.
    """
    parser = _StoryParser(Path(path), group)
    for number, line in read_lines(Path(path)):
        if line.strip():
            parser.feed(number, line)
    return parser.finish()


def story_line(line: str) -> tuple[int, str]:
    """(ID, the rest) of a bAbI line ``ID text``, the one reading of a story line: training's strict
    `parse_babi` and the lenient reader of new stories (inference/records.py) both split lines here.
    ValueError holding the line's first word where that is no positive integer ID."""
    head, _, text = line.strip(" ").partition(" ")
    if not (head.isascii() and head.isdigit()) or int(head) < 1:
        raise ValueError(head)
    return int(head), text


class _StoryParser:
    """Line-by-line state of `parse_babi`: the current story and the questions read so far."""

    def __init__(self, path: Path, group: str) -> None:
        self.path = path
        self.group = group
        self.examples: list[Example] = []
        self.context: list[str] = []
        self.statement_index: dict[int, int] = {}  # story ID -> index into context
        self.last_id = 0
        self.last_line = 0
        self.last_was_question = True
        self.saw_line = False

    def error(self, number: int, what: str) -> TextclfError:
        return TextclfError(f"{self.path}:{number}: {what}")

    def feed(self, number: int, line: str) -> None:
        story_id, text = self.split_id(number, line)
        if story_id == 1:
            self.end_story()
            self.context, self.statement_index = [], {}
        elif story_id != self.last_id + 1:
            if not self.saw_line:
                raise self.error(number, f"the first line must have ID 1 (it starts a story), got ID {story_id}.")
            raise self.error(
                number,
                f"ID {story_id} does not follow ID {self.last_id} on line {self.last_line}: IDs count up by 1 "
                f"within a story, and ID 1 starts a new one.",
            )
        if "\t" in text:
            self.add_question(number, text)
        elif text.rstrip().endswith("?"):
            raise self.error(
                number, f"this question has no tab-separated answer; a question line is {QUESTION_FORMAT}."
            )
        else:
            self.statement_index[story_id] = len(self.context)
            self.context.append(text.strip())
        self.last_was_question = "\t" in text
        self.last_id, self.last_line, self.saw_line = story_id, number, True

    def split_id(self, number: int, line: str) -> tuple[int, str]:
        try:
            story_id, text = story_line(line)
        except ValueError as err:
            raise self.error(number, f"expected 'ID text' with a positive integer ID, got {str(err)!r}.") from None
        if not text.strip():
            raise self.error(number, f"ID {story_id} has no text after it.")
        return story_id, text

    def add_question(self, number: int, text: str) -> None:
        fields = text.split("\t")
        if len(fields) > 3:
            raise self.error(number, f"{len(fields)} tab-separated fields; a question line is {QUESTION_FORMAT}.")
        question, answer = fields[0].strip(), fields[1].strip()
        if not question:
            raise self.error(number, f"empty question; a question line is {QUESTION_FORMAT}.")
        if not answer:
            raise self.error(number, f"empty answer after the tab; a question line is {QUESTION_FORMAT}.")
        supporting = self.supporting(number, fields[2] if len(fields) == 3 else "")
        self.examples.append(Example(question, answer, tuple(self.context), self.group, supporting))

    def supporting(self, number: int, field: str) -> tuple[int, ...]:
        indices = []
        for token in field.split():
            if not (token.isascii() and token.isdigit()):
                raise self.error(number, f"supporting fact ID {token!r} is not an integer.")
            if int(token) not in self.statement_index:
                raise self.error(
                    number, f"supporting fact ID {token} does not point to an earlier statement of this story."
                )
            indices.append(self.statement_index[int(token)])
        return tuple(indices)

    def end_story(self) -> None:
        if not self.last_was_question:
            raise self.error(
                self.last_line,
                "this story ends with a statement; every story must end with a question "
                f"({QUESTION_FORMAT}) before the next ID 1 or the end of the file.",
            )

    def finish(self) -> list[Example]:
        if not self.saw_line:
            raise TextclfError(f"{self.path}: the file is empty; expected bAbI story lines 'ID text'.")
        self.end_story()
        if not self.examples:
            raise TextclfError(f"{self.path}: no questions in this file; a question line is {QUESTION_FORMAT}.")
        return self.examples


def find_task_file(folder: Path, task: int, split: str) -> Path | None:
    """The file ``qaN_*_<split>.txt`` in ``folder``: the official name if several match, None if none."""
    matches = sorted(folder.glob(f"qa{task}_*_{split}.txt"))
    if len(matches) > 1:
        official = folder / official_file(task, split)
        if official in matches:
            return official
        raise TextclfError(
            f"bAbI: several {split} files for task {task} in {folder}: {', '.join(m.name for m in matches)}. "
            f"Keep one, or name it {official_file(task, split)}."
        )
    return matches[0] if matches else None


@dataclass(kw_only=True)
class Babi(DataSource):
    """The bAbI tasks in ``root`` (a folder such as ``.../tasks_1-20_v1-2/en``).

    ``tasks`` is ``"all"`` (1..20), one task number or a list. For each task, ``val_fraction`` of
    its training questions are held out as validation with ``hold_out(seed=seed)``, per task so
    every task keeps the same share; the test file is the test split. Questions are held out one by
    one, so a story can give questions to both train and val, as in the usual bAbI protocol.
    ``multi_label=true`` reads every answer as a set (`answer_set`): task 8's ``apple,football``
    is then two labels, not one class of its own.
    """

    download_name = "babi"

    tasks: int | list[int] | str = "all"
    multi_label: bool = False

    def load(self) -> Splits:
        folder = Path(self.root).expanduser()
        numbers = parse_tasks(self.tasks)
        self.check_multi_label(numbers)
        files = self.task_files(folder, numbers)
        train: list[Example] = []
        val: list[Example] = []
        test: list[Example] = []
        for task in numbers:
            train_path, test_path = files[task]
            kept, held = hold_out(self.parse(train_path, task), self.val_fraction, seed=self.seed)
            train += kept
            val += held
            test += self.parse(test_path, task)
        reference = "babi1k" if folder.name == "en" else None  # the release's 1k folder
        return Splits(
            train, val, test, label_names=None, description=self.describe(folder, numbers), reference=reference,
            multi_label=self.multi_label,
        )

    def parse(self, path: Path, task: int) -> list[Example]:
        examples = parse_babi(path, f"qa{task}")
        if self.multi_label:
            examples = [replace(ex, label=answer_set(ex.label)) for ex in examples]
        return examples

    def check_multi_label(self, numbers: list[int]) -> None:
        ordered = [task for task in numbers if task in ORDERED_ANSWERS] if self.multi_label else []
        if ordered:
            raise TextclfError(
                f"bAbI: task=multi_label reads answers as sets, but task(s) {_task_list(ordered)} "
                f"({', '.join(TASK_NAMES[t] for t in ordered)}) answer with ordered paths ('n,w' is not 'w,n'). "
                "Leave them out of data.tasks, or read them with task=single_label."
            )

    def task_files(self, folder: Path, numbers: list[int]) -> dict[int, tuple[Path, Path]]:
        """Find every requested task's files before reading any, so all gaps show in one message."""
        problem = folder_problem(folder)
        if problem:
            raise MissingDataError(
                f"bAbI: data folder {shown(folder)} {problem}. Expected it to hold "
                f"qaN_<name>_train.txt and qaN_<name>_test.txt for tasks {_task_list(numbers)}, e.g. "
                f"{official_file(numbers[0], 'train')}. Point data.root=DIR at the folder that holds these files "
                f"(e.g. .../tasks_1-20_v1-2/en)."
            )
        found: dict[int, tuple[Path, Path]] = {}
        missing: list[str] = []
        for task in numbers:
            paths = {split: find_task_file(folder, task, split) for split in ("train", "test")}
            gaps = [official_file(task, split) for split, path in paths.items() if path is None]
            if gaps:
                missing.append(f"task {task} ({TASK_NAMES[task]}): {' and '.join(gaps)}")
            else:
                found[task] = (paths["train"], paths["test"])
        if missing:
            raise MissingDataError(self.missing_message(folder, numbers, found, missing))
        return found

    @staticmethod
    def missing_message(folder: Path, numbers: list[int], found: dict, missing: list[str]) -> str:
        message = (
            f"bAbI: missing file(s) in {shown(folder)}: {'; '.join(missing)} "
            f"(any file named qaN_*_train.txt / qaN_*_test.txt is used)."
        )
        present = [task for task in numbers if task in found]
        if present:
            message += (
                f" To run without the missing task(s), pass an explicit task list: "
                f"data.tasks=[{','.join(map(str, present))}]."
            )
        return message + " Or point data.root=DIR at a folder that has these files."

    def describe(self, folder: Path, numbers: list[int]) -> str:
        which = "tasks 1-20" if numbers == list(TASK_NAMES) else f"tasks {_task_list(numbers)}"
        return f"bAbI QA v1.2 {which} ({folder.name}){', answers as label sets' if self.multi_label else ''}"


def _task_list(numbers: list[int]) -> str:
    return ",".join(map(str, numbers))

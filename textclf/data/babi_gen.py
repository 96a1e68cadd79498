r"""A seeded generator of synthetic bAbI stories, written in the exact bAbI v1.2 file format.

The real bAbI tasks (Weston et al. 2015, "Towards AI-Complete Question Answering") are generated
by a simulation of a small world: a few people move between a few rooms and pick up and drop a
few objects, and questions about that world are asked partway through each story. This module
runs the same kind of simulation so the project can train and test with no download. Files look
exactly like the real ones, so one reader serves both:

    1 Mary moved to the bathroom.
    2 John went to the hallway.
    3 Where is Mary? \tbathroom\t1

Line ids restart at 1 with each story. A question line is ``question?``, a space, a TAB, the
answer, a TAB and the space-separated ids of the supporting statements (the facts that decide the
answer). List answers are comma-joined (``apple,milk``, or ``nothing``); counts are words.

Each task is a pair of functions: ``act`` adds one random statement to the story (and updates the
world), ``ask`` builds one question that the world can answer right now, or returns None when it
cannot yet (then one more statement is added and it tries again). Output depends only on the
arguments: every choice comes from one ``random.Random(seed)``, and nothing iterates over a set,
whose order would change with PYTHONHASHSEED.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from textclf.core.atomic import atomic_write
from textclf.core.errors import TextclfError

# Bump whenever the text generated for the same arguments changes, so that write_dataset's
# manifest no longer matches and old files are regenerated.
GENERATOR_VERSION = 1
MANIFEST_NAME = "manifest.json"

PEOPLE = ("Mary", "John", "Daniel", "Sandra")
PRONOUNS = {"Mary": "she", "Sandra": "she", "John": "he", "Daniel": "he"}
PLACES = ("bathroom", "hallway", "garden", "office", "kitchen", "bedroom")
OBJECTS = ("football", "apple", "milk")

MOVE_VERBS = ("moved", "went", "journeyed", "travelled", "went back")
TAKE_PHRASES = (
    "picked up the {}", "got the {}", "grabbed the {}", "took the {}", "got the {} there"
)
DROP_PHRASES = ("dropped the {}", "discarded the {}", "put down the {}", "left the {}")
THEN_PHRASES = ("Then", "After that", "Following that", "Afterwards")
COUNT_WORDS = ("none", "one", "two", "three")  # len(OBJECTS) == 3, so three is the most

T = TypeVar("T")
Support = tuple[int, ...]
QA = tuple[str, str, Support]  # (question ending in "?", answer, supporting statement ids)


# --------------------------------------------------------------------------------------------
# The world


@dataclass(frozen=True)
class Belief:
    """What the story has said most recently about where one person is, and which lines said it.

    Only the latest statement about a person counts (as in bAbI): "Mary is no longer in the
    office" replaces "Mary went to the kitchen", and leaves Mary's place unknown.
    """

    inside: tuple[str, ...]  # places the person may be in: one = known, two = "either ... or"
    outside: str | None  # with inside empty: a place the person is known not to be in
    support: Support  # the statement lines that established this belief

    def answer(self, place: str) -> str | None:
        """Answer "Is X in the <place>?": yes / no / maybe, or None when the story cannot tell."""
        if len(self.inside) == 1:
            return "yes" if place == self.inside[0] else "no"
        if self.inside:
            return "maybe" if place in self.inside else "no"
        if place == self.outside:
            return "no"
        return None  # X is not in the `outside` place, but could be in any other


class World:
    """Where everyone and everything is, plus the line ids of the facts that say so."""

    def __init__(self) -> None:
        self.beliefs: dict[str, Belief] = {}
        self.holder: dict[str, str] = {}  # object -> person carrying it
        # object -> (place, support) once dropped; support = (holder's last move, the drop)
        self.dropped: dict[str, tuple[str, Support]] = {}
        # person -> object -> (take line,) or (take line, drop line): X's latest dealings with it
        self.handled: dict[str, dict[str, Support]] = {}

    # -- people
    def place_of(self, person: str) -> str | None:
        """The one place `person` is known to be in, or None."""
        belief = self.beliefs.get(person)
        return belief.inside[0] if belief and len(belief.inside) == 1 else None

    def move(self, person: str, place: str, support: Support) -> None:
        self.beliefs[person] = Belief((place,), None, support)

    def either(self, person: str, places: tuple[str, str], line: int) -> None:
        self.beliefs[person] = Belief(places, None, (line,))

    def negate(self, person: str, place: str, line: int) -> None:
        self.beliefs[person] = Belief((), place, (line,))

    # -- objects
    def can_take(self, person: str, obj: str) -> bool:
        """A located person can take a free object that is nowhere known or in the same room."""
        if obj in self.holder or self.place_of(person) is None:
            return False
        return obj not in self.dropped or self.dropped[obj][0] == self.place_of(person)

    def take(self, person: str, obj: str, line: int) -> None:
        self.holder[obj] = person
        self.dropped.pop(obj, None)
        self.handled.setdefault(person, {})[obj] = (line,)

    def drop(self, person: str, obj: str, line: int) -> None:
        del self.holder[obj]
        place = self.place_of(person)
        assert place is not None, "only located people take objects, and moves keep them located"
        # The object lies where the person was when dropping it: that move and the drop decide it.
        self.dropped[obj] = (place, tuple(sorted((self.beliefs[person].support[-1], line))))
        self.handled[person][obj] = (self.handled[person][obj][0], line)

    def object_place(self, obj: str) -> tuple[str, Support] | None:
        """Where `obj` is and the two facts that say so (take + holder's move, or move + drop)."""
        if obj in self.holder:
            person = self.holder[obj]
            place = self.place_of(person)
            assert place is not None
            take_line = self.handled[person][obj][0]
            return place, tuple(sorted((take_line, self.beliefs[person].support[-1])))
        return self.dropped.get(obj)

    def carrying(self, person: str) -> list[str]:
        return sorted(obj for obj, holder in self.holder.items() if holder == person)


class Story:
    """The lines of one story being written, and the world they describe."""

    def __init__(self) -> None:
        self.world = World()
        self.lines: list[str] = []
        # (line id, person) when the previous line is a statement naming a person: the antecedent
        # a pronoun in the next statement refers to (task 11). None after a question.
        self.last_subject: tuple[int, str] | None = None
        self.last_question = 0  # line id of the latest question, 0 before the first

    def say(self, text: str, subject: str | None = None) -> int:
        line = len(self.lines) + 1
        self.lines.append(f"{line} {text}")
        self.last_subject = (line, subject) if subject else None
        return line

    def ask(self, question: str, answer: str, support: Support) -> None:
        line = len(self.lines) + 1
        # The real files have "question? \tanswer\tids": a space before the tab, kept on purpose.
        self.lines.append(f"{line} {question} \t{answer}\t{' '.join(str(s) for s in support)}")
        self.last_subject = None
        self.last_question = line

    def pick(
        self, rng: random.Random, candidates: list[T], support_of: Callable[[T], Support]
    ) -> T:
        """Choose what to ask about, mostly among facts stated since the previous question.

        Picking uniformly would often ask the same stale question again and again; the real data
        mostly asks about what just happened. One time in four any candidate may be chosen, so
        answers still sometimes hang on facts from many lines back.
        """
        fresh = [c for c in candidates if max(support_of(c)) > self.last_question]
        if fresh and rng.random() < 0.75:
            return rng.choice(fresh)
        return rng.choice(candidates)


# --------------------------------------------------------------------------------------------
# Statements (act functions)


def _other_place(rng: random.Random, current: str | None) -> str:
    """A random place, never the one the person is already in (a move should change something)."""
    return rng.choice([p for p in PLACES if p != current])


def _say_move(story: Story, rng: random.Random, person: str | None = None) -> None:
    person = person or rng.choice(PEOPLE)
    place = _other_place(rng, story.world.place_of(person))
    line = story.say(f"{person} {rng.choice(MOVE_VERBS)} to the {place}.", subject=person)
    story.world.move(person, place, (line,))


def _say_is_in(story: Story, rng: random.Random) -> None:
    person = rng.choice(PEOPLE)
    place = _other_place(rng, story.world.place_of(person))
    line = story.say(f"{person} is in the {place}.", subject=person)
    story.world.move(person, place, (line,))


def act_move(story: Story, rng: random.Random) -> None:
    """Tasks 1 and 6: someone moves."""
    _say_move(story, rng)


def act_objects(story: Story, rng: random.Random) -> None:
    """Tasks 2, 7, 8: someone moves, picks something up or drops something."""
    world = story.world
    takes = [(p, o) for p in PEOPLE for o in OBJECTS if world.can_take(p, o)]
    drops = [(world.holder[o], o) for o in OBJECTS if o in world.holder]
    roll = rng.random()
    if roll < 0.3 and takes:
        person, obj = rng.choice(takes)
        line = story.say(f"{person} {rng.choice(TAKE_PHRASES).format(obj)}.", subject=person)
        world.take(person, obj, line)
    elif roll < 0.5 and drops:
        person, obj = rng.choice(drops)
        line = story.say(f"{person} {rng.choice(DROP_PHRASES).format(obj)}.", subject=person)
        world.drop(person, obj, line)
    else:
        _say_move(story, rng)


def act_negation(story: Story, rng: random.Random) -> None:
    """Task 9: someone moves, is said to be in a place, or is said not to be in one."""
    roll = rng.random()
    if roll < 0.4:
        person = rng.choice(PEOPLE)
        current = story.world.place_of(person)
        # "no longer" only makes sense for the room the person was last seen in.
        if current is not None:
            place, phrase = current, rng.choice(("is no longer in", "is not in"))
        else:
            place, phrase = rng.choice(PLACES), "is not in"
        line = story.say(f"{person} {phrase} the {place}.", subject=person)
        story.world.negate(person, place, line)
    elif roll < 0.7:
        _say_is_in(story, rng)
    else:
        _say_move(story, rng)


def act_indefinite(story: Story, rng: random.Random) -> None:
    """Task 10: someone is definitely somewhere, or either in one place or another."""
    roll = rng.random()
    if roll < 0.5:
        person = rng.choice(PEOPLE)
        first, second = rng.sample(PLACES, 2)
        line = story.say(f"{person} is either in the {first} or the {second}.", subject=person)
        story.world.either(person, (first, second), line)
    elif roll < 0.75:
        _say_is_in(story, rng)
    else:
        _say_move(story, rng)


def act_coreference(story: Story, rng: random.Random) -> None:
    """Task 11: a named move, or "Then she went to the P." right after a named statement.

    The pronoun always refers to the person named in the line just before it, and a pronoun
    statement never follows another one, so the antecedent is always one line up.
    """
    if story.last_subject is None or rng.random() < 0.5:
        _say_move(story, rng)
        return
    antecedent, person = story.last_subject
    place = _other_place(rng, story.world.place_of(person))
    line = story.say(
        f"{rng.choice(THEN_PHRASES)} {PRONOUNS[person]} {rng.choice(MOVE_VERBS)} to the {place}."
    )
    # Both lines are needed: one says who "she" is, the other where she went.
    story.world.move(person, place, (antecedent, line))


# --------------------------------------------------------------------------------------------
# Questions (ask functions)


def ask_where_person(story: Story, rng: random.Random) -> QA | None:
    """Tasks 1 and 11: "Where is X?" about someone whose place is known."""
    located = [p for p in PEOPLE if story.world.place_of(p) is not None]
    if not located:
        return None
    person = story.pick(rng, located, lambda p: story.world.beliefs[p].support)
    belief = story.world.beliefs[person]
    return f"Where is {person}?", belief.inside[0], belief.support


def ask_where_object(story: Story, rng: random.Random) -> QA | None:
    """Task 2: "Where is the O?" about an object someone has handled (two supporting facts)."""
    known = [o for o in OBJECTS if story.world.object_place(o) is not None]
    if not known:
        return None
    obj = story.pick(rng, known, lambda o: story.world.object_place(o)[1])
    place, support = story.world.object_place(obj)
    return f"Where is the {obj}?", place, support


def _handled_support(world: World, person: str) -> Support:
    """The takes and drops that decide what `person` carries now."""
    return tuple(sorted(line for lines in world.handled[person].values() for line in lines))


def ask_count(story: Story, rng: random.Random) -> QA | None:
    """Task 7: "How many objects is X carrying?" about someone who has handled something.

    Someone who never touched an object would have no supporting fact, so is never asked about.
    """
    handlers = [p for p in PEOPLE if p in story.world.handled]
    if not handlers:
        return None
    person = story.pick(rng, handlers, lambda p: _handled_support(story.world, p))
    count = COUNT_WORDS[len(story.world.carrying(person))]
    return f"How many objects is {person} carrying?", count, _handled_support(story.world, person)


def ask_list(story: Story, rng: random.Random) -> QA | None:
    """Task 8: "What is X carrying?" -> sorted comma-joined objects, or "nothing"."""
    handlers = [p for p in PEOPLE if p in story.world.handled]
    if not handlers:
        return None
    person = story.pick(rng, handlers, lambda p: _handled_support(story.world, p))
    answer = ",".join(story.world.carrying(person)) or "nothing"
    return f"What is {person} carrying?", answer, _handled_support(story.world, person)


def _ask_is_in(story: Story, rng: random.Random, answers: tuple[str, ...]) -> QA | None:
    """ "Is X in the P?", with the answer drawn first so that answers come out balanced.

    Asking about a random person and place would answer "no" five times in six; instead pick the
    answer uniformly, then a (person, place) pair that has it (another answer if none has).
    """
    pairs: dict[str, list[tuple[str, str]]] = {a: [] for a in answers}
    for person in PEOPLE:
        belief = story.world.beliefs.get(person)
        for place in PLACES:
            answer = belief.answer(place) if belief else None
            if answer in pairs:
                pairs[answer].append((person, place))
    wanted = rng.choice(answers)
    order = [wanted] + [a for a in answers if a != wanted]
    for answer in order:
        if pairs[answer]:
            person, place = story.pick(
                rng, pairs[answer], lambda pair: story.world.beliefs[pair[0]].support
            )
            return f"Is {person} in the {place}?", answer, story.world.beliefs[person].support
    return None


def ask_yes_no(story: Story, rng: random.Random) -> QA | None:
    """Tasks 6 and 9: "Is X in the P?" -> yes / no."""
    return _ask_is_in(story, rng, ("yes", "no"))


def ask_yes_no_maybe(story: Story, rng: random.Random) -> QA | None:
    """Task 10: "Is X in the P?" -> yes / no / maybe."""
    return _ask_is_in(story, rng, ("yes", "no", "maybe"))


# --------------------------------------------------------------------------------------------
# Tasks


@dataclass(frozen=True)
class TaskSpec:
    name: str  # the official bAbI name, used in file names
    act: Callable[[Story, random.Random], None]
    ask: Callable[[Story, random.Random], QA | None]
    statements: tuple[int, int]  # statements before each question: (fewest, most)
    questions_per_story: int = 5  # as in the real data (task 1: 15-line stories, 5 questions)


_SPECS: dict[int, TaskSpec] = {
    1: TaskSpec("single-supporting-fact", act_move, ask_where_person, (2, 2)),
    2: TaskSpec("two-supporting-facts", act_objects, ask_where_object, (2, 4)),
    6: TaskSpec("yes-no-questions", act_move, ask_yes_no, (2, 2)),
    7: TaskSpec("counting", act_objects, ask_count, (2, 3)),
    8: TaskSpec("lists-sets", act_objects, ask_list, (2, 3)),
    9: TaskSpec("simple-negation", act_negation, ask_yes_no, (2, 2)),
    10: TaskSpec("indefinite-knowledge", act_indefinite, ask_yes_no_maybe, (2, 2)),
    11: TaskSpec("basic-coreference", act_coreference, ask_where_person, (2, 2)),
}

TASKS: dict[int, str] = {task_id: spec.name for task_id, spec in _SPECS.items()}

# A question that stays unanswerable this long means a bug in an act/ask pair, not bad luck.
_MAX_EXTRA_STATEMENTS = 200


def _spec(task_id: int) -> TaskSpec:
    if isinstance(task_id, bool) or task_id not in _SPECS:
        available = ", ".join(str(t) for t in _SPECS)
        raise TextclfError(
            f"bAbI generator: unknown task id {task_id!r}. Available task ids: {available} "
            f"({', '.join(f'{t} {n}' for t, n in TASKS.items())})."
        )
    return _SPECS[task_id]


def _check_count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TextclfError(f"bAbI generator: {what} must be a whole number >= 1, got {value!r}.")
    return value


def file_name(task_id: int, split: str) -> str:
    """``qa{id}_{name}_{split}.txt``, as in the real bAbI release."""
    return f"qa{task_id}_{_spec(task_id).name}_{split}.txt"


def _generate_story(spec: TaskSpec, rng: random.Random, n_questions: int) -> list[str]:
    story = Story()
    for _ in range(n_questions):
        for _ in range(rng.randint(*spec.statements)):
            spec.act(story, rng)
        for _ in range(_MAX_EXTRA_STATEMENTS):
            qa = spec.ask(story, rng)
            if qa is not None:
                break
            spec.act(story, rng)  # nothing to ask about yet: let the world go on
        else:
            raise RuntimeError(f"bAbI generator: task {spec.name} never found a question to ask")
        story.ask(*qa)
    return story.lines


def generate_task(task_id: int, n_questions: int, seed: int) -> str:
    """The text of one bAbI file for `task_id` with exactly `n_questions` questions.

    Stories hold `questions_per_story` questions each (the last one may hold fewer). The same
    arguments always give the same text. ASCII, LF line endings, final newline.
    """
    spec = _spec(task_id)
    _check_count(n_questions, "n_questions")
    rng = random.Random(seed)
    lines: list[str] = []
    remaining = n_questions
    while remaining:
        in_story = min(spec.questions_per_story, remaining)
        lines.extend(_generate_story(spec, rng, in_story))
        remaining -= in_story
    return "\n".join(lines) + "\n"


def derive_seed(seed: int, task_id: int, split: str) -> int:
    """A seed for one (task, split) file, stable across runs and Python versions.

    hashlib, not hash(): hash() of a string changes with PYTHONHASHSEED from process to process.
    Train and test get unrelated seeds, so test stories are not copies of training ones.
    """
    digest = hashlib.sha256(f"textclf-babi:{seed}:{task_id}:{split}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


# --------------------------------------------------------------------------------------------
# Writing a dataset folder


def _write_atomic(path: Path, text: str) -> None:
    """Readers never see half a file (see textclf.core.atomic)."""
    atomic_write(path, lambda fh: fh.write(text.encode("ascii")))


def _read_manifest(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or damaged: treat as "nothing trustworthy here"
    return data if isinstance(data, dict) else None


def write_dataset(
    root: str | Path, tasks: Sequence[int], n_train: int, n_test: int, seed: int
) -> list[Path]:
    """Write ``qa{id}_{name}_train.txt`` and ``_test.txt`` for each task into `root`.

    Idempotent: ``root/manifest.json`` records the arguments and the generator version; when it
    matches and every file is there, nothing is rewritten. Otherwise the manifest is removed
    first, every file is rewritten atomically, files of tasks no longer asked for are removed,
    and the manifest is written last, so a run killed halfway leaves no manifest and is redone
    in full next time. Returns the paths, train then test for each task, in the order given.
    """
    task_ids = list(dict.fromkeys(tasks))  # drop repeats, keep order
    if not task_ids:
        available = ", ".join(str(t) for t in _SPECS)
        raise TextclfError(f"bAbI generator: no tasks given. Available task ids: {available}.")
    for task_id in task_ids:
        _spec(task_id)
    _check_count(n_train, "n_train")
    _check_count(n_test, "n_test")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TextclfError(f"bAbI generator: seed must be a whole number, got {seed!r}.")

    folder = Path(root).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "tasks": task_ids,
        "n_train": n_train,
        "n_test": n_test,
        "seed": seed,
        "version": GENERATOR_VERSION,
    }
    sizes = {"train": n_train, "test": n_test}
    paths = [folder / file_name(t, split) for t in task_ids for split in sizes]
    manifest_path = folder / MANIFEST_NAME
    old = _read_manifest(manifest_path)
    if old == manifest and all(p.is_file() for p in paths):
        return paths

    # From here on the folder is in flux: no manifest may vouch for it until all files are new.
    manifest_path.unlink(missing_ok=True)
    for task_id in task_ids:
        for split, n_questions in sizes.items():
            text = generate_task(task_id, n_questions, derive_seed(seed, task_id, split))
            _write_atomic(folder / file_name(task_id, split), text)
    # Files this generator wrote for tasks no longer asked for would be picked up by readers.
    old_tasks = old.get("tasks") if old else None
    if isinstance(old_tasks, list):
        for task_id in old_tasks:
            if isinstance(task_id, int) and task_id in _SPECS and task_id not in task_ids:
                for split in sizes:
                    (folder / file_name(task_id, split)).unlink(missing_ok=True)
    _write_atomic(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return paths

"""Follow-up questions resolved against the conversation, by a small, predictable rewriting rule.

The answerer reads one self-contained question, so a follow-up such as "Where is its secretariat?" is
rewritten before it is asked, and the page shows the rewrite ("Interpreted as: …") so the user can see
and correct it. The method:

1. **The subject** of the conversation is taken from the most recent earlier question (as it was asked
   after its own rewriting) that names one: its first run of capitalised words or acronyms, e.g.
   "the Collective Security Treaty Organization" or "the CSTO" (a "the" just before the name is kept), or,
   with no name, its first "the/a/an + noun" phrase such as "the peacekeeping force" ("the role of the
   Joint Staff" is about "the Joint Staff").
2. **A follow-up** is a question that refers back: it contains a pronoun (it, its, they, them, their,
   he, him, his, she, her, this, that, these, those — "that" only where it is not a relative pronoun), or
   it is elliptical ("What about Belarus?", "And Armenia?"), or it has fewer than two content words and
   names nothing ("Who founded?").
3. **The rewrite**: pronouns are replaced by the subject ("its" → "the CSTO's", "it" → "the CSTO",
   "these members" → "the CSTO members"); an elliptical question repeats the previous question with its
   subject swapped for the new one; a question too short to stand alone gets "(the CSTO)" appended.

A question that already names the subject is left as it is, and so is one longer than 500 characters or
without a single word (so that the reply says what is wrong with it), and every question while no earlier
question names a subject. The rule is deliberately shallow (no parser, no
coreference model): it is fast, it cannot invent content, and the "Interpreted as" line shows when it
guessed wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_CHARS = 500
SUBJECT_PRONOUNS = {"it", "they", "he", "she"}
OBJECT_PRONOUNS = {"them", "him"}
POSSESSIVES = {"its", "their", "his", "theirs", "hers"}
DEMONSTRATIVES = {"this", "that", "these", "those"}
REFERRING = SUBJECT_PRONOUNS | OBJECT_PRONOUNS | POSSESSIVES | DEMONSTRATIVES | {"her"}

# Question words, auxiliaries and other function words: not content, never the start of a name.
_STOP_WORDS = """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was we
    were what when where which while who whom whose why will with would you your yours tell me please name
    list describe explain give many much"""
STOP = frozenset(_STOP_WORDS.split())
_AUXILIARY_WORDS = (
    "is are was were be been do does did has have had can could will would should may might must mean means "
    "involve involves include includes entail entails"
)
AUXILIARIES = frozenset(_AUXILIARY_WORDS.split())
CONNECTORS = frozenset({"of", "and", "for", "the", "de", "on"})

_TOKEN = re.compile(r"[A-Za-z0-9][\w\-]*(?:['’][A-Za-z]+)?")
_ELLIPSIS = re.compile(
    r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(?P<x>.+?)\s*[?.!]*\s*$|^\s*and\s+(?P<y>.+?)\s*[?.!]*\s*$", re.I
)


@dataclass(frozen=True)
class Resolution:
    """``question`` is what to ask; ``rewritten`` says whether it differs from what the user typed."""

    original: str
    question: str
    subject: str | None = None
    reason: str = ""

    @property
    def rewritten(self) -> bool:
        return self.question != self.original


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int

    @property
    def lower(self) -> str:
        return self.bare.lower()

    @property
    def bare(self) -> str:
        """The word without a possessive 's."""
        return re.sub(r"['’]s$", "", self.text)


def _tokens(text: str) -> list[_Token]:
    return [_Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _is_name_word(token: _Token) -> bool:
    word = token.bare
    return (word[:1].isupper() and word.lower() not in STOP) or (len(word) > 1 and word.isupper())


def content_words(text: str) -> list[str]:
    return [t.lower for t in _tokens(text) if t.lower not in STOP and t.lower not in AUXILIARIES]


def _adjacent(text: str, left: _Token, right: _Token) -> bool:
    """Only spaces between two words (a bracket or comma ends a name); a possessive 's ends it too."""
    return left.bare == left.text and text[left.end : right.start].isspace()


def _names(text: str) -> list[tuple[int, int]]:
    """Character spans of runs of capitalised words (with "of", "and", … between them), as in names."""
    tokens = _tokens(text)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        # The first word is capitalised anyway: alone it only counts when it is an acronym ("CSTO members?").
        first_alone = i == 0 and not tokens[i].bare.isupper() and not (len(tokens) > 1 and _is_name_word(tokens[1]))
        if not _is_name_word(tokens[i]) or first_alone:
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and _adjacent(text, tokens[j], tokens[j + 1]):
            if _is_name_word(tokens[j + 1]):
                j += 1
            elif (
                tokens[j + 1].lower in CONNECTORS
                and j + 2 < len(tokens)
                and _adjacent(text, tokens[j + 1], tokens[j + 2])
                and _is_name_word(tokens[j + 2])
                and tokens[j + 1].text.islower()
            ):
                j += 2
            else:
                break
        end = tokens[j].start + len(tokens[j].bare)
        spans.append((tokens[i].start, end))
        i = j + 1
    return spans


def subject_of(question: str) -> str | None:
    """The main subject a question names: its first name (with a preceding "the"), else its first noun phrase."""
    names = _names(question)
    if names:
        start, end = names[0]
        before = question[:start].rstrip()
        if before.lower().endswith(" the") or before.lower() == "the":
            start = len(before) - 3
        return question[start:end]
    tokens = _tokens(question)
    for i, token in enumerate(tokens):
        if token.lower not in {"the", "a", "an"}:
            continue
        phrase: list[_Token] = []
        for nxt in tokens[i + 1 : i + 5]:
            w = nxt.lower
            if w in STOP or w in AUXILIARIES or (len(w) > 4 and w.endswith("ed")):
                break
            phrase.append(nxt)
            if nxt.bare != nxt.text:  # a possessive ends the phrase
                break
        if phrase:
            after = tokens[i + 1 + len(phrase) :]
            if len(after) >= 2 and after[0].text == "of":  # "the role of the organisation" is about the latter
                rest = question[after[1].start :]
                return subject_of(rest if after[1].lower in {"the", "a", "an"} else "the " + rest)
            return "the " + question[phrase[0].start : phrase[-1].start + len(phrase[-1].bare)]
    return None


def _referring(tokens: list[_Token]) -> list[int]:
    """Positions of pronouns that point back; relative "that" ("the states that joined") is not one."""
    found = []
    for i, token in enumerate(tokens):
        w = token.text.lower()
        if w not in REFERRING:
            continue
        if w == "that" and i > 0 and tokens[i - 1].lower not in STOP | AUXILIARIES:
            continue  # follows a content word: a relative pronoun
        found.append(i)
    return found


def _replacement(tokens: list[_Token], i: int, subject: str) -> tuple[int, int, str]:
    """The span to replace around the pronoun at ``i`` and what to put there."""
    token = tokens[i]
    w = token.text.lower()
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    followed_by_noun = nxt is not None and nxt.lower not in STOP and nxt.lower not in AUXILIARIES
    if w in POSSESSIVES or (w == "her" and followed_by_noun):
        return token.start, token.end, _possessive(subject)
    if w in DEMONSTRATIVES and followed_by_noun:  # "these members" -> "the CSTO members"
        return token.start, token.end, subject if subject.lower().startswith("the ") else f"the {subject}"
    return token.start, token.end, subject


def _possessive(subject: str) -> str:
    return subject + ("'" if subject.endswith("s") and not subject.isupper() else "'s")


def _capitalise_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _mentions(question: str, subject: str) -> bool:
    core = re.sub(r"^the\s+", "", subject, flags=re.I)
    return re.search(rf"(?i)\b{re.escape(core)}\b", question) is not None


def resolve(question: str, previous: Sequence[str]) -> Resolution:
    """Rewrite ``question`` against the earlier questions (oldest first, each as it was asked) when it refers back."""
    text = " ".join(question.split())
    if len(text) > MAX_CHARS:  # follow-ups are short; a long paste is asked as it is
        return Resolution(question, question, None)
    subject, source = None, None
    for earlier in reversed(previous):
        if len(earlier) > MAX_CHARS:
            continue
        subject = subject_of(earlier)
        if subject:
            source = earlier
            break
    if not subject or not any(ch.isalnum() for ch in text):  # no words: asked as typed, so the reply says so
        return Resolution(question, question, None)

    ellipsis = _ELLIPSIS.match(text)
    if ellipsis and source is not None:
        new = (ellipsis.group("x") or ellipsis.group("y") or "").strip()
        if new and _mentions(source, subject):
            core = re.sub(r"^the\s+", "", subject, flags=re.I)
            swapped = re.sub(rf"(?i)(?:\bthe\s+)?{re.escape(core)}", lambda _: new, source, count=1)
            return Resolution(question, _capitalise_first(swapped), new, "elliptical follow-up")

    if _mentions(text, subject):
        return Resolution(question, question, subject)
    tokens = _tokens(text)
    pronouns = _referring(tokens)
    if pronouns:
        out, last = [], 0
        for i in pronouns:
            start, end, replacement = _replacement(tokens, i, subject)
            out.append(text[last:start])
            out.append(replacement)
            last = end
        out.append(text[last:])
        rewritten = "".join(out)
        if pronouns[0] == 0 or text[: tokens[pronouns[0]].start].strip() == "":
            rewritten = _capitalise_first(rewritten)
        return Resolution(question, rewritten, subject, "pronoun")

    if len(content_words(text)) < 2 and not _names(text):
        stem = text.rstrip(" ?.!")
        return Resolution(question, f"{stem} ({subject})?", subject, "too short to stand alone")
    return Resolution(question, question, subject)
